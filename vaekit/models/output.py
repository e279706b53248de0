"""Typed outputs of a model's forward pass."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor
from torch.distributions import Distribution


class SamplingUnavailableError(ValueError):
    """A model cannot generate yet (e.g. a VQ-VAE whose prior over codes is not trained)."""


@dataclass
class VAEOutput:
    """What one forward pass of a VAE produces.

    Attributes:
        q_z: the posterior q(z|x), batch shape (B,), event shape (D,).
        p_z: the prior p(z), event shape (D,).
        z: reparameterized draws, (B, D) for one sample or (S, B, D) for S samples.
        p_x: the likelihood p(x|z), batch shape z.shape[:-1].
        group_sizes: sizes of the latent groups that split the last dimension of z, q_z and p_z
            (a hierarchical model's); empty: one group.
    """

    q_z: Distribution
    p_z: Distribution
    z: Tensor
    p_x: Distribution
    group_sizes: tuple[int, ...] = ()
