"""The importance-sampled estimator and the latent diagnostics."""

import pytest
import torch

from tests.helpers import exact_log_likelihood, linear_gaussian_vae
from vaekit.evaluate import active_units, evaluate, log_likelihood, mutual_information
from vaekit.evaluate.latent import elbo_terms
from vaekit.models import build_vae


def test_exact_posterior_gives_exact_log_likelihood():
    model, w, b = linear_gaussian_vae()
    torch.manual_seed(0)
    x = (w @ torch.randn(2, 50)).T + b + 0.5 * torch.randn(50, 4)
    torch.manual_seed(1)
    estimate = log_likelihood(model, x, k=3)
    torch.testing.assert_close(estimate, exact_log_likelihood(x, w, b, 0.5), atol=1e-4, rtol=1e-5)


def test_estimate_rises_with_k_and_converges_to_true_log_likelihood():
    model, w, b = linear_gaussian_vae(variance_factor=4.0)  # a deliberately poor posterior
    torch.manual_seed(0)
    x = (w @ torch.randn(2, 4000)).T + b + 0.5 * torch.randn(4000, 4)
    truth = float(exact_log_likelihood(x, w, b, 0.5).mean())
    torch.manual_seed(1)
    elbo = elbo_terms(model, x)["elbo"]
    estimates = []
    for k in (1, 10, 100, 2000):
        torch.manual_seed(2)
        estimates.append(float(log_likelihood(model, x, k=k).mean()))
    assert abs(estimates[0] - elbo) < 0.15  # k = 1 is the ELBO in expectation
    assert estimates[1] > elbo + 0.1
    assert all(a <= b + 1e-3 for a, b in zip(estimates, estimates[1:]))
    assert estimates[-1] <= truth + 0.01
    assert truth - estimates[-1] < 0.02


def test_chunked_estimate_has_bounded_pairs_and_same_value():
    model, w, b = linear_gaussian_vae(variance_factor=2.0)
    torch.manual_seed(0)
    x = (w @ torch.randn(2, 40)).T + b
    calls = []
    original = model.log_importance_weights

    def spy(xb, k, y=None):
        calls.append(xb.shape[0] * k)
        return original(xb, k, y)

    model.log_importance_weights = spy
    torch.manual_seed(0)
    small = log_likelihood(model, x, k=500, batch_size=20, max_pairs=1000)
    assert max(calls) <= 1000
    calls.clear()
    torch.manual_seed(0)
    large = log_likelihood(model, x, k=500, batch_size=40, max_pairs=10**6)
    assert len(calls) == 1
    torch.testing.assert_close(small.mean(), large.mean(), atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="k must be"):
        log_likelihood(model, x, k=0)


def test_active_units_and_mutual_information():
    means = torch.cat([torch.randn(500, 2), 0.01 * torch.randn(500, 3)], dim=1)
    count, variance = active_units(means)
    assert count == 2 and variance.shape == (5,)
    # Posteriors equal to the prior carry no information about x.
    assert abs(mutual_information(torch.zeros(400, 3), torch.zeros(400, 3))) < 0.05
    # Sharp posteriors spread over the latent space carry a lot.
    assert mutual_information(3 * torch.randn(400, 3), torch.full((400, 3), -6.0)) > 4.0


def test_evaluate_reports_every_figure():
    torch.manual_seed(0)
    model = build_vae([1, 4, 4], latent_dim=3, hidden=(16,))
    x = torch.rand(30, 1, 4, 4).round()
    report = evaluate(model, x, k=20)
    for key in ("elbo", "reconstruction", "kl", "nll", "bits_per_dim", "active_units", "mutual_information"):
        assert key in report
    assert report["nll"] <= -report["elbo"] + 1e-3
    assert report["bits_per_dim"] == pytest.approx(report["nll"] / (16 * 0.6931471805599453))
    assert len(report["kl_per_dim"]) == 3


def test_point_mass_posterior_reports_no_likelihood():
    torch.manual_seed(0)
    model = build_vae([6], latent_dim=2, hidden=(8,), posterior="deterministic")
    report = evaluate(model, torch.rand(20, 6), k=5)
    assert report["nll"] is None and report["bits_per_dim"] is None and report["mutual_information"] is None
    assert report["reconstruction"] > 0
