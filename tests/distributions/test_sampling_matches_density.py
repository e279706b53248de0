"""Samples of the image likelihoods fall on each grid level as often as exp(log_prob) says."""

import torch

from vaekit.distributions import CategoricalLikelihood, DiscretizedLogisticLikelihood

N = 200_000
LEVELS = 5


def level_probabilities(dist, levels: int) -> torch.Tensor:
    """(elements, levels): exp(log_prob) of every grid value, for a distribution over one value per row."""
    grid = torch.linspace(0, 1, levels)
    return torch.stack([dist.log_prob(torch.full((dist.batch_shape[0], 1), float(v))).exp() for v in grid], -1)


def level_frequencies(samples: torch.Tensor, levels: int) -> torch.Tensor:
    """(elements, levels): how often each row's samples take each grid value (samples (N, elements, 1))."""
    index = samples[..., 0] * (levels - 1)
    assert torch.allclose(index, index.round(), atol=1e-5), "samples off the grid"
    return torch.stack([(index.round() == k).float().mean(0) for k in range(levels)], -1)


def test_discretized_logistic_samples_follow_its_bin_masses():
    torch.manual_seed(0)
    loc = torch.tensor([[-0.7], [0.1], [0.55], [1.3]])  # one location outside [-1, 1]: the edge bin's tail
    log_scale = torch.tensor([[-1.2], [-0.5], [-2.0], [-0.8]])
    params = torch.cat([loc, log_scale], 1)  # (4, 2): loc and log-scale of one value per row
    dist = DiscretizedLogisticLikelihood(levels=LEVELS)(params, 1)
    probabilities = level_probabilities(dist, LEVELS)
    torch.testing.assert_close(probabilities.sum(-1), torch.ones(4))
    frequencies = level_frequencies(dist.sample((N,)), LEVELS)
    assert (frequencies - probabilities).abs().max() < 0.006, (frequencies, probabilities)


def test_categorical_samples_follow_the_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5, 1.0], [-3.0, 1.0, 1.0, 0.0, 2.5]])  # (2 rows, 5 levels)
    params = logits  # (2, K * 1): the levels stacked along the first (only) data dimension
    dist = CategoricalLikelihood(levels=LEVELS)(params, 1)
    probabilities = level_probabilities(dist, LEVELS)
    torch.testing.assert_close(probabilities, torch.softmax(logits, -1))
    frequencies = level_frequencies(dist.sample((N,)), LEVELS)
    assert (frequencies - probabilities).abs().max() < 0.006
    tokens = CategoricalLikelihood(levels=LEVELS, as_index=True)(params, 1).sample((N,))
    assert tokens.dtype == torch.long
    counts = torch.stack([(tokens[..., 0] == k).float().mean(0) for k in range(LEVELS)], -1)
    assert (counts - probabilities).abs().max() < 0.006
