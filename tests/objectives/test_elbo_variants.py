"""beta-VAE, KL annealing, free bits and capacity: the ELBO options, trained through the one loop."""

from __future__ import annotations

import pytest
import torch

import vaekit
from tests.helpers import SMALL
from tests.helpers import train_digits_model as _train
from vaekit.objectives import ELBOObjective


def test_beta_vae_trains_and_larger_beta_keeps_less_information(digits):
    x = digits[0]
    plain, h1 = _train({"type": "vae", **SMALL}, ELBOObjective(beta=1.0), x)
    strong, h8 = _train({"type": "vae", **SMALL}, ELBOObjective(beta=8.0), x)
    assert h1.train[-1]["loss"] < h1.train[0]["loss"] - 5
    assert h8.train[-1]["loss"] < h8.train[0]["loss"]
    # beta weighs only the KL: the stronger penalty ends with a smaller KL and a worse reconstruction.
    assert h8.train[-1]["kl"] < 0.5 * h1.train[-1]["kl"]
    assert h8.train[-1]["reconstruction"] > h1.train[-1]["reconstruction"]


def test_cyclical_annealing_restarts_beta_each_period_in_training(digits):
    seen = []

    class Recording(ELBOObjective):
        def __call__(self, model, batch, step):
            result = super().__call__(model, batch, step)
            seen.append(float(result.terms["beta"]))
            return result

    objective = Recording(beta={"type": "cyclical", "period": 6, "ratio": 0.5})
    _train({"type": "vae", **SMALL}, objective, digits[0][:100], epochs=4)  # 2 steps per epoch
    expected = [min((s % 6) / 3, 1.0) for s in range(8)]
    assert seen == pytest.approx(expected)  # 0, 1/3, 2/3, 1, 1, 1, 0, 1/3


def test_linear_warmup_logs_rising_beta(digits):
    _, history = _train(
        {"type": "vae", **SMALL}, ELBOObjective(beta={"type": "linear", "steps": 12}), digits[0], epochs=3
    )
    betas = [e["beta"] for e in history.train]  # per-epoch means of steps 0-5, 6-11, 12-17
    assert betas == pytest.approx([2.5 / 12, 8.5 / 12, 1.0])


def test_free_bits_floor_removes_kl_gradient_below_it():
    torch.manual_seed(0)
    model = vaekit.build_vae([6], latent_dim=3, hidden=(8,))
    x = torch.rand(16, 6).round()
    params = list(model.parameters())
    torch.manual_seed(5)
    floored = ELBOObjective(free_bits=50.0)(model, (x, None), 0)  # a floor above any KL this model has
    torch.testing.assert_close(floored.loss, floored.terms["reconstruction"] + 3 * 50.0)
    floored_grads = torch.autograd.grad(floored.loss, params)
    torch.manual_seed(5)  # the same noise draw
    plain = ELBOObjective(beta=0.0)(model, (x, None), 0)
    plain_grads = torch.autograd.grad(plain.loss, params)
    # Below the floor the KL contributes no gradient: the loss trains like the reconstruction alone.
    for g_floored, g_plain in zip(floored_grads, plain_grads):
        torch.testing.assert_close(g_floored, g_plain)
    torch.manual_seed(5)
    charged = ELBOObjective(free_bits=0.0)(model, (x, None), 0)
    charged_grads = torch.autograd.grad(charged.loss, params)
    assert any(not torch.allclose(a, b) for a, b in zip(charged_grads, plain_grads))


def test_free_bits_with_a_monte_carlo_kl_floors_the_total_at_the_sum_of_floors():
    torch.manual_seed(0)
    model = vaekit.build_vae([6], latent_dim=3, hidden=(8,), prior="mixture")
    x = torch.rand(16, 6).round()
    result = ELBOObjective(free_bits=20.0)(model, (x, None), 0)  # the mixture KL has no per-dimension form
    assert float(result.terms["kl"]) < 60.0
    torch.testing.assert_close(result.loss, result.terms["reconstruction"] + 3 * 20.0)
    total = ELBOObjective(free_bits=20.0, free_bits_groups=1)(model, (x, None), 0)
    torch.testing.assert_close(total.loss, total.terms["reconstruction"] + 20.0)


def test_free_bits_keeps_kl_above_floor_in_training(digits):
    _, plain = _train({"type": "vae", **SMALL}, ELBOObjective(beta=20.0), digits[0])
    _, floored = _train({"type": "vae", **SMALL}, ELBOObjective(beta=20.0, free_bits=1.0), digits[0])
    # A beta of 20 squeezes the KL towards 0; a floor of 1 nat per dimension (4 dims) lets it grow towards 4.
    assert plain.train[-1]["kl"] < 1.0
    assert floored.train[-1]["kl"] > 2 * max(plain.train[-1]["kl"], 0.75), (
        plain.train[-1]["kl"],
        floored.train[-1]["kl"],
    )


def test_capacity_objective_drives_kl_to_the_capacity(digits):
    capacity = {"type": "capacity", "max_capacity": 6.0, "steps": 20}
    _, history = _train(
        {"type": "vae", **SMALL}, ELBOObjective(capacity=capacity, capacity_weight=20.0), digits[0], epochs=12
    )
    assert abs(history.train[-1]["kl"] - 6.0) < 0.6
