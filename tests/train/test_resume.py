"""Exact resume: a killed run continues bit-identically; bad checkpoints and settings are refused."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

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
from vaekit.train.callbacks import Callback


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


class _KillAtStep(Callback):
    """Stands for a kill right after optimizer step ``step`` (before anything else sees it)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            raise KilledError


def _same_weights(a: nn.Module, b: nn.Module) -> None:
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_mid_epoch_checkpoint_resumes_bit_exactly(tmp_path):
    x, val = image_data(), image_data(30, seed=1)  # 5 steps per epoch
    reference = small_model()
    full = fit(reference, ELBOObjective(), x, val_x=val, transform=binarizer(), **SETTINGS)
    interrupted = small_model()
    with pytest.raises(KilledError):  # killed in epoch 3 (step 14), after the checkpoint of step 12
        fit(interrupted, ELBOObjective(), x, val_x=val, run_dir=tmp_path, transform=binarizer(), checkpoint_every=4,
            callbacks=[_KillAtStep(14)], **SETTINGS)  # fmt: skip
    document = read_checkpoint(tmp_path / "checkpoints" / "last").document
    assert document["step"] == 12 and document["position"]["batch"] == 2 and document["epoch"] == 2
    resumed_model = small_model(seed=99)
    resumed = fit(resumed_model, ELBOObjective(), x, val_x=val, run_dir=tmp_path, transform=binarizer(),
                  checkpoint_every=4, resume=True, **SETTINGS)  # fmt: skip
    assert resumed.steps == full.steps == 20
    assert resumed.validation == full.validation and resumed.best_epoch == full.best_epoch
    for mine, theirs in zip(resumed.train, full.train):  # the resumed epoch's sums continue from the checkpoint
        assert mine.keys() == theirs.keys() and all(mine[k] == pytest.approx(theirs[k], rel=1e-6) for k in mine)
    _same_weights(reference, resumed_model)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


@pytest.mark.parametrize("budget", [{"max_steps": 7}, {"max_steps": 10}, {"max_seconds": 1e-9}])
def test_a_budget_stopped_run_continues_with_a_larger_budget(tmp_path, budget):
    x, val = image_data(), image_data(30, seed=1)
    reference = small_model()
    full = fit(reference, ELBOObjective(), x, val_x=val, transform=binarizer(), **SETTINGS)
    stopped = fit(small_model(), ELBOObjective(), x, val_x=val, run_dir=tmp_path, transform=binarizer(), **budget,
                  **SETTINGS)  # fmt: skip
    assert stopped.stop_reason == next(iter(budget)) and stopped.steps < 20
    continued_model = small_model(seed=99)
    continued = fit(continued_model, ELBOObjective(), x, val_x=val, run_dir=tmp_path, transform=binarizer(),
                    resume=True, **SETTINGS)  # fmt: skip
    assert continued.steps == 20 and continued.stop_reason is None and not continued.stopped_early
    assert continued.validation == full.validation and len(continued.records) == 4
    _same_weights(reference, continued_model)
    same = fit(small_model(), ELBOObjective(), x, val_x=val, run_dir=tmp_path, transform=binarizer(), resume=True,
               **SETTINGS)  # fmt: skip
    assert same.steps == 20 and same.epochs == 4  # nothing left to do


def test_cli_resume_before_the_first_checkpoint_starts_from_scratch(tmp_path):
    from typer.testing import CliRunner

    from vaekit.cli import app

    tiny = ["--set", "train.epochs=1", "--set", "model.hidden=[8]", "--set", "model.latent_dim=2",
            "--set", "evaluate.k=2", "--set", "data.limit=60", "--set", "train.progress=false",
            "--set", "evaluate.plots=false", "--set", "train.device=cpu"]  # fmt: skip
    out = tmp_path / "run"
    out.mkdir()
    result = CliRunner().invoke(app, ["train", "--resume", *tiny, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no checkpoint" in result.output and "from scratch" in result.output
    assert read_checkpoint(out / "checkpoints" / "last").document["epoch"] == 1


def test_resuming_a_run_whose_step_budget_is_spent_changes_nothing(tmp_path):
    """The budget cut the last epoch (and its validation made it the best): a resume with the same budget
    closes that epoch again as the first run did, instead of returning an older best epoch's weights."""
    x, val_x = image_data(64).float() / 16, image_data(16, seed=1).float() / 16
    first = small_model()
    kwargs = dict(val_x=val_x, epochs=3, batch_size=8, max_steps=10, run_dir=tmp_path, progress=False)
    history = fit(first, ELBOObjective(), x, **kwargs)
    assert history.steps == 10 and history.records[-1]["partial"]
    again = small_model()
    resumed = fit(again, ELBOObjective(), x, resume=True, **kwargs)
    assert resumed.steps == 10 and resumed.best_epoch == history.best_epoch
    assert [r["val_loss"] for r in resumed.records] == [r["val_loss"] for r in history.records]
    for name, value in first.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name
