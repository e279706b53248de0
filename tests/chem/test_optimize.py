"""The Gaussian process and expected improvement behind the Bayesian optimisation of molecules."""

from __future__ import annotations

import warnings

import pytest
import torch

from vaekit.chem.optimize import GaussianProcess, expected_improvement


def test_expected_improvement_matches_monte_carlo():
    torch.manual_seed(0)
    mean, std = torch.tensor([0.2, -1.0, 1.5]), torch.tensor([0.5, 2.0, 0.1])
    draws = mean + std * torch.randn(400_000, 3)
    monte_carlo = (draws - 1.0).clamp_min(0).mean(0)
    assert torch.allclose(expected_improvement(mean, std, 1.0), monte_carlo, atol=3e-3)


def test_gaussian_process_interpolates_a_smooth_function_and_is_unsure_far_away():
    torch.manual_seed(0)
    x = torch.rand(60, 2) * 4 - 2
    y = torch.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2
    gp = GaussianProcess(x, y, iterations=150)
    test = torch.rand(30, 2) * 3 - 1.5
    mean, std = gp.predict(test)
    truth = torch.sin(test[:, 0]) + 0.5 * test[:, 1] ** 2
    assert float((mean - truth.double()).abs().max()) < 0.15
    far_mean, far_std = gp.predict(torch.tensor([[30.0, 30.0]]))
    assert float(far_std) > 5 * float(std.mean())
    assert float(far_mean) == pytest.approx(float(y.mean()), abs=0.3)


def test_gaussian_process_on_one_point_is_finite_and_centred_on_it():
    """The first round of `vaekit optimize --starts 1` fits one scored point: no spread to standardize by."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "std(): degrees of freedom is <= 0"
        gp = GaussianProcess(torch.tensor([[0.5, -0.5]]), torch.tensor([2.0]), iterations=20)
        mean, std = gp.predict(torch.tensor([[0.5, -0.5], [30.0, 30.0]]))
    assert torch.isfinite(mean).all() and torch.isfinite(std).all()
    assert float(mean[1]) == pytest.approx(2.0) and float(std[1]) > float(std[0])
