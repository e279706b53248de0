"""WAE-MMD: the MMD estimator against a brute-force computation, and the WAE trained through the one loop."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import SMALL
from tests.helpers import train_digits_model as _train
from vaekit.objectives import WAEObjective, kernel_matrix, mmd_unbiased


def _brute_force_mmd(x, y, c_values):
    def k(a, b):
        return sum(c / (c + float(((a - b) ** 2).sum())) for c in c_values)

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return xx + yy - 2 * xy


def test_mmd_matches_brute_force_computation():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 3, generator=gen, dtype=torch.float64), torch.randn(5, 3, generator=gen, dtype=torch.float64)
    scales = (0.5, 1.0, 2.0)
    expected = _brute_force_mmd(x, y, [s * 2 * 3 for s in scales])
    assert float(mmd_unbiased(x, y, scales=scales)) == pytest.approx(expected, rel=1e-10)
    # The IMQ kernel: C / (C + d^2), one term per scale.
    k = kernel_matrix(x[:1], y[:1], scales=(1.0,))
    assert float(k) == pytest.approx(6.0 / (6.0 + float(((x[0] - y[0]) ** 2).sum())))


def test_mmd_u_statistic_is_unbiased_and_detects_a_difference():
    gen = torch.Generator().manual_seed(0)
    n, draws, d = 16, 400, 4
    same, biased, shifted = [], [], []
    for _ in range(draws):
        a, b = (
            torch.randn(n, d, generator=gen, dtype=torch.float64),
            torch.randn(n, d, generator=gen, dtype=torch.float64),
        )
        same.append(float(mmd_unbiased(a, b)))
        k_ab = torch.cat([a, b])
        kk = kernel_matrix(k_ab, k_ab)
        biased.append(float(kk[:n, :n].mean() + kk[n:, n:].mean() - 2 * kk[:n, n:].mean()))  # V-statistic
        shifted.append(float(mmd_unbiased(a, b + 1.0)))
    same_t, biased_t = torch.tensor(same), torch.tensor(biased)
    stderr = float(same_t.std()) / math.sqrt(draws)
    assert abs(float(same_t.mean())) < 3 * stderr  # expectation 0: unbiased
    assert float(biased_t.mean()) > 10 * stderr  # the V-statistic is biased upward: the test could fail
    assert float(torch.tensor(shifted).mean()) > 20 * stderr
    assert min(same) < 0  # single U-statistics can be negative


@pytest.mark.parametrize("posterior", ["deterministic", "gaussian"])
def test_wae_trains_matches_the_prior_and_samples(digits, posterior):
    x = digits[0]
    model, history = _train({"type": "wae", **SMALL, "posterior": posterior}, WAEObjective(weight=10.0), x)
    first, last = history.train[0], history.train[-1]
    assert last["loss"] < first["loss"] - 5
    assert first["reconstruction"] - last["reconstruction"] > 5
    samples = model.sample(16)
    assert samples.shape == (16, 1, 8, 8) and float(samples.min()) >= 0 and float(samples.max()) <= 1
    # Encoded test data look like prior draws: their MMD is small next to that of shifted codes.
    model.eval()
    with torch.no_grad():
        codes = model.encode(digits[2]).rsample()  # z ~ q(z|x): the aggregate posterior
    prior = torch.randn(100, 4)
    assert float(mmd_unbiased(codes, prior)) < 0.25 * float(mmd_unbiased(codes + 2.0, prior))
