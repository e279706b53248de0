"""The training loop: exact resume, non-finite guard, early stopping, several optimizers, metrics, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from vaekit import ELBOObjective, build_model
from vaekit.data import DynamicBinarize
from vaekit.objectives import LossOutput
from vaekit.train import CheckpointError, NonFiniteLossError, StopTraining, fit, lr_at, read_checkpoint


def _data(n: int = 96, seed: int = 0) -> torch.Tensor:
    """uint8 'images' with 17 grey levels, like the digits."""
    return torch.randint(0, 17, (n, 1, 4, 4), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model({"type": "vae", "latent_dim": 3, "hidden": [8]}, [1, 4, 4])


def _binarize() -> DynamicBinarize:
    return DynamicBinarize(17, torch.Generator().manual_seed(5))


class _KilledError(Exception):
    """Stands for the process being killed."""


def _kill_after(epoch: int):
    def callback(done: int, record: dict) -> None:
        if done == epoch:
            raise _KilledError

    return callback


SETTINGS = dict(epochs=4, batch_size=20, lr=5e-3, lr_schedule="cosine", grad_clip=5.0, progress=False, seed=3)


def test_resume_continues_bit_exactly(tmp_path):
    x, val = _data(), _data(30, seed=1)
    reference = _model()
    full = fit(reference, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "a", transform=_binarize(), **SETTINGS)

    interrupted = _model()
    with pytest.raises(_KilledError):  # dies in epoch 3, after the checkpoint of epoch 2 was written
        fit(interrupted, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "b", transform=_binarize(),
            callbacks=[_kill_after(3)], **SETTINGS)  # fmt: skip
    assert read_checkpoint(tmp_path / "b" / "checkpoints" / "last").document["epoch"] == 2
    resumed_model = _model(seed=99)  # different initial weights and fresh generators: all comes from the checkpoint
    resumed = fit(resumed_model, ELBOObjective(), x, val_x=val, run_dir=tmp_path / "b", transform=_binarize(),
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
    x = _data(40).float() / 16
    fit(_model(), ELBOObjective(), x, epochs=1, batch_size=20, run_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="batch_size"):
        fit(_model(), ELBOObjective(), x, epochs=2, batch_size=10, run_dir=tmp_path, resume=True, progress=False)
    (tmp_path / "checkpoints" / "last" / "training.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupted"):
        fit(_model(), ELBOObjective(), x, epochs=2, batch_size=20, run_dir=tmp_path, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        fit(_model(), ELBOObjective(), x, epochs=2, run_dir=tmp_path / "empty", resume=True, progress=False)


class _PoisonAt:
    """The ELBO, with the KL term made NaN at one step; remembers the weights the step started from."""

    def __init__(self, step: int):
        self.step, self.inner, self.before = step, ELBOObjective(), None

    def __call__(self, model, batch, step):
        result = self.inner(model, batch, step)
        if step == self.step:
            self.before = {k: v.clone() for k, v in model.state_dict().items()}
            result.terms["kl"] = result.terms["kl"] * math.nan
            result.loss = result.loss * math.nan
        return result


@pytest.mark.parametrize("interval", [1, 4])
def test_non_finite_loss_stops_before_touching_weights(tmp_path, monkeypatch, interval):
    # interval 4: the flag is read every 4 steps, as on accelerators; the steps in between (13..15)
    # must be skipped on the device by the fused optimizer's found_inf, leaving the weights unchanged
    monkeypatch.setattr("vaekit.train.loop._guard_interval", lambda device: interval)
    objective = _PoisonAt(step=13)  # 5 steps per epoch: epoch 3, batch 4
    model = _model()
    with pytest.raises(NonFiniteLossError, match=r"epoch 3, batch 4.*'kl'") as info:
        fit(model, objective, _data(), epochs=4, batch_size=20, run_dir=tmp_path, transform=_binarize(), progress=False)
    assert isinstance(info.value, RuntimeError) and info.value.step == 13 and "loss" in info.value.terms
    for key, value in model.state_dict().items():
        assert torch.equal(value, objective.before[key]), key
    last = read_checkpoint(tmp_path / "checkpoints" / "last")  # the last good checkpoint is intact
    assert last.document["epoch"] == 2 and last.document["step"] == 10


class _Scalar(nn.Module):
    """One weight; trained towards 1 while its validation loss grows with it."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def _toward_one(model, batch, step):
    x, _ = batch
    target = 1.0 if model.training else 0.0  # validation gets worse every epoch
    loss = (model.w - target) ** 2 + 0 * x.float().sum()
    return LossOutput(loss, {"loss": loss.detach()})


