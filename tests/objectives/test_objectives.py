"""The ELBO and its variants as functions, and the schedules."""

import math

import pytest
import torch

from tests.helpers import linear_gaussian_vae
from vaekit.models import build_vae
from vaekit.objectives import (
    CapacityIncrease,
    Cyclical,
    ELBOObjective,
    IWAEObjective,
    LinearWarmup,
    as_schedule,
    elbo,
    free_bits_kl,
    iwae_bound,
)


def _output(seed=0):
    torch.manual_seed(seed)
    model = build_vae([6], latent_dim=4, hidden=(8,))
    x = torch.rand(5, 6).round()
    torch.manual_seed(1)
    return model(x), x


def test_beta_scales_only_the_kl_term():
    out, x = _output()
    one, four = elbo(out, x, beta=1.0), elbo(out, x, beta=4.0)
    torch.testing.assert_close(one.terms["reconstruction"], four.terms["reconstruction"])
    torch.testing.assert_close(one.terms["kl"], four.terms["kl"])
    torch.testing.assert_close(four.loss - one.loss, 3 * one.terms["kl"])
    torch.testing.assert_close(four.terms["elbo"], one.terms["elbo"])  # the bound itself ignores beta
    rec = -out.p_x.log_prob(x).mean()
    torch.testing.assert_close(one.terms["reconstruction"], rec)


def test_free_bits_floor_per_dimension_and_group():
    kl = torch.tensor([[0.1, 2.0, 0.0, 0.6], [0.3, 2.0, 0.2, 0.2]])  # batch means: 0.2, 2.0, 0.1, 0.4
    torch.testing.assert_close(free_bits_kl(kl, 0.5), torch.tensor(0.5 + 2.0 + 0.5 + 0.5))
    torch.testing.assert_close(free_bits_kl(kl, 0.5, groups=2), torch.tensor(2.2 + 0.5))
    with pytest.raises(ValueError, match="equal groups"):
        free_bits_kl(kl, 0.5, groups=3)
    out, x = _output()
    high = elbo(out, x, free_bits=100.0)
    # A floor above every dimension's KL makes the KL term a constant: no gradient to the encoder from it.
    torch.testing.assert_close(high.loss, high.terms["reconstruction"] + 4 * 100.0)


def test_capacity_objective():
    out, x = _output()
    result = elbo(out, x, capacity=5.0, capacity_weight=10.0)
    expected = result.terms["reconstruction"] + 10.0 * (result.terms["kl"] - 5.0).abs()
    torch.testing.assert_close(result.loss, expected)


def test_kl_per_dim_vector_sums_to_kl():
    out, x = _output()
    result = elbo(out, x)
    torch.testing.assert_close(result.vectors["kl_per_dim"].sum(), result.terms["kl"])


def test_iwae_bound_is_above_elbo_and_rises_with_k():
    model, w, b = linear_gaussian_vae(variance_factor=3.0)
    torch.manual_seed(0)
    x = (w @ torch.randn(2, 3000)).T + b + 0.5 * torch.randn(3000, 4)
    bounds = []
    for k in (1, 5, 50):
        torch.manual_seed(1)
        bounds.append(float(iwae_bound(model.log_importance_weights(x, k)).terms["iwae_bound"]))
    assert bounds[0] < bounds[1] < bounds[2]
    torch.manual_seed(1)
    iwae = IWAEObjective(k=5)(model, (x, None), 0)
    assert iwae.loss.requires_grad
    assert float(iwae.loss.detach()) == pytest.approx(-bounds[1], abs=0.05)


def test_schedules():
    warm = LinearWarmup(0.0, 1.0, steps=100, delay=10)
    assert [warm(s) for s in (0, 10, 60, 110, 500)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    cyc = Cyclical(period=100, ratio=0.5)
    assert [cyc(s) for s in (0, 25, 50, 99, 100, 125)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    cap = CapacityIncrease(max_capacity=20.0, steps=200)
    assert [cap(s) for s in (0, 100, 200, 1000)] == [0.0, 10.0, 20.0, 20.0]
    assert as_schedule(2.5)(123) == 2.5
    built = as_schedule({"type": "cyclical", "period": 10})
    assert built(5) == 1.0 and built.config() == {
        "type": "cyclical",
        "period": 10,
        "ratio": 0.5,
        "low": 0.0,
        "high": 1.0,
    }
    with pytest.raises(ValueError):
        LinearWarmup(steps=0)


def test_elbo_objective_uses_schedule_step():
    torch.manual_seed(0)
    model = build_vae([6], latent_dim=2, hidden=(8,))
    objective = ELBOObjective(beta={"type": "linear", "start": 0.0, "end": 1.0, "steps": 10})
    x = torch.rand(4, 6)
    assert float(objective(model, (x, None), 0).terms["beta"]) == 0.0
    assert float(objective(model, (x, None), 5).terms["beta"]) == 0.5
    result = objective(model, (x, None), 0)
    torch.testing.assert_close(result.loss, result.terms["reconstruction"])
    assert not math.isnan(float(result.loss.detach()))
