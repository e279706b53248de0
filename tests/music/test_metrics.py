"""Melody statistics and reconstruction accuracy."""

import math

import numpy as np
import pytest
import torch

from vaekit.music.events import Melody, MelodyEncoding, Note
from vaekit.music.metrics import (
    in_key_rate,
    melody_statistics,
    reconstruction_accuracy,
    statistics_table,
    summarize,
    within_data_range,
)
from vaekit.registry import build, build_model
from vaekit.train import fit


def test_in_key_rate_of_a_scale_a_transposed_scale_and_the_chromatic_scale():
    assert in_key_rate([60, 62, 64, 65, 67, 69, 71]) == 1.0
    assert in_key_rate([p + 3 for p in [60, 62, 64, 65, 67, 69, 71]]) == 1.0  # E-flat major
    assert in_key_rate(list(range(60, 72))) == pytest.approx(7 / 12)


def test_melody_statistics_on_a_known_melody():
    melody = Melody([Note(60, 0, 4), Note(60, 4, 8), Note(64, 8, 12), Note(67, 16, 32)], 32)
    stats = melody_statistics(melody)
    assert stats == {"pitch_range": 7.0, "note_density": 2.0, "repeated_note_rate": 1 / 3, "in_key_rate": 1.0}
    empty = melody_statistics(Melody([], 32))
    assert empty["note_density"] == 0 and math.isnan(empty["pitch_range"])


def test_summary_intervals_and_the_share_within_them():
    data = [Melody([Note(60, 0, 2), Note(60 + k, 2, 4)], 16) for k in range(1, 21)]  # ranges 1..20, 2 notes
    intervals = summarize(statistics_table(data), 5, 95)
    assert intervals["pitch_range"]["low"] == pytest.approx(1.95) and intervals["note_density"]["mean"] == 2
    inside = [Melody([Note(60, 0, 2), Note(70, 2, 4)], 16)]
    too_wide = [Melody([Note(50, 0, 2), Note(80, 2, 4)], 16)]
    assert within_data_range(inside, intervals) == 1.0 and within_data_range(too_wide, intervals) == 0.0


def test_a_model_that_memorised_two_windows_reconstructs_them_exactly_both_ways():
    torch.manual_seed(0)
    enc = MelodyEncoding(48, 84)
    windows = [
        Melody([Note(60, 0, 4), Note(64, 4, 8), Note(67, 8, 16)], 16),
        Melody([Note(72, 0, 2), Note(71, 2, 4), Note(69, 4, 12)], 16),
    ]
    x = torch.as_tensor(np.stack([enc.encode(w, 16) for w in windows]))
    spec = {"type": "sequence_vae", "vocab_size": enc.vocab_size, "latent_dim": 2, "hidden": 32, "embed_dim": 8,
            "cell": "lstm", "context_every_step": True}  # fmt: skip
    model = build_model(spec, [16])
    fit(model, build("objective", {"type": "elbo", "beta": 0.01}), x.repeat(64, 1), epochs=80, batch_size=32,
        lr=1e-2, device="cpu", progress=False, seed=0)  # fmt: skip
    accuracy = reconstruction_accuracy(model, x)
    assert accuracy == {"teacher_forced": 1.0, "free_running": 1.0}
    # a window the model never saw is not reconstructed perfectly free-running
    other = torch.as_tensor(enc.encode(Melody([Note(50, 0, 1), Note(80, 1, 2), Note(55, 3, 16)], 16), 16))[None]
    assert reconstruction_accuracy(model, other)["free_running"] < 1.0
