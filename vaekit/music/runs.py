"""Training runs on melodies: ``vaekit train configs/music_folk.yaml``.

A music run folder holds what a text run folder holds (``config.yaml``, ``metrics.json``, training
logs, checkpoints, ``model/`` with the event encoding beside the weights), and in place of
pictures ``melodies/``: MIDI and piano rolls of samples, reconstructions and an interpolation, and WAV of
the samples and the interpolation.
Tunes (not windows) are held out for the test split, so no test window shares a tune with training.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.config import RunConfig
from vaekit.data.errors import DataError
from vaekit.decoding import DecodeOptions
from vaekit.music.corpus import FOLK_COLLECTIONS, load_melodies, melody_windows, split_tunes
from vaekit.music.events import Melody, MelodyEncoding
from vaekit.music.metrics import reconstruction_accuracy, statistics_table, summarize
from vaekit.music.midi import MIDI_SUFFIXES
from vaekit.music.model import MusicModel
from vaekit.music.outputs import write_melodies, write_reconstructions
from vaekit.music.report import MusicReport
from vaekit.registry import ConfigError, default_objective

MUSIC_DATASETS = ("folk", *FOLK_COLLECTIONS)
MELODY_FOLDER = "melodies"
# MusicVAE's shape at a CPU-friendly size: LSTMs, z fed to the decoder at every step.
MUSIC_MODEL_DEFAULTS: dict[str, Any] = {
    "type": "sequence_vae",
    "latent_dim": 32,
    "cell": "lstm",
    "hidden": 256,
    "embed_dim": 32,
    "context_every_step": True,
}


def is_music_config(config: RunConfig) -> bool:
    """Whether a run config trains on melodies: a built-in music corpus, or a folder holding MIDI files."""
    data = config.data
    if data.path is not None:
        path = Path(data.path)
        return path.is_dir() and any(p.suffix.lower() in MIDI_SUFFIXES for p in path.rglob("*"))
    return data.name in MUSIC_DATASETS


def music_model_spec(config: RunConfig, encoding: MelodyEncoding) -> dict[str, Any]:
    """The model section with the music defaults and the vocabulary filled in (no padding, no end token)."""
    user = dict(config.model)
    if user.pop("conditional", False):
        raise ConfigError("model.conditional is not supported for music runs (the tunes carry no labels)")
    return {**MUSIC_MODEL_DEFAULTS, **user, "vocab_size": encoding.vocab_size, "pad_index": None, "end_index": None}


def _subset(x: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or len(x) <= limit:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), limit, replace=False))]


def music_splits(
    config: RunConfig, encoding: MelodyEncoding, report: MusicReport, log: Callable[[str], None] = print
) -> tuple[dict[str, torch.Tensor], list[Melody]]:
    """Train / validation / test windows (transposed copies in train only) and the held-out tunes."""
    d = config.data
    melodies = load_melodies(d.name, d.path, report=report, log=log)
    rest, held_out = split_tunes(melodies, d.test, d.split_seed)
    train_tunes, val_tunes = split_tunes(rest, d.validation, d.split_seed + 1)
    shifts = range(-int(d.transpose), int(d.transpose) + 1)
    splits = {"train": melody_windows(train_tunes, encoding, d.bars, transpose=shifts, report=report)}
    for name, tunes in (("validation", val_tunes), ("test", held_out)):
        if tunes:
            try:
                splits[name] = melody_windows(tunes, encoding, d.bars, report=MusicReport())
            except DataError:
                report.note(f"no {d.bars}-bar windows in the {name} tunes")
    tensors = {k: torch.as_tensor(_subset(v, d.limit, d.split_seed)) for k, v in splits.items()}
    return tensors, held_out


def train_music_run(
    config: RunConfig, out: str | Path, resume: bool = False, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Train a melody VAE and write a run folder.

    Steps: read the tunes (the cached folk corpus or a MIDI folder), hold out tunes, cut ``data.bars``-bar
    windows (training windows transposed by up to ``data.transpose`` semitones), train with the one
    training loop and objective (``objective.beta``, ``objective.free_bits``), save the model with its
    encoding, evaluate on the held-out windows (ELBO and importance-sampled NLL, reconstruction
    accuracy teacher-forced and free-running, statistics of samples against the data) and write
    MIDI/PNG of samples, reconstructions and an interpolation (WAV of the samples and the interpolation).

    Returns:
        The test metrics (also in ``out/metrics.json``).
    """
    from vaekit.evaluate import evaluate
    from vaekit.runs import (
        METRICS_FILE,
        MODEL_DIR,
        RecordConfig,
        build_run_model,
        evaluation_notice,
        fit_arguments,
        write_json,
    )
    from vaekit.train import fit

    out = Path(out)
    encoding = MelodyEncoding()
    report = MusicReport()
    splits, _ = music_splits(config, encoding, report, log)
    spec = music_model_spec(config, encoding)
    steps = config.data.bars * encoding.steps_per_bar
    objective_section = {"type": default_objective(spec["type"]), **config.objective}
    model, objective = build_run_model(spec, [steps], objective_section, config.seed)
    fit_kwargs, train = fit_arguments(config.train)
    resolved = copy.deepcopy(config)
    resolved.model = {k: v for k, v in spec.items() if k not in ("vocab_size", "pad_index", "end_index")}
    resolved.objective, resolved.train = objective_section, train
    out.mkdir(parents=True, exist_ok=True)
    if report.summary():
        log(f"data: {report.summary()}")
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"training {spec['type']} ({n_params:,} parameters, decoder {spec.get('decoder', 'recurrent')}) on "
        f"{config.data.path or config.data.name}: {report.tunes} tunes, {len(splits['train'])} training windows "
        f"of {config.data.bars} bars"
    )
    started = time.time()
    torch.manual_seed(config.seed)
    fit(
        model, objective, splits["train"], None, splits.get("validation"), None,
        run_dir=out, resume=resume, seed=config.seed, callbacks=[RecordConfig(out, resolved)], **fit_kwargs,
    )  # fmt: skip
    music = MusicModel(model, encoding, config.data.bars)
    music.save(out / MODEL_DIR, extra={"data": {"name": config.data.path or config.data.name}})
    log(f"model saved in {out / MODEL_DIR} ({time.time() - started:.0f} s of training)")
    test = splits.get("test", splits["train"])
    metrics: dict[str, Any] = {"data": config.data.path or config.data.name}
    metrics["split"] = "test" if "test" in splits else "train"
    then = "sampling and writing melodies" if config.evaluate.plots else "sampling"  # music_metrics samples
    log(evaluation_notice(metrics["split"], len(test), config.evaluate.k, then))
    metrics.update(evaluate(model, test, k=config.evaluate.k, seed=config.seed))
    metrics.update(music_metrics(music, test, seed=config.seed))
    metrics["data_report"] = report.as_dict()
    write_json(out / METRICS_FILE, metrics)
    if config.evaluate.plots:
        write_music_examples(music, test, out / MELODY_FOLDER, config.seed)
    return metrics


