"""The logistic KL schedule and aggressive encoder training."""

from __future__ import annotations

import math

import pytest
import torch

import vaekit
from vaekit.objectives import AggressiveELBO, Logistic
from vaekit.registry import build


def test_logistic_schedule_is_sentence_vae_weight():
    schedule = build("schedule", {"type": "logistic", "rate": 0.0025, "midpoint": 2500})
    assert isinstance(schedule, Logistic)
    for step in (0, 1000, 2500, 4000, 10**6):
        assert schedule(step) == pytest.approx(1 / (1 + math.exp(-0.0025 * (step - 2500))))
    assert schedule(2500) == pytest.approx(0.5)
    assert schedule(-(10**6)) == 0.0  # no overflow far from the midpoint
    with pytest.raises(ValueError, match="rate"):
        Logistic(rate=0)


def _model():
    torch.manual_seed(0)
    spec = {"type": "sequence_vae", "vocab_size": 5, "latent_dim": 2, "hidden": 8, "embed_dim": 4, "pad_index": 0}
    return vaekit.build_model(spec, [5])


def test_aggressive_phase_moves_the_encoder_itself_and_leaves_the_step_to_the_decoder():
    model = _model()
    x = torch.tensor([[1, 2, 3, 4, 0], [4, 3, 0, 0, 0], [2, 2, 2, 0, 0], [3, 1, 0, 0, 0]])
    objective = AggressiveELBO(aggressive_steps=5, inner_steps=3, inner_lr=1e-2)
    encoder_before = [p.detach().clone() for p in model.encoder.parameters()]
    decoder_before = [p.detach().clone() for p in model.likelihood.parameters()]
    result = objective(model, x, step=0)
    assert any(not torch.equal(a, b) for a, b in zip(encoder_before, model.encoder.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(decoder_before, model.likelihood.parameters()))
    result.loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # the loop's optimizer skips the encoder
    assert all(p.grad is not None for p in model.likelihood.parameters())
    # After the phase it is the ordinary ELBO: gradients reach the encoder again.
    model.zero_grad(set_to_none=True)
    objective(model, x, step=5).loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    assert build("objective", objective.config()).aggressive_steps == 5
