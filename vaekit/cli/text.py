"""What ``vaekit sample``, ``reconstruct``, ``interpolate`` and ``encode`` do for a run whose model reads
text (or any sequences saved with a tokenizer): they print strings instead of drawing pictures.

The shared commands call these through one dispatch line each; this module adds no commands.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import typer

from vaekit.cli.app import fail, report
from vaekit.data.lines import LineReport, read_lines
from vaekit.decoding import DecodeOptions
from vaekit.text.model import TextModel, is_text_model

__all__ = [
    "decode_options",
    "encode_text",
    "evaluate_text",
    "interpolate_text",
    "is_text_model",
    "reconstruct_text",
    "sample_text",
]


def decode_options(
    temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, beam: int | None = None
) -> DecodeOptions:
    """Beam search when ``beam`` > 1; sampling when a temperature other than 1, top-k or top-p is given
    (``--top-p 1`` samples from the whole distribution); otherwise greedy decoding."""
    try:
        if beam is not None and beam > 1:
            if temperature != 1.0 or top_k is not None or top_p is not None:
                raise ValueError("--beam finds the most likely strings: it takes no --temperature, --top-k or --top-p")
            return DecodeOptions("beam", beam=beam)
        if temperature != 1.0 or top_k is not None or top_p is not None:
            return DecodeOptions("sample", temperature=temperature, top_k=top_k, top_p=top_p)
        return DecodeOptions("greedy")
    except ValueError as error:
        raise fail(str(error)) from None


def _open(run: Path, device: str) -> TextModel:
    return TextModel.load(run, map_location=device)


def _texts(text: list[str] | None, data: str | None, model_report: LineReport) -> list[str]:
    if text:
        return list(text)
    if data is None:
        raise fail('give --text "..." (repeatable) or --data FILE.txt with one example per line')
    return read_lines(data, model_report)


def _note(line_report: LineReport) -> None:
    if line_report.summary():
        typer.echo(f"note: {line_report.summary()}", err=True)


def sample_text(
    run: Path, n: int, temperature: float, top_k: int | None, top_p: float | None, beam: int | None, seed: int,
    device: str, out: Path | None = None,
) -> None:  # fmt: skip
    """Print ``n`` sentences decoded from prior draws."""
    model = _open(run, device)
    lines = model.sample(n, decode_options(temperature, top_k, top_p, beam), seed=seed)
    for line in lines:
        typer.echo(line)
    _write_if_text_file(out, lines)


def _write_if_text_file(out: Path | None, lines: list[str]) -> None:
    """Also write the printed lines to ``--out`` when it names a .txt file (the default picture name is ignored)."""
    if out is not None and out.suffix.lower() == ".txt":
        from vaekit.text.runs import write_text

        report([write_text(out, lines)])


def reconstruct_text(
    run: Path, text: list[str] | None, data: str | None, n: int, beam: int | None, device: str
) -> None:
    """Print each input and its reconstruction (decoded from the posterior mean)."""
    model = _open(run, device)
    print_reconstructions(model, text, data, n, lambda texts: model.reconstruct(texts, decode_options(beam=beam)))


def print_reconstructions(
    model: TextModel, text: list[str] | None, data: str | None, n: int, reconstruct: Callable[[list[str]], list[str]]
) -> None:
    """Print the first ``n`` of the inputs (``--text`` or the lines of ``--data``), each with ``reconstruct``'s
    string for it, then a note of truncated lines and unknown symbols."""
    line_report = LineReport()
    texts = _texts(text, data, line_report)[:n]
    model.encode_texts(texts, line_report)  # counts truncation and unknown symbols for the note
    for original, again in zip(texts, reconstruct(texts)):
        typer.echo(f"{original}\n  -> {again}")
    _note(line_report)


def interpolate_text(
    run: Path, between: tuple[str, str] | None, steps: int, method: str, beam: int | None, device: str,
    out: Path | None = None,
) -> None:  # fmt: skip
    """Print the homotopy between two sentences."""
    usage = 'a text model interpolates between two sentences: --between "sentence a" "sentence b"'
    options = decode_options(beam=beam)
    print_homotopy(between, lambda a, b: _open(run, device).interpolate(a, b, steps, options, method), usage, out)


def print_homotopy(
    between: tuple[str, str] | None, path: Callable[[str, str], list[str]], usage: str, out: Path | None = None
) -> None:
    """Print ``path(a, b)``, the strings decoded between the two ``--between`` inputs, numbered (and write them
    to ``out`` when it names a .txt file); ``usage`` is the error for a missing input."""
    if not between or not all(between):
        raise fail(usage)
    try:
        strings = path(*between)
    except ValueError as error:
        raise fail(str(error)) from None
    for i, line in enumerate(strings):
        typer.echo(f"{i}. {line}")
    _write_if_text_file(out, strings)


def encode_text(run: Path, data: str | None, split: str, out: Path, device: str) -> None:
    """Write the posterior means of the lines of ``data`` (or of the ``split`` of the run's own corpus) to
    ``out`` (.npy), one row per line."""
    import numpy as np

    from vaekit.io import atomic_write_bytes
    from vaekit.text.examples import lines_for_run

    model = _open(run, device)
    line_report = LineReport()
    if data is None:
        lines, source = lines_for_run(run, None, split, line_report)
    else:
        lines, source = read_lines(data, line_report, keep_empty=True), str(data)
    texts = [line for line in lines if line]
    model.encode_texts(texts, line_report, source=source)
    # one row per line of the file: an empty line, which has no latent, gets a row of NaN
    means = np.full((len(lines), model.model.latent_dim), np.nan, dtype=np.float32)
    means[[i for i, line in enumerate(lines) if line]] = model.latent_means(texts).numpy()
    out = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
    buffer = io.BytesIO()
    np.save(buffer, means, allow_pickle=False)
    atomic_write_bytes(out, buffer.getvalue())
    report([out])
    empty = len(lines) - len(texts)
    typer.echo(
        f"{means.shape[0]} lines -> {means.shape[1]} latent dimensions" + (f" ({empty} empty: NaN rows)" * bool(empty))
    )
    _note(line_report)


def evaluate_text(run: Path, data: str | None, split: str, k: int, seed: int, device: str) -> dict:
    """The text run's metrics on ``data`` (a file of lines) or a split of the run's own corpus."""
    from vaekit.evaluate import evaluate
    from vaekit.text.examples import lines_for_run
    from vaekit.text.runs import add_token_figures

    model = _open(run, device)
    line_report = LineReport()
    lines, source = lines_for_run(run, data, split, line_report)
    x = model.encode_texts(lines, line_report, source=source)
    metrics = evaluate(model.model, x, k=k, seed=seed)
    add_token_figures(metrics, x, model.tokenizer.pad_index)
    _note(line_report)
    return metrics