def test_early_stopping_restores_the_best_weights():
    model = _Scalar()
    seen = []
    history = fit(model, _toward_one, torch.zeros(8, 1), val_x=torch.zeros(4, 1), epochs=20, batch_size=4,
                  lr=0.1, patience=2, callbacks=[lambda e, r: seen.append(r["val_loss"])], progress=False)  # fmt: skip
    assert history.stopped_early and history.epochs == 3 and history.best_epoch == 1
    assert history.best_val_loss == pytest.approx(seen[0])
    assert model.w.item() ** 2 == pytest.approx(seen[0])  # the weights of epoch 1, not of the last epoch
    assert seen[0] < seen[1] < seen[2]


def test_callback_can_stop_training():
    def stop(epoch, record):
        if epoch == 2:
            raise StopTraining

    history = fit(_Scalar(), _toward_one, torch.zeros(8, 1), epochs=10, batch_size=4, callbacks=[stop], progress=False)
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
    history = fit(_model(), ELBOObjective(), _data(60), val_x=_data(20, 2), epochs=2, batch_size=32,
                  transform=_binarize(), run_dir=tmp_path, progress=False)  # fmt: skip
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
    history = fit(_model(), ELBOObjective(), _data(40).float() / 16, epochs=1, batch_size=20, precision="bf16",
                  optimizer="adamw", weight_decay=0.01, lr_schedule="step", progress=False)  # fmt: skip
    assert math.isfinite(history.train[0]["loss"])
    assert lr_at("cosine", 1.0, 0, 10) == 1.0 and lr_at("cosine", 1.0, 5, 10) == pytest.approx(0.5)
    assert [lr_at("step", 1.0, s, 9) for s in (0, 2, 3, 6, 8)] == [1.0, 1.0, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "sgd"}, r"unknown optimizer 'sgd'; valid: \['adam', 'adamw'\]"),
        ({"lr_schedule": "linear"}, "valid: .'constant', 'cosine', 'step'"),
        ({"precision": "fp16"}, "valid: .'fp32', 'bf16'"),
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
        fit(_Scalar(), _toward_one, torch.zeros(8, 1), **{"epochs": 1, "progress": False, **kwargs})


def test_progress_bar_shows_live_loss_reconstruction_and_kl(monkeypatch, capsys):
    monkeypatch.setattr("vaekit.train.progress._is_terminal", lambda: True)
    monkeypatch.setattr("vaekit.train.progress.REFRESH_SECONDS", 0.0)
    fit(_model(), ELBOObjective(), _data(40), epochs=1, batch_size=10, transform=_binarize())
    shown = capsys.readouterr().err
    assert "epoch 1/1" in shown and all(f"{k}=" in shown for k in ("loss", "reconstruction", "kl"))
    fit(_model(), ELBOObjective(), _data(40), epochs=1, batch_size=10, transform=_binarize(), progress=False)
    assert capsys.readouterr().err == ""


class _HugeAt:
    """The ELBO, with the loss scaled by 1e6 (finite, but an outlier gradient) at the given steps."""

    def __init__(self, *steps: int):
        self.steps, self.inner = set(steps), ELBOObjective()

    def __call__(self, model, batch, step):
        result = self.inner(model, batch, step)
        if step in self.steps:
            result.loss = result.loss * 1e6
        return result


def _training_state(run_dir) -> dict[str, torch.Tensor]:
    """Weights and optimizer state (Adam moments and step count) of a run's last checkpoint."""
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last")
    optimizer = {k: v for k, v in checkpoint.tensors.items() if k.startswith("optimizer/")}
    return {**checkpoint.model_state, **optimizer}


SKIP = dict(epochs=3, batch_size=20, lr=5e-3, grad_clip=5.0, skip_grad_norm=1e3, progress=False, seed=3)


