"""Image likelihoods on tiny grids: exact bin masses (scipy), edge bins, shapes and the data checks."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import logistic

from vaekit.distributions import CategoricalImage, CategoricalLikelihood, DiscretizedLogisticLikelihood


def bin_log_mass(index: int, levels: int, loc: float, scale: float) -> float:
    """log P(bin) of a logistic on [-1, 1] cut into ``levels`` bins, the edge bins taking the tails (float64)."""
    centre, half = index / (levels - 1) * 2 - 1, 1 / (levels - 1)
    upper = 1.0 if index == levels - 1 else logistic.cdf(centre + half, loc, scale)
    lower = 0.0 if index == 0 else logistic.cdf(centre - half, loc, scale)
    return math.log(upper - lower)


def test_discretized_logistic_bin_masses_on_a_seven_level_grid():
    """Seven levels (bins of width 1/3, centres not exact in float32): every bin, edges included, has its mass."""
    levels, loc, log_scale = 7, [0.3, -0.8, 0.9], [-1.0, -0.5, -2.0]
    params = torch.tensor([loc, log_scale], dtype=torch.float64).T  # (3 examples, 2): loc, log-scale
    dist = DiscretizedLogisticLikelihood(levels=levels)(params, 1)
    assert dist.batch_shape == (3,)
    for k in range(levels):
        got = dist.log_prob(torch.full((3, 1), k / (levels - 1), dtype=torch.float64))
        expected = [bin_log_mass(k, levels, m, math.exp(s)) for m, s in zip(loc, log_scale)]
        torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=1e-9)
        integer = dist.log_prob(torch.full((3, 1), k))  # integer data are level indices
        torch.testing.assert_close(integer, got)


def test_discretized_logistic_far_bin_uses_density_times_width():
    """A middle bin far in the tail (mass below 1e-5): log of the logistic density at the centre times 2/(L-1)."""
    levels, loc, s = 9, -0.5, math.exp(-3.0)
    params = torch.tensor([[loc, -3.0]], dtype=torch.float64)
    got = DiscretizedLogisticLikelihood(levels=levels)(params, 1).log_prob(torch.tensor([[6 / 8]], dtype=torch.float64))
    centre = 6 / 8 * 2 - 1
    expected = logistic.logpdf(centre, loc, s) + math.log(2 / (levels - 1))
    assert abs(float(got) - expected) < 1e-7


def test_discretized_logistic_shapes_over_image_batches():
    """(2 examples, 3 channels, 2 x 2 pixels) of 4 levels: log_prob sums the 12 values of each example."""
    torch.manual_seed(0)
    loc, log_scale = torch.rand(2, 3, 2, 2) * 2 - 1, torch.rand(2, 3, 2, 2) - 2
    dist = DiscretizedLogisticLikelihood(levels=4)(torch.cat([loc, log_scale], 1), 3)
    assert dist.batch_shape == (2,)
    x = torch.randint(0, 4, (2, 3, 2, 2))
    expected = [
        sum(
            bin_log_mass(int(k), 4, float(m), math.exp(float(s)))
            for k, m, s in zip(*(t[b].flatten() for t in (x, loc, log_scale)))
        )
        for b in range(2)
    ]
    torch.testing.assert_close(dist.log_prob(x / 3), torch.tensor(expected), rtol=1e-4, atol=1e-4)


def test_float_values_off_the_grid_map_to_the_nearest_edge_level():
    lik = CategoricalLikelihood(levels=5)
    logits = torch.tensor([[0.1, 0.4, -0.3, 1.0, -2.0], [2.0, 0.0, 0.3, -0.5, 0.7]])  # (2, 5 levels x 1 value)
    dist = lik(logits, 1)
    log_p = torch.log_softmax(logits, -1)
    torch.testing.assert_close(dist.log_prob(torch.tensor([[1.2], [-0.2]])), torch.stack([log_p[0, 4], log_p[1, 0]]))
    dl = DiscretizedLogisticLikelihood(levels=5)(torch.tensor([[0.2, -1.0]]), 1)
    torch.testing.assert_close(dl.log_prob(torch.tensor([[1.2]])), dl.log_prob(torch.tensor([[1.0]])))
    torch.testing.assert_close(dl.log_prob(torch.tensor([[-0.2]])), dl.log_prob(torch.tensor([[0.0]])))


def test_categorical_batch_shape_and_samples_on_the_grid():
    torch.manual_seed(0)
    lik = CategoricalLikelihood(levels=3)
    assert lik.discrete_levels == 3 and lik.param_channels == 3
    dist = lik(torch.randn(4, 3 * 2, 5, 7), 3)  # 4 examples of (2, 5, 7) values
    assert dist.batch_shape == (4,)
    assert CategoricalLikelihood().levels == 256
    direct = CategoricalImage(torch.tensor([[0.0, 0.0, 0.0]]), 0)  # values, not indices, by default
    torch.testing.assert_close(direct.mean, torch.tensor([0.5]))
    assert direct.sample().dtype == torch.float32
    draws = dist.sample((6,))
    assert draws.shape == (6, 4, 2, 5, 7) and draws.dtype == torch.float32
    assert set(np.unique(draws.numpy()).tolist()) == {0.0, 0.5, 1.0}


def test_likelihood_data_checks_accept_the_closed_unit_interval():
    for lik in (CategoricalLikelihood(levels=2), DiscretizedLogisticLikelihood(levels=4)):
        lik.check_data(torch.tensor([0.0, 0.5, 1.0]))
        lik.check_data(torch.zeros(0))
        for bad in ([-0.01, 0.5], [0.5, 1.01], [1.5]):
            with pytest.raises(ValueError, match=r"\[0, 1\]"):
                lik.check_data(torch.tensor(bad))
    CategoricalLikelihood(levels=4).check_data(torch.tensor([0, 3, 7]))  # integer class indices are not checked
    messages = {
        CategoricalLikelihood(): "a categorical likelihood needs float data in [0, 1] (or integer class indices)",
        DiscretizedLogisticLikelihood(): "a discretized logistic likelihood needs data in [0, 1]",
    }
    for lik, message in messages.items():
        with pytest.raises(ValueError) as info:
            lik.check_data(torch.tensor([2.0]))
        assert str(info.value) == message
    assert DiscretizedLogisticLikelihood(levels=4).discrete_levels == 4


def test_categorical_needs_two_levels():
    assert CategoricalLikelihood(levels=2).levels == 2
    with pytest.raises(ValueError, match="at least 2 levels, got 1"):
        CategoricalLikelihood(levels=1)
