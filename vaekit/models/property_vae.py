"""A sequence VAE with a property head: a small network that predicts properties of x (QED, logP, SA of a
molecule) from z, trained jointly with the ELBO (Gómez-Bombarelli et al. 2018) by the ``property_elbo``
objective, so that the latent space is organised by the properties and can be searched for high values.

With ``conditional=True`` the properties are also the condition of a CVAE, so it generates at a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from vaekit.distributions.likelihoods import Likelihood
from vaekit.distributions.priors import Prior
from vaekit.models.base import ModelExample
from vaekit.models.conditioner import Conditioner
from vaekit.models.sequence_vae import SequenceVAE, build_sequence_vae
from vaekit.registry import build, register, register_builder


@register("model", "property_sequence_vae")
class PropertySequenceVAE(SequenceVAE):
    """A :class:`SequenceVAE` and a head z -> properties (built by the ``property_sequence_vae`` builder).

    The batch's ``y`` holds the (standardized) properties, (B, n_properties): the head's regression target, and
    also the condition when the model is conditional.

    Args:
        data_shape, encoder, posterior, prior, decoder, likelihood, conditioner: as for :class:`VAE`.
        property_head: network from z (B, D) to (B, n_properties).
        n_properties: how many properties the head predicts.
    """

    objective_names: ClassVar[tuple[str, ...]] = ("property_elbo", "elbo", "iwae")

    def __init__(
        self,
        data_shape: Sequence[int],
        encoder: nn.Module,
        posterior: nn.Module,
        prior: Prior,
        decoder: nn.Module,
        likelihood: Likelihood,
        conditioner: Conditioner | None = None,
        property_head: nn.Module | None = None,
        n_properties: int = 1,
    ):
        super().__init__(data_shape, encoder, posterior, prior, decoder, likelihood, conditioner)
        if property_head is None:
            raise ValueError("a property VAE needs a property_head")
        self.property_head = property_head
        self.n_properties = int(n_properties)

    def predict_properties(self, z: Tensor) -> Tensor:
        """The head's prediction of the (standardized) properties at latents z (..., D): (..., n_properties)."""
        lead = z.shape[:-1]
        return self.property_head(z.reshape(-1, z.shape[-1])).view(*lead, self.n_properties)

    def check_input(self, x: Tensor, y: Tensor | None = None) -> None:
        """As the base's, but an unconditional model also takes properties y (B, n_properties) as targets."""
        if self.conditioner is not None or y is None:
            return super().check_input(x, y)
        super().check_input(x, None)
        if not isinstance(y, Tensor) or y.shape != (x.shape[0], self.n_properties):
            shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"properties must be a tensor of shape ({x.shape[0]}, {self.n_properties}), got {shape}")
        if not torch.isfinite(y.float()).all():
            raise ValueError("properties contain NaN or infinite values")

    def _generation_condition(self, y: Tensor | None, n: int) -> Tensor | None:
        # Unconditional: a batch's y are the head's targets, which play no part in generation.
        return None if self.conditioner is None else super()._generation_condition(y, n)

    @classmethod
    def examples(cls) -> list[ModelExample]:
        x = torch.tensor([[3, 4, 5, 2, 0, 0], [4, 4, 2, 0, 0, 0], [5, 3, 3, 4, 3, 2], [1, 2, 0, 0, 0, 0]])
        y = torch.tensor([[0.5, -1.0], [1.0, 0.0], [-0.3, 2.0], [0.0, 0.1]])
        base = {"type": "property_sequence_vae", "vocab_size": 6, "latent_dim": 2, "embed_dim": 4, "hidden": 8}
        base.update(pad_index=0, end_index=2, n_properties=2, head_hidden=[4])
        # Plain ELBO and IWAE leave the head without a gradient, so the contract runs the property objective.
        return [
            ModelExample(base, x, y, objectives={"property_elbo": {"weight": 2.0}}),
            ModelExample({**base, "conditional": True}, x, y, objectives={"property_elbo": {}}),
        ]


@register_builder("property_sequence_vae", objective="property_elbo", mirrors=build_sequence_vae)
def build_property_sequence_vae(
    data_shape: Sequence[int],
    vocab_size: int,
    n_properties: int = 3,
    head_hidden: Sequence[int] = (64, 64),
    conditional: bool = False,
    **arguments: Any,
) -> PropertySequenceVAE:
    """Build a sequence VAE (any :func:`build_sequence_vae` argument) with a property head.

    Args:
        data_shape: ``[length]``.
        vocab_size: number of token ids.
        n_properties: properties the head predicts.
        head_hidden: hidden widths of the head (an MLP).
        conditional: also condition encoder and decoder on the properties (generation at a target).
        arguments: the sequence VAE's arguments (``latent_dim``, ``hidden``, ``decoder``, ...).
    """
    if conditional:
        arguments["n_attributes"] = n_properties
    base = build_sequence_vae(data_shape, vocab_size, **arguments)
    head = build(
        "decoder",
        {"type": "mlp", "in_features": base.latent_dim, "output_shape": [n_properties], "hidden": list(head_hidden)},
    )
    return PropertySequenceVAE(
        base.data_shape, base.encoder, base.posterior, base.prior, base.decoder, base.likelihood, base.conditioner,
        property_head=head, n_properties=n_properties,
    )  # fmt: skip
