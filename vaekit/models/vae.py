"""The VAE as a composition of parts: encoder, posterior, prior, decoder, likelihood (+ conditioner)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.priors import Prior
from vaekit.models.checks import check_data_batch
from vaekit.models.conditioner import Conditioner
from vaekit.models.output import VAEOutput
from vaekit.registry import register


@register("model", "vae")
class VAE(nn.Module):
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

    # ----------------------------------------------------------------- checks
    def check_input(self, x: Tensor, y: Tensor | None = None) -> None:
        """Raise ValueError naming the problem if ``x`` (and ``y``) cannot be fed to this model."""
        check_data_batch(x, self.data_shape, self.likelihood, allow_integer=True)
        if self.conditioner is not None:
            if y is None:
                raise ValueError("this is a conditional model: pass the condition y (labels or attributes)")
            self.conditioner.check(y, x.shape[0])
        elif y is not None:
            raise ValueError("this model is not conditional; it takes no y")

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

    def forward(self, x: Tensor, y: Tensor | None = None, n_samples: int = 1, check: bool = True) -> VAEOutput:
        """Encode, draw z by reparameterization, decode.

        Args:
            x: a batch of data, (B, *data_shape).
            y: condition for a CVAE.
            n_samples: draws of z per example; with more than one, z is (S, B, D).
            check: validate the input (the training loop validates data once and skips this).
        """
        q_z = self.encode(x, y, check=check)
        z = q_z.rsample() if n_samples == 1 else q_z.rsample((n_samples,))
        return VAEOutput(q_z=q_z, p_z=self.prior(), z=z, p_x=self.decode(z, y))

    # ------------------------------------------------------------ likelihoods
    def log_importance_weights(self, x: Tensor, k: int, y: Tensor | None = None) -> Tensor:
        """log p(x, z_i) - log q(z_i|x) for k draws z_i ~ q(z|x): shape (k, B)."""
        return self.log_weights_given_posterior(self.encode(x, y, check=False), x, k, y)

    def log_weights_given_posterior(self, q_z: Distribution, x: Tensor, k: int, y: Tensor | None = None) -> Tensor:
        """``log_importance_weights`` with q(z|x) already computed (``q_z = self.encode(x, y)``): shape (k, B).

        The likelihood estimator encodes each batch once and calls this for every chunk of samples.
        """
        z = q_z.rsample((k,))  # (k, B, D), also for k = 1
        return self.decode(z, y).log_prob(x) + self.prior().log_prob(z) - q_z.log_prob(z)

    # -------------------------------------------------------------- generation
    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, y: Tensor | None = None, mean: bool = True) -> Tensor:
        """Draw n examples: z from the prior (spread scaled by ``temperature``), then decode.

        Args:
            n: number of examples.
            temperature: scale of the prior's spread (below 1 trades variety for quality).
            y: condition for a CVAE: one label/attribute row per example, or a single one for all.
            mean: return the likelihood's mean (True) or a draw from it.
        """
        if self.conditioner is not None:
            if y is None:
                raise ValueError("this is a conditional model: pass y to choose what to generate")
            y = torch.as_tensor(y, device=self._device())
            if y.dim() == 0 or (y.dim() == 1 and y.is_floating_point()):
                y = y.unsqueeze(0)
            if y.shape[0] == 1 and n > 1:
                y = y.expand(n, *y.shape[1:])
            self.conditioner.check(y, n)
        z = self.prior.sample(n, temperature).to(self._device())
        p_x = self.decode(z, y)
        return p_x.mean if mean else p_x.sample()

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decode the posterior mean of each input: the likelihood's mean."""
        return self.decode(self.encode(x, y).mean, y).mean

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -------------------------------------------------------------------- io
    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (see :mod:`vaekit.io`)."""
        from vaekit.io import save_model

        return save_model(self, directory)
