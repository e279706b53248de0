"""``vaekit optimize`` (latent search for a molecular property), and what ``vaekit sample`` and
``vaekit evaluate --moses`` do for a run trained on molecules (called through one dispatch line each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vaekit.cli.app import DeviceOption, RunArgument, SeedOption, app, clean_errors, fail, report
from vaekit.cli.text import decode_options


def _open(run: Path, device: str = "cpu"):
    from vaekit.chem.model import MoleculeModel

    return MoleculeModel.load(run, map_location=device)


def _training_smiles(run: Path) -> list[str]:
    """The run's own training molecules (from its config)."""
    from vaekit.config import config_from_dict, read_yaml
    from vaekit.runs import RUN_CONFIG
    from vaekit.text.runs import load_corpus_for

    if not (run / RUN_CONFIG).is_file():
        raise fail(f"{run} is a bare model without its run's {RUN_CONFIG}: its training molecules are unknown")
    return load_corpus_for(config_from_dict(read_yaml(run / RUN_CONFIG))).train


def sample_molecules(
    run: Path, n: int, temperature: float, top_k: int | None, top_p: float | None, seed: int, out: Path,
    target: str | None, device: str, syntax: bool = True,
) -> None:  # fmt: skip
    """Write ``n`` sampled SMILES to ``out`` (.smi; a .png also gets a molecule grid of the first 20); ``syntax``:
    a SMILES model keeps to the SMILES syntax and valences."""
    from vaekit.chem.model import parse_target
    from vaekit.chem.pictures import draw_molecule_grid
    from vaekit.chem.reports import validity
    from vaekit.text.runs import write_text

    model = _open(run, device)
    try:
        options = decode_options(temperature, top_k, top_p)
        smiles = model.sample(n, options, seed=seed, target=parse_target(target), syntax=syntax)
    except ValueError as error:
        raise fail(str(error)) from None
    written = []
    if out.suffix.lower() == ".png":
        written.append(draw_molecule_grid(smiles[:20], out))
        out = out.with_suffix(".smi")
    written.insert(0, write_text(out, smiles))
    report(written)
    summary = validity(smiles)
    typer.echo(f"{n} molecules: validity {summary['validity']:.3f}, unique among valid {summary['unique']:.3f}")


def reconstruct_molecules(
    run: Path, text: list[str] | None, data: str | None, n: int, beam: int | None, device: str
) -> None:
    """Print each molecule and its reconstruction, decoded under the model's SMILES syntax as samples are."""
    from vaekit.cli.text import print_reconstructions

    model = _open(run, device)
    print_reconstructions(model.text, text, data, n, lambda texts: model.reconstruct(texts, decode_options(beam=beam)))


def interpolate_molecules(
    run: Path, between: tuple[str, str] | None, steps: int, method: str, beam: int | None, device: str
) -> None:
    """Print the molecules decoded along the latent path between two molecules."""
    from vaekit.cli.text import print_homotopy

    usage = "a molecule model interpolates between two molecules: --between SMILES_A SMILES_B"
    options = decode_options(beam=beam)
    print_homotopy(between, lambda a, b: _open(run, device).interpolate(a, b, steps, options, method), usage)


def evaluate_moses(
    run: Path, n: int, seed: int, processes: int, as_json: bool, device: str, decoding: str = "sample"
) -> None:
    """Sample ``n`` molecules and print the MOSES metrics (novelty against the full MOSES training set for a
    MOSES run, else against the run's own training molecules).

    ``decoding`` "sample" draws each symbol at temperature 1, as MOSES samples its models; "greedy" decodes each
    prior draw to its most likely string (fewer invalid strings, fewer distinct molecules)."""
    from vaekit.chem.corpus import load_moses_split
    from vaekit.chem.metrics import moses_metrics
    from vaekit.decoding import DecodeOptions
    from vaekit.io import load_extra

    model = _open(run, device)
    data = load_extra(run / "model" if (run / "model").is_dir() else run).get("data", {})
    train = load_moses_split("train") if data.get("name") == "moses" else _training_smiles(run)
    if decoding not in ("sample", "greedy"):
        raise fail(f"--decoding is sample or greedy, got {decoding!r}")
    options = DecodeOptions("sample", temperature=1.0) if decoding == "sample" else DecodeOptions("greedy")
    smiles = model.sample(n, options, seed=seed)
    metrics = moses_metrics(smiles, set(train), processes=processes)
    n_valid = round(metrics.get("valid", 0.0) * len(smiles))
    for key in [k for k in metrics if k.startswith("unique@") and int(k.split("@")[1]) > n_valid]:
        typer.echo(f"note: {key} is computed on all {n_valid} valid samples (as MOSES does): sample more", err=True)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        for key, value in metrics.items():
            typer.echo(f"{key:<16} {value:.4f}")


