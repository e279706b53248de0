"""What ``vaekit sample``, ``reconstruct``, ``interpolate`` and ``evaluate`` do for a run whose model reads
melodies: they write MIDI, WAV and piano-roll PNGs into a folder instead of drawing image grids.

The shared commands call these through one dispatch line each; this module adds no commands.
``--out samples.png`` (a file name) becomes the folder ``samples/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from vaekit.cli.app import fail, report
from vaekit.cli.text import decode_options
from vaekit.music.model import MusicModel, is_music_model
from vaekit.music.report import MusicReport

__all__ = ["evaluate_music", "interpolate_music", "is_music_model", "reconstruct_music", "sample_music"]


def _folder(out: Path) -> Path:
    return out.with_suffix("") if out.suffix else out


def _note(music_report: MusicReport) -> None:
    if music_report.summary():
        typer.echo(f"note: {music_report.summary()}", err=True)


def sample_music(
    run: Path, n: int, temperature: float, top_k: int | None, top_p: float | None, beam: int | None, seed: int,
    out: Path, device: str,
) -> None:  # fmt: skip
    """Write ``n`` melodies decoded from prior draws: sample_i.mid/.wav and samples.png."""
    from vaekit.music.outputs import write_melodies

    music = MusicModel.load(run, map_location=device)
    tokens = music.sample(n, decode_options(temperature, top_k, top_p, beam), seed=seed)
    report(write_melodies(_folder(out), music.melodies(tokens), "sample", steps_per_bar=music.encoding.steps_per_bar))


def _read_pair(music: MusicModel, paths: tuple[str, str], music_report: MusicReport):
    from vaekit.music.midi import read_midi

    melodies = []
    for path in paths:
        melody = read_midi(path, music_report)
        if melody is None:
            raise fail(f"{path}: no usable melody ({music_report.summary()})")
        melodies.append(melody)
    return music.tokens_of(melodies, music_report)


def interpolate_music(
    run: Path, between: tuple[str, str] | None, steps: int, method: str, beam: int | None, out: Path, device: str
) -> None:
    """Write the melodies at ``steps`` points from the first MIDI file's latent to the second's."""
    from vaekit.music.outputs import write_melodies

    if not between or not all(between):
        raise fail("a music model interpolates between two MIDI files: --between a.mid b.mid")
    music = MusicModel.load(run, map_location=device)
    music_report = MusicReport()
    a, b = _read_pair(music, between, music_report)
    try:
        path = music.interpolate(a, b, steps, decode_options(beam=beam), method)
    except ValueError as error:
        raise fail(str(error)) from None
    titles = [f"t = {t:.2f}" for t in np.linspace(0, 1, len(path))]
    report(write_melodies(_folder(out), music.melodies(path), "interpolation", titles))
    _note(music_report)


def _melodies_of(run: Path, data: str | None, split: str, music_report: MusicReport):
    """Event windows of a MIDI folder, or of a split of the run's own tunes."""
    from vaekit.config import config_from_dict, read_yaml
    from vaekit.music.midi import read_midi_folder
    from vaekit.music.runs import music_splits
    from vaekit.runs import RUN_CONFIG

    music = MusicModel.load(run)
    if data is not None:
        return music.tokens_of(read_midi_folder(data, music_report), music_report)
    if not (run / RUN_CONFIG).is_file():
        raise fail(f"{run} is a bare model without its run's {RUN_CONFIG}: pass --data MIDI_FOLDER")
    splits, _ = music_splits(
        config_from_dict(read_yaml(run / RUN_CONFIG)), music.encoding, music_report, log=lambda _: None
    )
    if split not in splits:
        raise fail(f"the run's tunes have no {split!r} split; valid: {sorted(splits)}")
    return splits[split]


def reconstruct_music(
    run: Path, data: str | None, split: str, n: int, beam: int | None, out: Path, device: str
) -> None:
    """Write each melody and its reconstruction (original_i.mid, reconstruction_i.mid, one piano roll)."""
    from vaekit.music.outputs import write_reconstructions

    music = MusicModel.load(run, map_location=device)
    music_report = MusicReport()
    tokens = _melodies_of(run, data, split, music_report)[:n]
    recon = music.reconstruct(tokens, decode_options(beam=beam))
    report(write_reconstructions(_folder(out), music.melodies(tokens), music.melodies(recon)))
    _note(music_report)


def evaluate_music(run: Path, data: str | None, split: str, k: int, seed: int, device: str) -> dict:
    """ELBO/NLL, reconstruction accuracy (teacher-forced and free-running) and sample statistics."""
    from vaekit.evaluate import evaluate
    from vaekit.music.runs import music_metrics

    music = MusicModel.load(run, map_location=device)
    music_report = MusicReport()
    tokens = _melodies_of(run, data, split, music_report)
    metrics = evaluate(music.model, tokens, k=k, seed=seed)
    metrics.update(music_metrics(music, tokens, seed=seed))
    _note(music_report)
    return metrics
