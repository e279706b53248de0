"""VAE-GAN (Larsen et al. 2016): a VAE whose reconstruction is judged in a discriminator's feature space.

The model is a :class:`~vaekit.models.vae.VAE` (encoder, posterior, prior, decoder,
likelihood: nothing of its forward pass is rewritten here) plus a :class:`Discriminator`.
It declares three parameter groups, one optimizer each, and the "vaegan" objective
(``vaekit.objectives.vaegan``) gives each group its own loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from vaekit.models.base import BaseModel, ModelExample
from vaekit.models.builders import build_vae
from vaekit.models.vae import VAE
from vaekit.registry import Part, build, register, register_builder


@dataclass
class DiscriminatorOutput:
    """Logits of "real" (B,) and the features (B, F) of the layer used for the reconstruction loss."""

    logits: Tensor
    features: Tensor


@register("discriminator", "features")
class Discriminator(Part):
    """A feature network (any registered encoder) and a linear real/fake head on its output.

    The features it returns are those of its last hidden layer: Larsen et al.'s Dis_l, where a
    Gaussian reconstruction loss replaces the pixel-wise one.

    Args:
        body: a network with ``out_features``, e.g. ``build("encoder", {"type": "conv", ...})``.
    """

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.head = nn.Linear(int(body.out_features), 1)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        features = self.body(x)  # (B, F)
        return DiscriminatorOutput(self.head(features).squeeze(-1), features)


@register("model", "vaegan")
class VAEGAN(BaseModel):
    """A VAE and a discriminator trained together.

    Its parts (``encode``, ``decode``, ``prior``, ``likelihood``, ``conditioner``) are the VAE's, so
    :class:`~vaekit.models.base.BaseModel` gives it the whole model interface (forward, sampling,
    reconstruction, importance weights) and the evaluator, generation and plots treat it as any VAE.

    Args:
        vae: the variational autoencoder (its decoder is the GAN's generator).
        discriminator: the discriminator on data of the VAE's shape.
    """

    objective_names = ("vaegan",)

    def __init__(self, vae: VAE, discriminator: Discriminator):
        super().__init__()
        self.vae = vae
        self.discriminator = discriminator
        self.data_shape = vae.data_shape
        self.latent_dim = vae.latent_dim

    # The VAE's parts, exposed as properties so that the weights are stored once (under ``vae.``).
    @property
    def conditioner(self) -> nn.Module | None:
        return self.vae.conditioner

    @property
    def prior(self) -> nn.Module:
        return self.vae.prior

    @property
    def likelihood(self) -> nn.Module:
        return self.vae.likelihood

    def encode(self, x: Tensor, y: Tensor | None = None, check: bool = True) -> Distribution:
        """q(z|x[,y]) of the VAE."""
        return self.vae.encode(x, y, check=check)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Distribution:
        """p(x|z[,y]) of the VAE (its decoder is the generator)."""
        return self.vae.decode(z, y)

    @classmethod
    def examples(cls) -> list[ModelExample]:
        """A tiny MLP VAE-GAN for the contract tests."""
        x = torch.rand(4, 6, generator=torch.Generator().manual_seed(0))
        spec = {"type": "vaegan", "latent_dim": 2, "architecture": "mlp", "hidden": [8], "discriminator_hidden": 8}
        return [ModelExample(spec, x)]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": encoder, posterior, prior (and conditioner), "decoder": decoder and
        likelihood, "discriminator": discriminator}: one optimizer each."""
        decoder = [*self.vae.decoder.parameters(), *self.vae.likelihood.parameters()]
        taken = {id(p) for p in decoder}
        encoder = [p for p in self.vae.parameters() if id(p) not in taken]
        groups = {"encoder": encoder, "decoder": decoder, "discriminator": list(self.discriminator.parameters())}
        return {name: [p for p in params if p.requires_grad] for name, params in groups.items()}


@register_builder("vaegan", objective="vaegan", mirrors=build_vae)
def build_vaegan(
    data_shape: Sequence[int],
    latent_dim: int = 32,
    architecture: str = "conv",
    hidden: Sequence[int] = (256,),
    discriminator_hidden: int = 256,
    discriminator_channels: Sequence[int] = (32, 64),
    discriminator_activation: str = "leaky_relu",
    **arguments: Any,
) -> VAEGAN:
    """Build a VAE-GAN for examples of ``data_shape``; train it with the "vaegan" objective.

    Args:
        data_shape: shape of one example (``[C, H, W]`` for "conv").
        latent_dim: number of latent dimensions.
        architecture: "conv" or "mlp", for the VAE and the discriminator alike.
        hidden: the VAE's hidden widths (see :func:`~vaekit.models.builders.build_vae`).
        discriminator_hidden: width of the discriminator's feature layer.
        discriminator_channels: the discriminator's conv channels.
        discriminator_activation: its activation (leaky ReLU, as usual for discriminators).
        **arguments: any other argument of :func:`~vaekit.models.builders.build_vae` (channels,
            activation, likelihood, prior, n_classes, ...), with its defaults.
    """
    data_shape = [int(s) for s in data_shape]
    vae = build_vae(data_shape, latent_dim=latent_dim, architecture=architecture, hidden=hidden, **arguments)
    if architecture == "conv":
        body = {
            "type": "conv",
            "input_shape": data_shape,
            "channels": list(discriminator_channels),
            "hidden": int(discriminator_hidden),
            "activation": discriminator_activation,
        }
    else:
        body = {
            "type": "mlp",
            "input_shape": data_shape,
            "hidden": [int(discriminator_hidden)] * 2,
            "activation": discriminator_activation,
        }
    return VAEGAN(vae, Discriminator(build("encoder", body)))
