"""The point-mass posterior: a real distribution that says it has no density."""

from __future__ import annotations

import pytest
import torch

from vaekit.distributions import PointMass, diagonal_gaussian, has_density
from vaekit.evaluate import evaluate
from vaekit.registry import build_model


def test_draws_are_the_point_and_carry_gradients():
    loc = torch.randn(3, 2, requires_grad=True)
    q = PointMass(loc)
    assert q.batch_shape == (3,) and q.event_shape == (2,)
    draws = q.rsample((5,))
    assert draws.shape == (5, 3, 2) and torch.equal(draws[4], loc)
    draws.sum().backward()
    assert torch.equal(loc.grad, torch.full((3, 2), 5.0))
    assert torch.equal(q.mean, loc) and torch.equal(q.variance, torch.zeros(3, 2))


def test_it_declares_no_density_and_refuses_log_prob():
    q = PointMass(torch.zeros(2, 4))
    assert not has_density(q) and has_density(diagonal_gaussian(torch.zeros(2, 4), torch.zeros(2, 4)))
    with pytest.raises(ValueError, match="no density"):
        q.log_prob(torch.zeros(2, 4))


def test_a_vq_vae_reports_no_active_units_and_a_likelihood_bound():
    torch.manual_seed(0)
    spec = {"type": "vqvae", "num_codes": 8, "code_dim": 4, "channels": [8], "residual_blocks": 0, "init": "random"}
    model = build_model(spec, [1, 8, 8])
    report = evaluate(model, torch.rand(6, 1, 8, 8), k=2)
    assert report["active_units"] is None and report["mutual_information"] is None
    assert report["nll"] is not None and report["nll"] == pytest.approx(-report["elbo"], rel=1e-5)
