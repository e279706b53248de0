"""The training loop: early stopping, callbacks, several optimizers, metrics files, errors, progress."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from tests.train.common import (
    Scalar,
    binarizer,
    image_data,
    small_model,
    toward_one,
)
from vaekit import ELBOObjective
from vaekit.objectives import LossOutput
from vaekit.train import StopTraining, fit, lr_at, read_checkpoint
from vaekit.train.callbacks import Callback


def test_early_stopping_restores_the_best_weights():
    model = Scalar()
    seen = []
    history = fit(model, toward_one, torch.zeros(8, 1), val_x=torch.zeros(4, 1), epochs=20, batch_size=4,
                  lr=0.1, patience=2, callbacks=[lambda e, r: seen.append(r["val_loss"])], progress=False)  # fmt: skip
    assert history.stopped_early and history.epochs == 3 and history.best_epoch == 1
    assert history.best_val_loss == pytest.approx(seen[0])
    assert model.w.item() ** 2 == pytest.approx(seen[0])  # the weights of epoch 1, not of the last epoch
    assert seen[0] < seen[1] < seen[2]


def test_callback_can_stop_training():
    def stop(epoch, record):
        if epoch == 2:
            raise StopTraining

    history = fit(Scalar(), toward_one, torch.zeros(8, 1), epochs=10, batch_size=4, callbacks=[stop], progress=False)
    assert history.epochs == 2 and history.stopped_early and history.steps == 4


class _TwoGroups(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.ones(()))
        self.b = nn.Parameter(torch.ones(()))

    def parameter_groups(self):
        return {"first": [self.a], "second": [self.b]}


def _two_losses(model, batch, step):
    loss_first = (model.a - 2 * model.b) ** 2  # pushes a up and (if it leaked into b's gradient) b down
    loss_second = -model.b  # pushes b up
    return LossOutput(loss_first + loss_second, {}, group_losses={"first": loss_first, "second": loss_second})


def test_each_parameter_group_steps_on_its_own_loss():
    model = _TwoGroups()
    history = fit(model, _two_losses, torch.zeros(4, 1), epochs=1, batch_size=4, lr=0.1, progress=False)
    # Adam's first step moves each weight by lr against the sign of its own gradient
    assert model.a.item() == pytest.approx(1.1) and model.b.item() == pytest.approx(1.1)
    assert {"loss", "first_loss", "second_loss"} <= set(history.train[0])

    def wrong(model, batch, step):
        return LossOutput(model.a, {}, group_losses={"third": model.a})

    with pytest.raises(ValueError, match="third.*'first', 'second'"):
        fit(_TwoGroups(), wrong, torch.zeros(4, 1), epochs=1, progress=False)


def test_metrics_files_and_best_checkpoint(tmp_path):
    history = fit(small_model(), ELBOObjective(), image_data(60), val_x=image_data(20, 2), epochs=2, batch_size=32,
                  transform=binarizer(), run_dir=tmp_path, progress=False)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and [r["step"] for r in rows] == [2, 4]
    for key in ("seconds", "samples_per_second", "lr", "train_loss", "train_reconstruction", "train_kl", "val_loss"):
        assert all(math.isfinite(r[key]) for r in rows), key
    header, *lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert header.split(",")[:2] == ["epoch", "step"] and len(lines) == 2
    best = read_checkpoint(tmp_path / "checkpoints" / "best")
    assert best.document["epoch"] == history.best_epoch
    import vaekit

    reloaded = vaekit.load(tmp_path / "checkpoints" / "best")  # a checkpoint is also a model folder
    assert set(reloaded.state_dict()) == set(best.model_state)


def test_bf16_and_schedules_run():
    x = image_data(40).float() / 16
    history = fit(small_model(), ELBOObjective(), x, epochs=1, batch_size=20, precision="bf16",
                  optimizer="adamw", weight_decay=0.01, lr_schedule="step", progress=False)  # fmt: skip
    assert math.isfinite(history.train[0]["loss"])
    assert lr_at("cosine", 1.0, 0, 10) == 1.0 and lr_at("cosine", 1.0, 5, 10) == pytest.approx(0.5)
    assert [lr_at("step", 1.0, s, 9) for s in (0, 2, 3, 6, 8)] == [1.0, 1.0, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "sgd"}, r"unknown optimizer 'sgd'; valid: \['adam', 'adamw'\]"),
        ({"lr_schedule": "linear"}, "valid: .'constant', 'cosine', 'step'"),
        ({"precision": "fp8"}, "valid: .'fp32', 'bf16', 'fp16'"),
        ({"device": "tpu"}, "unknown device 'tpu'; valid"),
        ({"patience": 2}, "needs validation data"),
        ({"resume": True}, "needs run_dir"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"grad_clip": 0}, "grad_clip must be a positive number"),
        ({"skip_grad_norm": -1.0}, "skip_grad_norm must be a positive number"),
        ({"max_steps": 0}, "max_steps must be an integer >= 1"),
        ({"y": torch.zeros(3)}, "x has 8 examples but y has 3"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(Scalar(), toward_one, torch.zeros(8, 1), **{"epochs": 1, "progress": False, **kwargs})


def test_progress_bar_shows_live_loss_reconstruction_and_kl(monkeypatch, capsys):
    monkeypatch.setattr("vaekit.train.progress._is_terminal", lambda: True)
    monkeypatch.setattr("vaekit.train.progress.REFRESH_SECONDS", 0.0)
    fit(small_model(), ELBOObjective(), image_data(40), epochs=1, batch_size=10, transform=binarizer())
    shown = capsys.readouterr().err
    assert "epoch 1/1" in shown and all(f"{k}=" in shown for k in ("loss", "reconstruction", "kl"))
    fit(small_model(), ELBOObjective(), image_data(40), epochs=1, batch_size=10, transform=binarizer(), progress=False)
    assert capsys.readouterr().err == ""


class EveryNSteps(Callback):
    """The documented example: a user's callback that logs the running loss every ``n`` steps."""

    def __init__(self, n: int):
        self.n, self.lines, self.calls = n, [], []

    def on_train_start(self, state):
        self.calls.append("train_start")

    def on_epoch_start(self, state):
        self.calls.append(f"epoch_start {state.epoch + 1}")

    def on_step_end(self, state):
        if state.step % self.n == 0:
            self.lines.append((state.step, state.sums.means()["loss"]))

    def on_epoch_end(self, state, record):
        self.calls.append(f"epoch_end {record['epoch']} step {record['step']}")
        if record["epoch"] == 2:
            state.request_stop()

    def on_train_end(self, state):
        self.calls.append("train_end")


def test_a_user_callback_sees_every_hook_and_can_stop_the_run():
    logger = EveryNSteps(3)
    history = fit(small_model(), ELBOObjective(), image_data(40), epochs=5, batch_size=10, transform=binarizer(),
                  callbacks=[logger], progress=False)  # fmt: skip
    assert [step for step, _ in logger.lines] == [3, 6]  # 4 steps per epoch, two epochs
    assert all(math.isfinite(loss) for _, loss in logger.lines)
    assert logger.calls == ["train_start", "epoch_start 1", "epoch_end 1 step 4", "epoch_start 2",
                            "epoch_end 2 step 8", "train_end"]  # fmt: skip
    assert history.stop_reason == "callback" and history.stopped_early and history.epochs == 2


def test_callbacks_must_be_callbacks_or_functions():
    with pytest.raises(TypeError, match="callbacks must be Callback instances or callables"):
        fit(Scalar(), toward_one, torch.zeros(8, 1), epochs=1, callbacks=[3], progress=False)