@app.command()
@clean_errors
def optimize(
    run: RunArgument,
    prop: Annotated[str, typer.Option("--property", help="Property to improve: qed, logp, sa (lower) or mw.")] = "qed",
    method: Annotated[str, typer.Option(help="gradient (ascent on the head), bayesian (GP + EI) or both.")] = "both",
    starts: Annotated[int, typer.Option(help="Starting points: the best training molecules.", min=1)] = 10,
    steps: Annotated[int, typer.Option(help="Gradient steps / Bayesian-optimisation rounds.", min=1)] = 30,
    batch: Annotated[int, typer.Option(help="Bayesian optimisation: molecules scored per round.", min=1)] = 20,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for optimisation.json and pictures.")] = Path(
        "optimisation"
    ),
    seed: SeedOption = 0,
    device: DeviceOption = "cpu",
) -> None:
    """Search the latent space of a molecule run for a high property value (RDKit scores every decoded molecule)
    and print the best found beside the best training molecules."""
    import torch

    from vaekit.chem.optimize import bayesian_optimisation, best_in_data, gradient_ascent, top_latents
    from vaekit.chem.pictures import draw_molecule_grid
    from vaekit.io import atomic_write_bytes

    if method not in ("gradient", "bayesian", "both"):
        raise fail(f"unknown method {method!r}; valid: ['gradient', 'bayesian', 'both']")
    model = _open(run, device)
    if prop not in model.properties:
        raise fail(f"this model's head predicts {list(model.properties)}, not {prop!r}")
    train = _training_smiles(run)[:5000]
    start, _ = top_latents(model, train, prop, starts)
    torch.manual_seed(seed)
    results = []
    if method in ("gradient", "both"):
        results.append(gradient_ascent(model, prop, start, steps=steps))
    if method in ("bayesian", "both"):
        extra = model.model.prior.sample(max(starts, batch), 1.0)
        results.append(bayesian_optimisation(model, prop, torch.cat([start, extra]), steps, batch, seed=seed))
    data_best = best_in_data(train, prop, 5)
    out.mkdir(parents=True, exist_ok=True)
    written, summary = [], {"property": prop, "best_in_training_data": [vars(f) for f in data_best]}
    for result in results:
        summary[result.method] = {"evaluations": result.evaluations, "best": [vars(f) for f in result.best(10)]}
        best = result.best(10)
        written.append(draw_molecule_grid([f.smiles for f in best], out / f"{result.method}_best.png",
                                          [f"{prop} {f.score:.3f}" for f in best]))  # fmt: skip
        path = max(result.trajectories, key=len)[:15]
        written.append(
            draw_molecule_grid(path, out / f"{result.method}_trajectory.png", [f"step {i}" for i in range(len(path))])
        )
        typer.echo(f"{result.method}: best {prop} " + ", ".join(f"{f.score:.3f} {f.smiles}" for f in best[:3]))
    typer.echo(
        f"training data ({len(train)} molecules): best {prop} "
        + ", ".join(f"{f.score:.3f} {f.smiles}" for f in data_best[:3])
    )
    written.append(
        atomic_write_bytes(out / "optimisation.json", json.dumps(summary, indent=2).encode())
        or out / "optimisation.json"
    )
    report(written)
