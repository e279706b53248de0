"""The non-finite guard, outlier-update skipping and the step/time budgets."""

from __future__ import annotations

import math

import pytest
import torch

from tests.train.common import (
    SKIP,
    HugeAt,
    Scalar,
    binarizer,
    image_data,
    small_model,
    toward_one,
    training_state,
)
from tests.train.test_data_parallel_buffers import images, mean_path_objective
from vaekit import ELBOObjective, build_model
from vaekit.objectives import LossOutput
from vaekit.train import NonFiniteLossError, fit, read_checkpoint
from vaekit.train.callbacks import Callback


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
    model = small_model()
    with pytest.raises(NonFiniteLossError, match=r"epoch 3, batch 4.*'kl'") as info:
        fit(
            model,
            objective,
            image_data(),
            epochs=4,
            batch_size=20,
            run_dir=tmp_path,
            transform=binarizer(),
            progress=False,
        )
    assert isinstance(info.value, RuntimeError) and info.value.step == 13 and "loss" in info.value.terms
    for key, value in model.state_dict().items():
        assert torch.equal(value, objective.before[key]), key
    last = read_checkpoint(tmp_path / "checkpoints" / "last")  # the last good checkpoint is intact
    assert last.document["epoch"] == 2 and last.document["step"] == 10


def test_outlier_step_is_skipped_leaving_weights_and_adam_state_and_max_steps_stops_exactly(tmp_path):
    x = image_data()  # 5 steps per epoch
    before = fit(small_model(), HugeAt(7), x, run_dir=tmp_path / "a", transform=binarizer(), max_steps=7, **SKIP)
    after = fit(small_model(), HugeAt(7), x, run_dir=tmp_path / "b", transform=binarizer(), max_steps=8, **SKIP)
    assert (before.steps, after.steps) == (7, 8)  # stopped at exactly that step, in epoch 2 ...
    assert after.records[-1]["partial"] and after.records[-1]["step"] == 8 and len(after.records) == 2
    assert after.stop_reason == "max_steps" and after.stopped_early  # ... which is recorded as partial
    assert [r["skipped_updates"] for r in after.records] == [0, 1] and after.skipped_updates == 1
    state_before, state_after = training_state(tmp_path / "a"), training_state(tmp_path / "b")
    assert any(k.endswith("/step") for k in state_after) and any(k.endswith("/exp_avg_sq") for k in state_after)
    assert state_before.keys() == state_after.keys()
    for key, value in state_before.items():
        assert torch.equal(value, state_after[key]), key


def test_normal_steps_are_unaffected_by_skipping_and_max_seconds_stops():
    x = image_data()
    plain, lenient = small_model(), small_model()
    fit(plain, ELBOObjective(), x, transform=binarizer(), **{**SKIP, "skip_grad_norm": None})
    history = fit(lenient, ELBOObjective(), x, transform=binarizer(), **{**SKIP, "skip_grad_norm": 1e9})
    assert [r["skipped_updates"] for r in history.records] == [0, 0, 0] and history.stop_reason is None
    for key, value in plain.state_dict().items():
        assert torch.equal(value, lenient.state_dict()[key]), key
    timed = fit(small_model(), ELBOObjective(), x, transform=binarizer(), max_seconds=1e-9, **SKIP)
    assert timed.steps == 1 and timed.stop_reason == "max_seconds" and timed.records[0]["partial"]


def _nan_gradient_at_step_1(model, batch, step):
    """A finite loss whose gradient is NaN at step 1 (d sqrt(u)/du at u = 0 is infinite, times 0)."""
    loss = toward_one(model, batch, step).loss
    if step == 1:
        loss = loss + torch.sqrt(model.w * 0)
    return LossOutput(loss, {"loss": loss.detach()})


def test_non_finite_gradient_of_a_finite_loss_is_skipped_not_raised():
    x = torch.zeros(8, 1)
    kwargs = dict(epochs=1, batch_size=2, lr=0.1, grad_clip=1.0, progress=False)
    with pytest.raises(NonFiniteLossError, match="the gradient norm"):  # no skipping: the guard stops the run
        fit(Scalar(), _nan_gradient_at_step_1, x, **kwargs)
    model = Scalar()
    history = fit(model, _nan_gradient_at_step_1, x, skip_grad_norm=1e3, **kwargs)
    assert history.skipped_updates == 1 and history.steps == 4 and math.isfinite(model.w.item())
    assert 0.0 < model.w.item() <= 0.3 + 1e-6  # three Adam steps of size lr at most


class _NormStats(Callback):
    """Records every batch-norm running statistic after each step."""

    def __init__(self):
        self.after: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, state):
        stats = {k: v.clone() for k, v in state.model.state_dict().items() if "running_" in k}
        self.after[state.step] = stats


def _hierarchical(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(
        {"type": "hierarchical", "channels": 4, "latent_channels": 2, "groups_per_scale": [1, 1],
         "preprocess_scales": 1, "expansion": 1},
        [1, 8, 8],
    )  # fmt: skip


def _mean_path_huge_at_2(model, batch, step):
    result = mean_path_objective(model, batch, step)
    if step == 2:  # finite, but an outlier gradient
        result.loss = result.loss * 1e6
    return result


def test_a_skipped_update_leaves_batch_norm_statistics_as_they_were():
    stats = _NormStats()
    x = images(40)  # 4 steps per epoch of 10
    fit(_hierarchical(), _mean_path_huge_at_2, x, epochs=1, batch_size=10, skip_grad_norm=1e3, callbacks=[stats],
        progress=False)  # fmt: skip
    assert stats.after[1].keys() and all("running_" in k for k in stats.after[1])
    for key in stats.after[1]:
        assert torch.equal(stats.after[3][key], stats.after[2][key]), key  # step 2 (the 3rd) was skipped
        assert not torch.equal(stats.after[2][key], stats.after[1][key]) or "num_batches" in key
        assert not torch.equal(stats.after[4][key], stats.after[3][key]) or "num_batches" in key


class _MeanPathPoisonAt2:
    def __init__(self):
        self.before = None

    def __call__(self, model, batch, step):
        if step == 2:  # before the forward pass, which updates the batch-norm statistics
            self.before = {k: v.clone() for k, v in model.state_dict().items()}
        result = mean_path_objective(model, batch, step)
        if step == 2:
            result.loss = result.loss * math.nan
        return result


def test_a_non_finite_step_leaves_batch_norm_statistics_as_they_were():
    model = _hierarchical()
    objective = _MeanPathPoisonAt2()
    with pytest.raises(NonFiniteLossError):
        fit(model, objective, images(40), epochs=1, batch_size=10, progress=False)
    for key, value in model.state_dict().items():
        assert torch.equal(value, objective.before[key]), key  # weights and batch-norm statistics alike
