"""Exact cases of the latent diagnostics and of the estimator's normalisation."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.evaluate import active_units, bits_per_dim, log_likelihood, mutual_information
from vaekit.evaluate.likelihood import chunk_sizes


def test_active_units_use_burda_threshold_of_0_01():
    # Dimension variances (unbiased) exactly 0.02, 0.005 and 0.2: with threshold 0.01 two are active.
    base = torch.tensor([-1.0, 1.0]).repeat(50)  # unbiased variance 100/99
    scale = torch.tensor([0.02, 0.005, 0.2]).mul(99 / 100).sqrt()
    means = base[:, None] * scale[None, :]  # (100, 3)
    count, variance = active_units(means)
    torch.testing.assert_close(variance, torch.tensor([0.02, 0.005, 0.2]))
    assert count == 2
    assert active_units(means, threshold=0.1)[0] == 1


def test_mutual_information_is_zero_when_every_posterior_is_the_same():
    # q(z|x) identical for every x: log q(z|x_n) equals the aggregate log q(z) exactly, so I = 0
    # (an aggregate normalised by n - 1 instead of n would give log(n / (n - 1)) instead).
    means = torch.full((10, 2), 0.3)
    logvars = torch.full((10, 2), -1.0)
    assert mutual_information(means, logvars) == pytest.approx(0.0, abs=1e-6)


def test_mutual_information_of_separated_sharp_posteriors_is_log_n():
    # n posteriors so far apart that each z is explained by its own x alone: I = log n.
    n = 8
    means = 1000.0 * torch.arange(n, dtype=torch.float32)[:, None]
    logvars = torch.full((n, 1), -4.0)
    assert mutual_information(means, logvars) == pytest.approx(math.log(n), abs=1e-4)


def test_bits_per_dim_converts_nats_with_log_2():
    assert bits_per_dim(torch.tensor([64 * math.log(2.0), 3 * 64 * math.log(2.0)]), (1, 8, 8)) == pytest.approx(2.0)
    assert bits_per_dim(10.0, [10]) == pytest.approx(1 / math.log(2.0))


def test_chunk_sizes_add_up_to_k_and_respect_the_bound():
    for k, batch, pairs in ((1000, 50, 8192), (7, 3, 5), (5, 100, 10), (1, 1, 1)):
        sizes = chunk_sizes(k, batch, pairs)
        assert sum(sizes) == k and max(sizes) - min(sizes) <= 1
        assert max(sizes) <= max(1, pairs // batch) or max(sizes) == 1


class _KnownWeights(torch.nn.Module):
    """A stand-in model whose log importance weights are fixed numbers: log w_i = log(i + 1) for sample i."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def log_importance_weights(self, x: torch.Tensor, k: int, y: torch.Tensor | None = None) -> torch.Tensor:
        start = self.drawn
        self.drawn += k
        return torch.log(torch.arange(start + 1, start + k + 1, dtype=torch.float32))[:, None].expand(k, x.shape[0])


def test_estimator_normalises_by_k_over_all_chunks():
    model = _KnownWeights()
    x = torch.zeros(2, 3)
    for k, max_pairs in ((6, 100), (6, 4), (5, 2)):  # one chunk, then several
        model.drawn = 0
        estimate = log_likelihood(model, x, k=k, max_pairs=max_pairs, batch_size=2)
        expected = math.log(sum(range(1, k + 1)) / k)  # log mean of 1..k
        torch.testing.assert_close(estimate, torch.full((2,), expected))
