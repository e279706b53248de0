"""The VAE as a composition of parts: encoder, posterior, prior, decoder, likelihood (+ conditioner)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.priors import Prior
from vaekit.models.base import BaseModel, ModelExample
from vaekit.models.conditioner import Conditioner
from vaekit.registry import register


@register("model", "vae")
class VAE(BaseModel):
    """A variational autoencoder built from parts; with a conditioner it is a CVAE.

    q(z|x[,y]) = posterior(cat(encoder(x), c)),  p(x|z[,y]) = likelihood(decoder(cat(z, c))),
    where c = conditioner(y).

    Args:
        data_shape: shape of one example, e.g. ``[1, 8, 8]`` or ``[64]``.
        encoder: network from data to features (``out_features`` wide).
        posterior: head from features to q(z|x).
        prior: p(z).
        decoder: network from z (plus c) to likelihood parameters.
        likelihood: decoder output -> p(x|z).
        conditioner: optional; makes this a conditional VAE.
    """

    def __init__(
        self,
        data_shape: Sequence[int],
        encoder: nn.Module,
        posterior: nn.Module,
        prior: Prior,
        decoder: nn.Module,
        likelihood: Likelihood,
        conditioner: Conditioner | None = None,
    ):
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.encoder = encoder
        self.posterior = posterior
        self.prior = prior
        self.decoder = decoder
        self.likelihood = likelihood
        self.conditioner = conditioner
        self.latent_dim = int(prior.latent_dim)
        prior.attach(self)

    def supported_objectives(self) -> tuple[str, ...]:
        """The base's objectives; only the WAE's for a point-mass posterior (it has no density, so the
        ELBO's KL and the importance weights are undefined)."""
        if not getattr(self.posterior, "has_density", True):
            return ("wae",)
        return super().supported_objectives()

    def describe(self) -> str:
        density = "" if getattr(self.posterior, "has_density", True) else " with a point-mass posterior"
        return f"model {type(self).__name__}{density}"

    # --------------------------------------------------------------- the parts
    def _condition(self, y: Tensor | None) -> Tensor | None:
        return None if self.conditioner is None or y is None else self.conditioner(y)

    def encode(self, x: Tensor, y: Tensor | None = None, check: bool = True) -> Distribution:
        """q(z|x[,y]), batch shape (B,)."""
        if check:
            self.check_input(x, y)
        h = self.encoder(x if x.is_floating_point() else x.float())
        c = self._condition(y)
        if c is not None:
            h = torch.cat([h, c], dim=-1)
        return self.posterior(h)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|z[,y]) for z of shape (..., D); the distribution's batch shape is z.shape[:-1]."""
        lead = z.shape[:-1]
        flat = z.reshape(-1, z.shape[-1])
        c = self._condition(y)
        if c is not None:
            c = c.expand(*lead, c.shape[-1]).reshape(-1, c.shape[-1])
            flat = torch.cat([flat, c], dim=-1)
        params = self.decoder(flat)
        params = params.view(*lead, *params.shape[1:])
        return self.likelihood(params, len(self.data_shape))

    @classmethod
    def examples(cls) -> list[ModelExample]:
        """Tiny VAEs of each builder that returns this class (vae, wae, sequence_vae) for the contract tests."""
        gen = torch.Generator().manual_seed(0)
        vectors = torch.rand(6, 5, generator=gen)  # (B, 5) in [0, 1]
        images = (torch.rand(6, 1, 8, 8, generator=gen) > 0.5).float()  # (B, 1, 8, 8) binary
        tokens = torch.randint(1, 7, (6, 5), generator=gen)  # (B, 5) token ids, 0 is padding
        tokens[:2, 3:] = 0
        small = {"latent_dim": 2, "hidden": [8]}
        gaussian = {"type": "gaussian", "variance": "learned"}
        # The WAE's MMD compares codes with prior draws, so it does not train all of a learned prior
        # (a mixture's weights, the VampPrior's pseudo-inputs): those examples leave it out.
        learned_prior = {"elbo": {}, "iwae": {}, "hierarchical_elbo": {}}
        return [
            ModelExample({"type": "vae", **small}, vectors),
            ModelExample(
                {"type": "vae", **small, "prior": "mixture", "likelihood": gaussian}, vectors, objectives=learned_prior
            ),
            ModelExample(
                {"type": "vae", **small, "architecture": "conv", "channels": [4], "prior": "vamp"},
                images,
                objectives=learned_prior,
            ),
            ModelExample({"type": "vae", **small, "n_classes": 3}, vectors, torch.arange(6) % 3),
            ModelExample({"type": "vae", **small, "n_attributes": 2}, vectors, torch.rand(6, 2, generator=gen)),
            ModelExample({"type": "wae", **small}, vectors),
            ModelExample({"type": "wae", **small, "posterior": "gaussian"}, vectors, objectives={"wae": {}}),
            ModelExample(
                {"type": "sequence_vae", "vocab_size": 7, "latent_dim": 2, "embed_dim": 4, "hidden": 8, "pad_index": 0},
                tokens,
            ),
        ]
