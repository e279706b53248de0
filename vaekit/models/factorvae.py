"""FactorVAE (Kim & Mnih 2018): a VAE and a discriminator on its codes, trained together.

The VAE is any :class:`~vaekit.models.vae.VAE` (nothing of its forward pass is rewritten); the
discriminator tells codes z ~ q(z) from codes with each dimension shuffled across the batch,
and its logit estimates the total correlation that the "factorvae" objective penalizes. The
model declares two parameter groups, one optimizer each: "vae" and "discriminator".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.models.base import ModelExample
from vaekit.models.builders import build_vae
from vaekit.models.vae import VAE
from vaekit.models.vaegan import VAEGAN
from vaekit.registry import Part, register, register_builder


@register("discriminator", "latent")
class LatentDiscriminator(Part):
    """An MLP from codes (B, D) to the logit (B,) of "drawn from q(z)" against "dimensions shuffled".

    Args:
        latent_dim: D.
        hidden: hidden widths (the paper: six layers of 1000).
        negative_slope: of the leaky ReLU activations.
    """

    def __init__(self, latent_dim: int, hidden: Sequence[int] = (1000,) * 6, negative_slope: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = []
        width = int(latent_dim)
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.LeakyReLU(negative_slope)]
            width = int(h)
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(-1)  # (B,)


@register("model", "factorvae")
class FactorVAE(VAEGAN):
    """A VAE and a :class:`LatentDiscriminator`; the generic model interface is the VAE's.

    Args:
        vae: the variational autoencoder.
        discriminator: the discriminator on its codes.
    """

    objective_names = ("factorvae",)

    def __init__(self, vae: VAE, discriminator: LatentDiscriminator):
        super().__init__(vae, discriminator)

    @classmethod
    def examples(cls) -> list[ModelExample]:
        """A tiny MLP FactorVAE for the contract tests."""
        x = torch.rand(4, 6, generator=torch.Generator().manual_seed(0))
        spec = {"type": "factorvae", "latent_dim": 2, "architecture": "mlp", "hidden": [8], "discriminator_hidden": [8]}
        return [ModelExample(spec, x)]

    @property
    def latent_discriminator(self) -> LatentDiscriminator:
        return self.discriminator

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"vae": every VAE parameter, "discriminator": the discriminator's}: one optimizer each."""
        groups = {"vae": list(self.vae.parameters()), "discriminator": list(self.discriminator.parameters())}
        return {name: [p for p in params if p.requires_grad] for name, params in groups.items()}


@register_builder("factorvae", objective="factorvae")
def build_factorvae(
    data_shape: Sequence[int],
    latent_dim: int = 10,
    architecture: str = "conv",
    hidden: Sequence[int] = (256,),
    channels: Sequence[int] = (32, 32, 64, 64),
    discriminator_hidden: Sequence[int] = (1000,) * 6,
    activation: str = "relu",
    likelihood: str | dict[str, Any] = "bernoulli",
    prior: str | dict[str, Any] = "normal",
) -> FactorVAE:
    """Build a FactorVAE for examples of ``data_shape``; train it with the "factorvae" objective.

    Args:
        data_shape: shape of one example.
        latent_dim, architecture, hidden, channels, activation, likelihood, prior: as for
            :func:`~vaekit.models.builders.build_vae`.
        discriminator_hidden: hidden widths of the latent discriminator.
    """
    vae = build_vae(
        data_shape,
        latent_dim=latent_dim,
        architecture=architecture,
        hidden=hidden,
        channels=channels,
        activation=activation,
        likelihood=likelihood,
        prior=prior,
    )
    return FactorVAE(vae, LatentDiscriminator(latent_dim, discriminator_hidden))
