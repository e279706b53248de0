"""Active units at the edge of Burda et al.'s threshold, and the mutual-information estimator on small exact cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from vaekit.evaluate import active_units, mutual_information


def _column_with_variance(values: list[float], n: int = 100) -> torch.Tensor:
    """(n, len(values)) means whose unbiased per-column variances are exactly ``values`` (up to rounding)."""
    base = torch.tensor([-1.0, 1.0], dtype=torch.float64).repeat(n // 2)  # unbiased variance n / (n - 1)
    scale = torch.tensor(values, dtype=torch.float64).mul((n - 1) / n).sqrt()
    return (base[:, None] * scale[None, :]).float()


def test_active_units_threshold_is_0_01_with_narrow_margins():
    # Variances 1% above and below 0.01: only the first counts, at the default threshold.
    means = _column_with_variance([0.0101, 0.0099, 0.0102, 0.0098, 0.5])
    count, variance = active_units(means)
    torch.testing.assert_close(variance, torch.tensor([0.0101, 0.0099, 0.0102, 0.0098, 0.5]))
    assert count == 3


def test_active_units_criterion_is_strict():
    """A variance exactly at the threshold is not active (Cov > threshold, not >=)."""
    means = torch.tensor([[0.0, 0.0], [1.0, 2.0]])  # unbiased variances exactly 0.5 and 2.0
    count, variance = active_units(means, threshold=0.5)
    assert variance.tolist() == [0.5, 2.0]
    assert count == 1


def test_active_units_use_the_unbiased_variance_over_examples():
    # Three examples, four dimensions (non-square): variance over dim 0 with divisor N - 1 = 2.
    means = torch.tensor([[0.0, 1.0, 0.0, 3.0], [0.3, 1.0, 0.0, 0.0], [0.6, 1.0, 0.0, -3.0]])
    count, variance = active_units(means)
    torch.testing.assert_close(variance, torch.tensor([0.09, 0.0, 0.0, 9.0]))
    assert count == 2


@pytest.mark.parametrize("n", [1, 2])
def test_active_units_of_one_example_are_zero_and_two_examples_have_a_spread(n):
    means = torch.tensor([[0.0, 1.0, 2.0], [0.2, 1.0, 4.0]])[:n]
    count, variance = active_units(means)
    expected = torch.zeros(3) if n == 1 else torch.tensor([0.02, 0.0, 2.0])
    torch.testing.assert_close(variance, expected)
    assert count == (0 if n == 1 else 2)


def _hoffman_johnson(means: np.ndarray, logvars: np.ndarray, eps: np.ndarray) -> float:
    """mean_m [log q(z_m|x_m) - log (1/N) sum_n q(z_m|x_n)] with z_m = mu_m + sigma_m eps_m, by scipy."""
    std = np.exp(0.5 * logvars)
    z = means + std * eps
    log_q = norm.logpdf(z[:, None, :], means[None], std[None]).sum(-1)  # (N_z, N_x)
    return float(np.mean(np.diag(log_q) - (logsumexp(log_q, axis=1) - math.log(len(means)))))


def test_mutual_information_matches_a_direct_computation_on_a_small_case():
    """Three examples with different posterior widths: the estimate equals the formula evaluated on the seeded
    draw z = mu + sigma * eps, eps ~ N(0, I) from a generator seeded with ``seed`` (default 0)."""
    means = torch.tensor([[0.0, 1.0], [0.5, -0.5], [1.5, 0.2]])
    logvars = torch.tensor([[-1.0, 0.5], [0.3, -0.2], [-0.6, 1.2]])
    for seed in (0, 3):
        eps = torch.randn(means.shape, generator=torch.Generator().manual_seed(seed))
        expected = _hoffman_johnson(means.double().numpy(), logvars.double().numpy(), eps.double().numpy())
        kwargs = {} if seed == 0 else {"seed": seed}
        got = mutual_information(means, logvars, max_examples=3, **kwargs)
        assert got == pytest.approx(expected, abs=1e-5)
    assert 0.05 < expected < math.log(3)  # neither degenerate case


def test_mutual_information_subsamples_max_examples_with_the_seeded_generator():
    """With N > max_examples the estimate is the formula over the seeded random subset, then the seeded draw."""
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(8, 2, generator=gen)
    logvars = 0.5 * torch.randn(8, 2, generator=gen)
    replay = torch.Generator().manual_seed(0)
    pick = torch.randperm(8, generator=replay)[:3]
    eps = torch.randn((3, 2), generator=replay)
    expected = _hoffman_johnson(means[pick].double().numpy(), logvars[pick].double().numpy(), eps.double().numpy())
    assert mutual_information(means, logvars, max_examples=3) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(("n", "max_examples", "expected_n"), [(8, 3, 3), (1001, 1000, 1000)])
def test_mutual_information_of_separated_posteriors_counts_the_examples_used(n, max_examples, expected_n):
    # Separated sharp posteriors give I = log of the number of examples in the aggregate (default 1000).
    means = 100.0 * torch.arange(n, dtype=torch.float32)[:, None]
    logvars = torch.full((n, 1), -4.0)
    kwargs = {"max_examples": max_examples} if max_examples != 1000 else {}
    assert mutual_information(means, logvars, **kwargs) == pytest.approx(math.log(expected_n), abs=1e-4)
