"""Posterior heads: encoder features -> q(z|x)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from vaekit.registry import Part, register


def diagonal_gaussian(mu: Tensor, logvar: Tensor) -> Independent:
    """N(mu, diag(exp(logvar))) as ``Independent(Normal)`` over the last dimension.

    ``rsample`` draws z = mu + sigma * eps, so gradients reach mu and logvar.
    """
    return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1, validate_args=False)


@register("posterior", "gaussian")
class DiagonalGaussianPosterior(Part):
    """Linear mean and log-variance heads giving a diagonal Gaussian q(z|x).

    Args:
        in_features: width of the encoder features (plus the condition, for a CVAE).
        latent_dim: number of latent dimensions.
        min_logvar: floor of the log-variance, against numerical underflow.
        max_logvar: ceiling of the log-variance, against overflow early in training.
    """

    def __init__(self, in_features: int, latent_dim: int, min_logvar: float = -20.0, max_logvar: float = 10.0):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.min_logvar, self.max_logvar = float(min_logvar), float(max_logvar)
        self.head = nn.Linear(int(in_features), 2 * self.latent_dim)

    def forward(self, h: Tensor) -> Independent:
        mu, logvar = self.head(h).chunk(2, dim=-1)  # (B, D) each
        return diagonal_gaussian(mu, logvar.clamp(self.min_logvar, self.max_logvar))


@register("posterior", "deterministic")
class DeterministicPosterior(Part):
    """A point mass at the encoder's output (a Dirac posterior, as in a deterministic WAE).

    It is represented as a Gaussian with a tiny fixed scale so every consumer keeps one
    interface; ``rsample`` returns the mean up to that scale.
    """

    def __init__(self, in_features: int, latent_dim: int, scale: float = 1e-6):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.log_scale = 2.0 * float(torch.log(torch.tensor(scale)))
        self.head = nn.Linear(int(in_features), self.latent_dim)

    def forward(self, h: Tensor) -> Independent:
        mu = self.head(h)
        return diagonal_gaussian(mu, torch.full_like(mu, self.log_scale))
