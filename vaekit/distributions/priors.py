"""Priors p(z): standard normal, a learned mixture of Gaussians, and the VampPrior."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from vaekit.registry import Part, register


class Prior(Part):
    """A prior over ``latent_dim`` latents: ``forward()`` gives the distribution."""

    latent_dim: int

    def forward(self) -> Distribution:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, n: int, temperature: float = 1.0) -> Tensor:  # pragma: no mutate block (abstract)
        """n draws, with the spread scaled by ``temperature`` (1 = the prior itself)."""
        raise NotImplementedError

    def attach(self, model: Any) -> None:
        """Called by the model that owns this prior (priors that need the encoder use it)."""


@register("prior", "normal")
class StandardNormalPrior(Prior):
    """N(0, I): the KL against a Gaussian posterior has a closed form."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.register_buffer("loc", torch.zeros(self.latent_dim))
        self.register_buffer("scale", torch.ones(self.latent_dim))

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1)

    def sample(self, n: int, temperature: float = 1.0) -> Tensor:
        return temperature * self.loc.new_empty(n, self.latent_dim).normal_()  # on the prior's device


def _mixture(logits: Tensor, means: Tensor, log_stds: Tensor) -> MixtureSameFamily:
    components = Independent(Normal(means, log_stds.exp(), validate_args=False), 1)  # Independent validates nothing
    return MixtureSameFamily(Categorical(logits=logits, validate_args=False), components, validate_args=False)


def _sample_mixture(logits: Tensor, means: Tensor, log_stds: Tensor, n: int, temperature: float) -> Tensor:
    k = torch.multinomial(torch.softmax(logits, -1), n, replacement=True)  # (n,)
    return torch.normal(means[k], temperature * log_stds.exp()[k])  # (n, D)


@register("prior", "mixture")
class MixtureOfGaussiansPrior(Prior):
    """A learned mixture of ``components`` diagonal Gaussians (KL by Monte Carlo).

    Args:
        latent_dim: number of latent dimensions.
        components: number of mixture components.
        spread: standard deviation of the initial component means.
    """

    def __init__(self, latent_dim: int, components: int = 10, spread: float = 1.0):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.logits = nn.Parameter(torch.zeros(int(components)))
        self.means = nn.Parameter(float(spread) * torch.randn(int(components), self.latent_dim))
        self.log_stds = nn.Parameter(torch.zeros(int(components), self.latent_dim))

    def forward(self) -> Distribution:
        return _mixture(self.logits, self.means, self.log_stds)

    def sample(self, n: int, temperature: float = 1.0) -> Tensor:
        with torch.no_grad():
            return _sample_mixture(self.logits, self.means, self.log_stds, n, temperature)


@register("prior", "vamp")
class VampPrior(Prior):
    """VampPrior (Tomczak & Welling 2018): p(z) = mean_k q(z | u_k) over learned pseudo-inputs u_k.

    Args:
        latent_dim: number of latent dimensions.
        input_shape: shape of one input example (the pseudo-inputs have it).
        components: number of pseudo-inputs.
    """

    def __init__(self, latent_dim: int, input_shape: Sequence[int], components: int = 50):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.input_shape = tuple(int(s) for s in input_shape)
        # Start near the middle of [0, 1] data, where real inputs lie.
        self.pseudo_inputs = nn.Parameter(torch.normal(0.5, 0.05, (int(components), *self.input_shape)))
        self._model: Any = None

    def attach(self, model: Any) -> None:
        if getattr(model, "conditioner", None) is not None:
            raise ValueError("the VampPrior cannot be used with a conditional model (its q(z|x) needs a label)")
        self._model = weakref.ref(model)

    def _components(self) -> tuple[Tensor, Tensor]:
        if self._model is None or self._model() is None:
            raise RuntimeError("VampPrior is not attached to a model; build it through VAE(...)")
        q = self._model().encode(self.pseudo_inputs, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        return q.base_dist.loc, q.base_dist.scale.log()

    def forward(self) -> Distribution:
        means, log_stds = self._components()
        logits = means.new_zeros(means.shape[0])  # equal weights 1/K
        return _mixture(logits, means, log_stds)

    def sample(self, n: int, temperature: float = 1.0) -> Tensor:
        with torch.no_grad():
            means, log_stds = self._components()
            return _sample_mixture(means.new_zeros(means.shape[0]), means, log_stds, n, temperature)
