"""Melody evaluation: per-step reconstruction accuracy (teacher-forced and free-running), and
statistics that compare generated melodies with the data.

Accuracies decode from the posterior mean. Teacher-forced: the decoder sees the true previous
events and its most likely next event is scored at every step. Free-running: the decoder runs
greedily on its own outputs from z alone (as in MusicVAE's Table 1), so one early mistake can
derail the rest; this is the figure where a hierarchical decoder is expected to help.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from vaekit.decoding import DecodeOptions
from vaekit.music.events import Melody

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)  # the natural minor keys use the same pitch-class sets
STATISTICS = ("pitch_range", "note_density", "repeated_note_rate", "in_key_rate")


@torch.no_grad()
def reconstruction_accuracy(model, tokens: Tensor, batch_size: int = 256) -> dict[str, float]:
    """Per-step accuracy of reconstructing event tokens (N, T) from their posterior means.

    Args:
        model: a VAE whose likelihood is autoregressive over event tokens (a ``SequenceVAE``).
        tokens: event tokens (N, T).
        batch_size: windows per forward pass.

    Returns:
        ``teacher_forced`` and ``free_running`` accuracies in [0, 1], over all N * T steps.
    """
    model.eval()
    device = next(model.parameters()).device
    forced = free = 0
    for i in range(0, len(tokens), batch_size):
        x = tokens[i : i + batch_size].to(device)
        p_x = model.decode(model.encode(x).mean)
        forced += int((p_x.logits(x).argmax(-1) == x).sum())
        free += int((p_x.decode(DecodeOptions("greedy")) == x).sum())
    total = max(tokens.numel(), 1)
    return {"teacher_forced": forced / total, "free_running": free / total}


def in_key_rate(pitches: Sequence[int]) -> float:
    """Share of notes in the best-fitting major (or relative minor) scale of the 12."""
    if not len(pitches):
        return float("nan")
    classes = np.bincount(np.asarray(pitches) % 12, minlength=12)
    best = max(sum(classes[(tonic + d) % 12] for d in MAJOR_SCALE) for tonic in range(12))
    return float(best / len(pitches))


def melody_statistics(melody: Melody, steps_per_bar: int = 16) -> dict[str, float]:
    """Pitch range (semitones), note density (onsets per bar), repeated-note rate (share of notes
    that repeat the previous pitch) and in-key rate of one melody (NaN where it has no notes)."""
    pitches = melody.pitches()
    bars = max(melody.steps / steps_per_bar, 1e-9)
    if not pitches:
        return {"pitch_range": float("nan"), "note_density": 0.0, "repeated_note_rate": float("nan"),
                "in_key_rate": float("nan")}  # fmt: skip
    repeats = sum(a == b for a, b in zip(pitches, pitches[1:]))
    return {
        "pitch_range": float(max(pitches) - min(pitches)),
        "note_density": len(pitches) / bars,
        "repeated_note_rate": repeats / (len(pitches) - 1) if len(pitches) > 1 else 0.0,
        "in_key_rate": in_key_rate(pitches),
    }


def statistics_table(melodies: Sequence[Melody], steps_per_bar: int = 16) -> dict[str, np.ndarray]:
    """Each statistic of each melody: name -> (N,) values."""
    rows = [melody_statistics(m, steps_per_bar) for m in melodies]
    return {name: np.array([r[name] for r in rows], dtype=float) for name in STATISTICS}


def summarize(values: dict[str, np.ndarray], low: float = 5, high: float = 95) -> dict[str, dict[str, float]]:
    """Mean and the [low, high] percentile interval of each statistic (NaNs left out)."""
    out = {}
    for name, v in values.items():
        v = v[~np.isnan(v)]
        if not len(v):
            out[name] = {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
            continue
        out[name] = {
            "mean": float(v.mean()),
            "low": float(np.percentile(v, low)),
            "high": float(np.percentile(v, high)),
        }
    return out


def within_data_range(
    melodies: Sequence[Melody],
    data: dict[str, dict[str, float]],
    names=("note_density", "pitch_range"),
    steps_per_bar=16,
) -> float:
    """Share of melodies whose every named statistic lies in the data's [low, high] interval."""
    table = statistics_table(melodies, steps_per_bar)
    inside = np.ones(len(melodies), dtype=bool)
    for name in names:
        v = table[name]
        inside &= (v >= data[name]["low"]) & (v <= data[name]["high"])
    return float(inside.mean()) if len(melodies) else float("nan")
