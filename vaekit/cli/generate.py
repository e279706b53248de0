"""``vaekit sample``, ``reconstruct``, ``interpolate`` and ``traverse``: pictures (or arrays) from a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaekit.cli.app import (
    DataOption,
    DeviceOption,
    RunArgument,
    SeedOption,
    SplitOption,
    app,
    clean_errors,
    fail,
    labels_of,
    load_examples,
    open_run,
    parse_label,
    report,
)


# ---------------------------------------------------------------------- sample
@app.command()
@clean_errors
def sample(
    run: RunArgument,
    n: Annotated[int, typer.Option("--n", "-n", help="Number of samples.", min=1)] = 100,
    temperature: Annotated[
        float,
        typer.Option(
            help="Images: scale of the prior's spread (<1: less variety). Text, molecules, music: the token "
            "temperature (1 alone decodes greedily; add --top-p 1 to sample at 1).",
            min=0.0,
        ),
    ] = 1.0,
    label: Annotated[str | None, typer.Option(help="Class to generate (conditional models), index or name.")] = None,
    seed: SeedOption = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write (.npy beside it for non-image data).")] = Path(
        "samples.png"
    ),
    device: DeviceOption = "cpu",
    top_k: Annotated[int | None, typer.Option(help="Text: sample among the k most likely tokens.", min=1)] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Text: nucleus sampling with this mass (1: plain sampling).")
    ] = None,
    beam: Annotated[int | None, typer.Option(help="Text: beam search with this width.", min=1)] = None,
    target: Annotated[str | None, typer.Option(help="Conditional molecule model: target, e.g. qed=0.9.")] = None,
    syntax: Annotated[
        bool, typer.Option("--syntax/--free", help="SMILES model: keep to the SMILES syntax and valences, or not.")
    ] = True,
) -> None:
    """Draw samples from the prior and decode them (a text model prints sentences; a molecule model writes SMILES
    to --out mols.smi; a music model writes MIDI, WAV and a piano roll into the --out folder; --temperature is then
    the token sampling temperature)."""
    from vaekit.chem.model import is_molecule_model
    from vaekit.cli.music import is_music_model, sample_music
    from vaekit.cli.text import is_text_model, sample_text
    from vaekit.figures import draw_samples

    sequences = is_molecule_model(run) or is_music_model(run) or is_text_model(run)
    if label is not None and sequences:
        raise fail("--label applies to conditional image and table models (a conditional molecule model: --target)")
    if is_molecule_model(run):
        from vaekit.cli.molecules import sample_molecules

        return sample_molecules(run, n, temperature, top_k, top_p, seed, out, target, device, syntax)
    if is_music_model(run):
        return sample_music(run, n, temperature, top_k, top_p, beam, seed, out, device)
    if is_text_model(run):
        return sample_text(run, n, temperature, top_k, top_p, beam, seed, device, out)
    loaded = open_run(run, device)
    report(draw_samples(loaded.model, loaded.preprocessing, out, n, temperature, parse_label(loaded, label), seed))


# ----------------------------------------------------------------- reconstruct
@app.command()
@clean_errors
def reconstruct(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    n: Annotated[int, typer.Option("--n", "-n", help="Number of examples.", min=1)] = 32,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("reconstructions.png"),
    device: DeviceOption = "cpu",
    text: Annotated[list[str] | None, typer.Option(help="Text model: a sentence to reconstruct (repeatable).")] = None,
    beam: Annotated[int | None, typer.Option(help="Text model: beam search with this width.", min=1)] = None,
) -> None:
    """Reconstruct examples (decode their posterior means) and draw them beside the originals (a text model
    prints each sentence and its reconstruction)."""
    from vaekit.chem.model import is_molecule_model
    from vaekit.cli.molecules import reconstruct_molecules
    from vaekit.cli.music import is_music_model, reconstruct_music
    from vaekit.cli.text import is_text_model, reconstruct_text
    from vaekit.figures import draw_reconstructions

    if is_music_model(run):
        return reconstruct_music(run, data, split, n, beam, out, device)
    if is_molecule_model(run):  # before the text check: a molecule model is also a text model
        return reconstruct_molecules(run, text, data, n, beam, device)
    if is_text_model(run):
        return reconstruct_text(run, text, data, n, beam, device)
    loaded = open_run(run, device)
    examples, x = load_examples(loaded, data, split)
    y = labels_of(loaded, examples)
    report(draw_reconstructions(loaded.model, loaded.preprocessing, x[:n], None if y is None else y[:n], out))


# ----------------------------------------------------------------- interpolate
@app.command()
@clean_errors
def interpolate(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    pairs: Annotated[int, typer.Option(help="Number of random pairs (one row each).", min=1)] = 6,
    steps: Annotated[int, typer.Option(help="Points per interpolation, ends included.", min=2)] = 10,
    method: Annotated[str, typer.Option(help="lerp or slerp.")] = "lerp",
    seed: SeedOption = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("interpolation.png"),
    device: DeviceOption = "cpu",
    between: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Text model: the two sentences to interpolate between; music model: two MIDI files."),
    ] = None,
    beam: Annotated[int | None, typer.Option(help="Text model: beam search with this width.", min=1)] = None,
) -> None:
    """Interpolate in latent space between random pairs of examples and decode (a text model prints the
    homotopy between the two --between sentences)."""
    from vaekit.chem.model import is_molecule_model
    from vaekit.cli.molecules import interpolate_molecules
    from vaekit.cli.music import interpolate_music, is_music_model
    from vaekit.cli.text import interpolate_text, is_text_model
    from vaekit.figures import draw_interpolations

    if is_music_model(run):
        return interpolate_music(run, between, steps, method, beam, out, device)
    if is_molecule_model(run):
        return interpolate_molecules(run, between, steps, method, beam, device)
    if is_text_model(run):
        return interpolate_text(run, between, steps, method, beam, device, out)
    loaded = open_run(run, device)
    examples, x = load_examples(loaded, data, split)
    paths = draw_interpolations(
        loaded.model, loaded.preprocessing, x, labels_of(loaded, examples), out, pairs, steps, method, seed, examples.y
    )
    report(paths)


# -------------------------------------------------------------------- traverse
@app.command()
@clean_errors
def traverse(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    dims: Annotated[
        str | None, typer.Option(help="Latent dimensions, e.g. 0,3,5 (default: the 8 most active).")
    ] = None,
    index: Annotated[int, typer.Option(help="Which example to start from.", min=0)] = 0,
    span: Annotated[float, typer.Option(help="Values run from -span to +span.")] = 3.0,
    steps: Annotated[int, typer.Option(help="Values per dimension.", min=2)] = 9,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("traversal.png"),
    device: DeviceOption = "cpu",
) -> None:
    """Vary latent dimensions one at a time around an example's latent mean and decode."""
    from vaekit.cli.music import is_music_model
    from vaekit.cli.text import is_text_model
    from vaekit.figures import draw_traversal, most_active_dims

    if is_text_model(run) or is_music_model(run):
        raise fail("traverse draws image and table models; for a sequence model use interpolate --between A B")

    loaded = open_run(run, device)
    examples, x = load_examples(loaded, data, split)
    y = labels_of(loaded, examples)
    if index >= len(x):
        raise fail(f"--index {index} is out of range: the data has {len(x)} examples")
    if dims is None:
        chosen = most_active_dims(loaded.model, x[:2000], None if y is None else y[:2000])
    else:
        try:
            chosen = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError:
            raise fail(f"--dims takes comma-separated integers, got {dims!r}") from None
    start_y = None if y is None else y[index : index + 1]
    report(draw_traversal(loaded.model, loaded.preprocessing, x[index], start_y, out, chosen, span, steps))
