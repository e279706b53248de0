"""fp16 training: autocast with dynamic loss scaling; overflowing steps are skipped, not errors; exact resume."""

from __future__ import annotations

import pytest
import torch

from tests.train.common import SETTINGS, KilledError, binarizer, image_data, kill_after, small_model
from vaekit import ELBOObjective
from vaekit.train import fit, read_checkpoint
from vaekit.train.callbacks import Callback

HUGE_SCALE = 2.0**24  # fp16 gradients (largest value 65504) inside the backward pass overflow at this scale


class Watch(Callback):
    """Sets an overflowing scale at the start; records the scale and a weight after every step."""

    def __init__(self, start_scale: float | None = None):
        self.start_scale = start_scale
        self.scales: list[float] = []
        self.weights: list[torch.Tensor] = []

    def on_train_start(self, state) -> None:
        if self.start_scale is not None:
            state.scaler.load_state_dict({**state.scaler.state_dict(), "scale": self.start_scale})
        self.weights.append(next(state.model.parameters()).detach().clone())

    def on_step_end(self, state) -> None:
        self.scales.append(state.scaler.get_scale())
        self.weights.append(next(state.model.parameters()).detach().clone())


def test_fp16_overflow_skips_the_step_and_halves_the_scale_until_training_proceeds():
    watch = Watch(HUGE_SCALE)
    model = small_model()
    history = fit(model, ELBOObjective(), image_data(), transform=binarizer(), precision="fp16",
                  callbacks=[watch], **SETTINGS)  # fmt: skip

    # Each overflowing step leaves the weights as they were and halves the scale.
    overflowed = 0
    while watch.scales[overflowed] == HUGE_SCALE / 2 ** (overflowed + 1):
        assert torch.equal(watch.weights[overflowed + 1], watch.weights[0])
        overflowed += 1
    assert overflowed >= 1
    assert not torch.equal(watch.weights[-1], watch.weights[0])  # then it trains
    assert history.steps == len(watch.scales) == 20
    assert history.skipped_updates == 0  # overflows are not outlier skips
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fp16_training_learns_like_fp32():
    x = image_data(200)
    losses = {}
    for precision in ("fp32", "fp16"):
        history = fit(small_model(), ELBOObjective(), x, transform=binarizer(), precision=precision,
                      **{**SETTINGS, "epochs": 6})  # fmt: skip
        losses[precision] = [epoch["loss"] for epoch in history.train]
    assert losses["fp16"][-1] < losses["fp16"][0] - 0.2  # random 4x4 data: little to learn
    assert losses["fp16"][-1] == pytest.approx(losses["fp32"][-1], rel=0.01)


def test_fp16_resume_restores_the_loss_scale_bit_exactly(tmp_path):
    x = image_data()
    reference = small_model()
    watch = Watch()
    fit(reference, ELBOObjective(), x, run_dir=tmp_path / "a", transform=binarizer(), precision="fp16",
        callbacks=[watch], **SETTINGS)  # fmt: skip

    with pytest.raises(KilledError):
        fit(small_model(), ELBOObjective(), x, run_dir=tmp_path / "b", transform=binarizer(), precision="fp16",
            callbacks=[kill_after(2)], **SETTINGS)  # fmt: skip
    saved = read_checkpoint(tmp_path / "b" / "checkpoints" / "last").document["grad_scaler"]
    assert saved["scale"] == watch.scales[2 * 5 - 1]  # the scale after epoch 2's last step

    resumed = small_model(seed=99)
    fit(resumed, ELBOObjective(), x, run_dir=tmp_path / "b", transform=binarizer(), precision="fp16", resume=True,
        **SETTINGS)  # fmt: skip
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
