"""The importance-sampled estimator: chunking for a batch of one, and the conditions of a conditional model."""

from __future__ import annotations

import math

import torch

from vaekit.evaluate.likelihood import chunk_sizes, log_likelihood


def test_chunk_sizes_for_one_example_use_the_whole_pair_budget():
    assert chunk_sizes(20, 1, 10) == [10, 10]
    assert chunk_sizes(7, 1, 3) == [3, 2, 2]
    assert chunk_sizes(5, 0, 3) == [3, 2]  # an empty batch counts as one example


class ConditionalExact(torch.nn.Module):
    """A model (not a BaseModel) with p(x | y) = N(x; y, I) and q(z | x, y) = p(z | x, y): every weight is p(x|y)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def log_importance_weights(self, x: torch.Tensor, k: int, y: torch.Tensor) -> torch.Tensor:
        log_p = (-0.5 * (x - y[:, None]) ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)  # (B,)
        return log_p.expand(k, x.shape[0])


def test_log_likelihood_passes_the_conditions_to_the_model():
    x = torch.tensor([[0.0, 1.0], [2.0, 2.0], [1.0, -1.0]])
    y = torch.tensor([1.0, 2.0, 0.0])
    estimate = log_likelihood(ConditionalExact(), x, y, k=4, batch_size=2)
    expected = torch.tensor([-0.5, 0.0, -1.0]) - math.log(2 * math.pi)  # sum over dims of -(x-y)^2/2 - log(2 pi)/2
    torch.testing.assert_close(estimate, expected)
