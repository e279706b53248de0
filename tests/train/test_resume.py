"""Exact resume: a killed run continues bit-identically; bad checkpoints and settings are refused."""

from __future__ import annotations

import json

import pytest
import torch

from tests.train.common import (
    SETTINGS,
    SKIP,
    HugeAt,
    KilledError,
    binarizer,
    image_data,
    kill_after,
    small_model,
)
from vaekit import ELBOObjective
from vaekit.train import CheckpointError, fit, read_checkpoint


def test_resume_continues_bit_exactly(tmp_path):
    x, val = image_data(), image_data(30, seed=1)
    reference = small_model()
    full = fit(reference, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "a", transform=binarizer(), **SETTINGS)

    interrupted = small_model()
    with pytest.raises(KilledError):  # dies in epoch 3, after the checkpoint of epoch 2 was written
        fit(interrupted, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "b", transform=binarizer(),
            callbacks=[kill_after(3)], **SETTINGS)  # fmt: skip
    assert read_checkpoint(tmp_path / "b" / "checkpoints" / "last").document["epoch"] == 2
    resumed_model = small_model(
        seed=99
    )  # different initial weights and fresh generators: all comes from the checkpoint
    resumed = fit(resumed_model, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "b", transform=binarizer(),
                  resume=True, **SETTINGS)  # fmt: skip

    assert resumed.steps == full.steps == 4 * 5
    assert resumed.train == full.train  # bit-exact losses, every epoch
    assert resumed.validation == full.validation
    assert resumed.best_epoch == full.best_epoch
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]  # no duplicated epoch 3


def test_resume_refuses_different_settings_and_corrupted_checkpoints(tmp_path):
    x = image_data(40).float() / 16
    fit(small_model(), ELBOObjective(), x, epochs=1, batch_size=20, run_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="batch_size"):
        fit(small_model(), ELBOObjective(), x, epochs=2, batch_size=10, run_dir=tmp_path, resume=True, progress=False)
    (tmp_path / "checkpoints" / "last" / "training.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupted"):
        fit(small_model(), ELBOObjective(), x, epochs=2, batch_size=20, run_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        fit(small_model(), ELBOObjective(), x, epochs=2, run_dir=tmp_path / "empty", resume=True, progress=False)


def test_resume_after_skipped_updates_is_bit_exact(tmp_path):
    x = image_data()
    reference = small_model()
    full = fit(reference, HugeAt(2, 8), x, run_dir=tmp_path / "a", transform=binarizer(), **SKIP)
    interrupted = small_model()
    with pytest.raises(KilledError):
        fit(interrupted, HugeAt(2, 8), x, run_dir=tmp_path / "b", transform=binarizer(),
            callbacks=[kill_after(2)], **SKIP)  # fmt: skip
    resumed_model = small_model(seed=99)
    resumed = fit(resumed_model, HugeAt(2, 8), x, run_dir=tmp_path / "b", transform=binarizer(), resume=True, **SKIP)
    assert full.skipped_updates == resumed.skipped_updates == 2
    assert [r["skipped_updates"] for r in resumed.records] == [1, 1, 0]
    assert resumed.train == full.train
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key