def test_outlier_step_is_skipped_leaving_weights_and_adam_state_and_max_steps_stops_exactly(tmp_path):
    x = _data()  # 5 steps per epoch
    before = fit(_model(), _HugeAt(7), x, run_dir=tmp_path / "a", transform=_binarize(), max_steps=7, **SKIP)
    after = fit(_model(), _HugeAt(7), x, run_dir=tmp_path / "b", transform=_binarize(), max_steps=8, **SKIP)
    assert (before.steps, after.steps) == (7, 8)  # stopped at exactly that step, in epoch 2 ...
    assert after.records[-1]["partial"] and after.records[-1]["step"] == 8 and len(after.records) == 2
    assert after.stop_reason == "max_steps" and after.stopped_early  # ... which is recorded as partial
    assert [r["skipped_updates"] for r in after.records] == [0, 1] and after.skipped_updates == 1
    state_before, state_after = _training_state(tmp_path / "a"), _training_state(tmp_path / "b")
    assert any(k.endswith("/step") for k in state_after) and any(k.endswith("/exp_avg_sq") for k in state_after)
    assert state_before.keys() == state_after.keys()
    for key, value in state_before.items():
        assert torch.equal(value, state_after[key]), key


def test_normal_steps_are_unaffected_by_skipping_and_max_seconds_stops():
    x = _data()
    plain, lenient = _model(), _model()
    fit(plain, ELBOObjective(), x, transform=_binarize(), **{**SKIP, "skip_grad_norm": None})
    history = fit(lenient, ELBOObjective(), x, transform=_binarize(), **{**SKIP, "skip_grad_norm": 1e9})
    assert [r["skipped_updates"] for r in history.records] == [0, 0, 0] and history.stop_reason is None
    for key, value in plain.state_dict().items():
        assert torch.equal(value, lenient.state_dict()[key]), key
    timed = fit(_model(), ELBOObjective(), x, transform=_binarize(), max_seconds=1e-9, **SKIP)
    assert timed.steps == 1 and timed.stop_reason == "max_seconds" and timed.records[0]["partial"]


def test_resume_after_skipped_updates_is_bit_exact(tmp_path):
    x = _data()
    reference = _model()
    full = fit(reference, _HugeAt(2, 8), x, run_dir=tmp_path / "a", transform=_binarize(), **SKIP)
    interrupted = _model()
    with pytest.raises(_KilledError):
        fit(interrupted, _HugeAt(2, 8), x, run_dir=tmp_path / "b", transform=_binarize(),
            callbacks=[_kill_after(2)], **SKIP)  # fmt: skip
    resumed_model = _model(seed=99)
    resumed = fit(resumed_model, _HugeAt(2, 8), x, run_dir=tmp_path / "b", transform=_binarize(), resume=True, **SKIP)
    assert full.skipped_updates == resumed.skipped_updates == 2
    assert [r["skipped_updates"] for r in resumed.records] == [1, 1, 0]
    assert resumed.train == full.train
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def _nan_gradient_at_step_1(model, batch, step):
    """A finite loss whose gradient is NaN at step 1 (d sqrt(u)/du at u = 0 is infinite, times 0)."""
    loss = _toward_one(model, batch, step).loss
    if step == 1:
        loss = loss + torch.sqrt(model.w * 0)
    return LossOutput(loss, {"loss": loss.detach()})


def test_non_finite_gradient_of_a_finite_loss_is_skipped_not_raised():
    x = torch.zeros(8, 1)
    kwargs = dict(epochs=1, batch_size=2, lr=0.1, grad_clip=1.0, progress=False)
    with pytest.raises(NonFiniteLossError, match="the gradient norm"):  # no skipping: the guard stops the run
        fit(_Scalar(), _nan_gradient_at_step_1, x, **kwargs)
    model = _Scalar()
    history = fit(model, _nan_gradient_at_step_1, x, skip_grad_norm=1e3, **kwargs)
    assert history.skipped_updates == 1 and history.steps == 4 and math.isfinite(model.w.item())
    assert 0.0 < model.w.item() <= 0.3 + 1e-6  # three Adam steps of size lr at most