def music_metrics(music: MusicModel, tokens: torch.Tensor, samples: int = 200, seed: int = 0) -> dict[str, Any]:
    """Reconstruction accuracy of ``tokens`` and statistics of prior samples against theirs."""
    accuracy = reconstruction_accuracy(music.model, tokens)
    sampled = music.melodies(music.sample(samples, DecodeOptions("greedy"), seed=seed))
    steps_per_bar = music.encoding.steps_per_bar
    return {
        "accuracy_teacher_forced": accuracy["teacher_forced"],
        "accuracy_free_running": accuracy["free_running"],
        "statistics_data": summarize(statistics_table(music.melodies(tokens), steps_per_bar)),
        "statistics_samples": summarize(statistics_table(sampled, steps_per_bar)),
    }


def write_music_examples(music: MusicModel, tokens: torch.Tensor, out: Path, seed: int = 0) -> list[Path]:
    """MIDI, WAV and a piano roll of 8 samples and of a 7-step interpolation between the first window of
    ``tokens`` and its middle one; MIDI and a piano roll of 4 reconstructions (original above each)."""
    greedy = DecodeOptions("greedy")
    paths = write_melodies(out, music.melodies(music.sample(8, greedy, seed=seed)), "sample")
    # Windows from across the split (neighbouring windows overlap: they come from one tune, a bar apart).
    spread = torch.linspace(0, len(tokens) - 1, min(4, len(tokens))).long()
    originals = tokens[spread]
    recon = music.reconstruct(originals, greedy)
    paths += write_reconstructions(out, music.melodies(originals), music.melodies(recon))
    if len(tokens) > 1:
        path = music.interpolate(tokens[0], tokens[len(tokens) // 2], 7, greedy)
        titles = [f"t = {t:.2f}" for t in np.linspace(0, 1, len(path))]
        paths += write_melodies(out, music.melodies(path), "interpolation", titles)
    return paths
