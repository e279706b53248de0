"""Posterior heads: encoder features -> q(z|x)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, constraints

from vaekit.registry import Part, register


def diagonal_gaussian(mu: Tensor, logvar: Tensor) -> Independent:
    """N(mu, diag(exp(logvar))) as ``Independent(Normal)`` over the last dimension.

    ``rsample`` draws z = mu + sigma * eps, so gradients reach mu and logvar.
    """
    return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1)


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


class PointMass(Distribution):
    """A point mass (Dirac delta) at ``loc`` over the last dimension: batch shape loc.shape[:-1], event (D,).

    It is a real distribution for everything that does not need a density: draws (``rsample`` returns
    ``loc``, so gradients reach it), ``mean`` and ``variance`` (zero). It has no density with respect to
    Lebesgue measure, so ``log_prob`` and ``entropy`` raise a ValueError, and ``has_density`` is False:
    callers ask :func:`has_density` instead of testing the type, and skip likelihood figures.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True
    has_density = False

    def __init__(self, loc: Tensor):
        if loc.dim() < 1:
            raise ValueError("a point mass needs at least one (event) dimension")  # pragma: no mutate (message text)
        self.loc = loc
        super().__init__(batch_shape=loc.shape[:-1], event_shape=loc.shape[-1:])  # arg_constraints is empty

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return torch.zeros_like(self.loc)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        return self.loc.expand(*sample_shape, *self.loc.shape)

    def log_prob(self, value: Tensor) -> Tensor:  # pragma: no mutate block (message text)
        raise ValueError("a point-mass posterior has no density: log q(z|x) (and so the ELBO's KL) is undefined")

    def entropy(self) -> Tensor:  # pragma: no mutate block (message text)
        raise ValueError("a point-mass posterior has no density, so no differential entropy")


def has_density(distribution: Distribution) -> bool:
    """Whether ``distribution`` has a density (or mass function) that ``log_prob`` evaluates.

    Distributions declare it with a ``has_density`` attribute (False for :class:`PointMass`); torch's
    own distributions all have one.
    """
    return bool(getattr(distribution, "has_density", True))


@register("posterior", "deterministic")
class DeterministicPosterior(Part):
    """A point mass at the encoder's output (a Dirac posterior, as in a deterministic WAE).

    Args:
        in_features: width of the encoder features (plus the condition, for a CVAE).
        latent_dim: number of latent dimensions.
        scale: not used (a point mass has no spread); accepted so that configs saved by earlier
            versions, which represented the point mass as a Gaussian of this scale, still load.
    """

    has_density = False

    def __init__(self, in_features: int, latent_dim: int, scale: float = 1e-6):  # pragma: no mutate (scale unused)
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.head = nn.Linear(int(in_features), self.latent_dim)

    def forward(self, h: Tensor) -> PointMass:
        return PointMass(self.head(h))  # (B, D)
