"""The MMD kernels and the unbiased estimator against explicit loops over pairs, their argument checks, and
the WAE objective against its parts on the same draws."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.models import build_vae
from vaekit.objectives import WAEObjective, kernel_matrix, mmd_unbiased


def _k(a: torch.Tensor, b: torch.Tensor, kernel: str, bandwidths: list[float]) -> float:
    d2 = float(((a - b) ** 2).sum())
    if kernel == "imq":
        return sum(c / (c + d2) for c in bandwidths)
    return sum(math.exp(-d2 / c) for c in bandwidths)


def _brute_force_mmd(x, y, kernel, bandwidths):
    n, m = len(x), len(y)
    xx = sum(_k(x[i], x[j], kernel, bandwidths) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(_k(y[i], y[j], kernel, bandwidths) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(_k(x[i], y[j], kernel, bandwidths) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def _samples(n: int = 5, m: int = 4, d: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = 0.7 * torch.randn(m, d, generator=g, dtype=torch.float64) + 0.4
    return x, y


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_kernel_matrix_matches_each_pair(kernel):
    """Bandwidths C = s * 2 * D * prior_variance, here D = 3 and prior variance 0.5."""
    a, b = _samples(3, 4)
    scales = (0.5, 2.0)
    bandwidths = [s * 2 * 3 * 0.5 for s in scales]
    k = kernel_matrix(a, b, kernel, scales, prior_variance=0.5)
    assert k.shape == (3, 4)
    expected = torch.tensor(
        [[_k(a[i], b[j], kernel, bandwidths) for j in range(4)] for i in range(3)], dtype=torch.float64
    )
    torch.testing.assert_close(k, expected, rtol=1e-10, atol=1e-12)


def test_kernel_bandwidth_uses_the_code_width_of_batched_inputs():
    """For a stack of samples (S, N, D) the bandwidth scales with D (the last axis), not with N."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    b = torch.randn(2, 4, 5, generator=g, dtype=torch.float64)
    k = kernel_matrix(a, b, "imq", (1.0,))
    assert k.shape == (2, 3, 4)
    torch.testing.assert_close(k[1], kernel_matrix(a[1], b[1], "imq", (1.0,)))
    assert float(k[0, 2, 1]) == pytest.approx(_k(a[0, 2], b[0, 1], "imq", [10.0]), rel=1e-12)


def test_unknown_kernel_is_rejected():
    a, b = _samples()
    with pytest.raises(ValueError, match="kernel"):
        kernel_matrix(a, b, "laplace")
    with pytest.raises(ValueError, match="kernel"):
        WAEObjective(kernel="laplace")


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
@pytest.mark.parametrize("sizes", [(5, 4), (2, 2), (2, 6)])
def test_unbiased_mmd_matches_the_double_loop(kernel, sizes):
    x, y = _samples(*sizes)
    scales = (0.2, 1.0, 3.0)
    bandwidths = [s * 2 * 3 * 2.5 for s in scales]
    value = mmd_unbiased(x, y, kernel, scales, prior_variance=2.5)
    assert float(value) == pytest.approx(_brute_force_mmd(x, y, kernel, bandwidths), rel=1e-10, abs=1e-14)


@pytest.mark.parametrize(
    "shapes",
    [((4, 3, 2), (5, 3)), ((4, 3), (5, 3, 1)), ((4, 3), (5, 2)), ((4,), (5, 3)), ((4, 3), (3,))],
)
def test_mmd_rejects_samples_that_are_not_matrices_of_one_width(shapes):
    a, b = (torch.zeros(s, dtype=torch.float64) for s in shapes)
    with pytest.raises(ValueError, match="width"):
        mmd_unbiased(a, b)


@pytest.mark.parametrize("sizes", [(1, 4), (4, 1), (1, 1)])
def test_mmd_needs_two_samples_of_each(sizes):
    x, y = _samples(*sizes)
    with pytest.raises(ValueError, match="at least 2"):
        mmd_unbiased(x, y)


def _wae_model():
    torch.manual_seed(0)
    model = build_vae([6], latent_dim=3, hidden=(8,)).double()
    x = torch.rand(5, 6, dtype=torch.float64).round()
    return model, x


def test_wae_objective_is_reconstruction_plus_weighted_mmd_on_the_same_draws():
    """A float64 model (prior draws are cast to the codes' dtype), an RBF kernel and a scheduled weight."""
    model, x = _wae_model()
    weight = {"type": "linear", "start": 1.0, "end": 5.0, "steps": 8}
    objective = WAEObjective(weight=weight, kernel="rbf", scales=(0.5, 2.0), prior_variance=3.0)
    torch.manual_seed(1)
    result = objective(model, x, 4)
    torch.manual_seed(1)
    out = model(x, check=False)
    prior = model.prior.sample(5).double()
    rec = -out.p_x.log_prob(x).mean().detach()
    mmd = _brute_force_mmd(out.z.detach(), prior, "rbf", [0.5 * 18, 2.0 * 18])
    assert float(result.terms["reconstruction"]) == pytest.approx(float(rec), rel=1e-12)
    assert float(result.terms["mmd"]) == pytest.approx(mmd, rel=1e-9)
    assert float(result.terms["mmd_weight"]) == 3.0
    assert float(result.loss.detach()) == pytest.approx(float(rec) + 3.0 * mmd, rel=1e-9)
    torch.testing.assert_close(result.terms["loss"], result.loss.detach())


def test_wae_objective_defaults():
    """Weight 10, the IMQ kernel over the default scales, prior variance 1; x outside the Bernoulli support is
    not re-validated (the training loop checks the data once)."""
    model, _ = _wae_model()
    x = torch.full((5, 6), 1.5, dtype=torch.float64)
    torch.manual_seed(1)
    result = WAEObjective()(model, x, 0)
    torch.manual_seed(1)
    out = model(x, check=False)
    prior = model.prior.sample(5).double()
    bandwidths = [s * 2 * 3 for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)]
    mmd = _brute_force_mmd(out.z.detach(), prior, "imq", bandwidths)
    rec = float(-out.p_x.log_prob(x).mean().detach())
    assert float(result.terms["mmd_weight"]) == 10.0
    assert float(result.loss.detach()) == pytest.approx(rec + 10.0 * mmd, rel=1e-9)
