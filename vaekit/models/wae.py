"""The Wasserstein autoencoder's model: a VAE composition whose posterior is deterministic by default.

What makes a WAE is its objective (``vaekit.objectives.mmd.WAEObjective``, registered as
"wae"); the model is the ordinary :class:`~vaekit.models.vae.VAE`, so sampling from the
prior, reconstruction, saving and loading are those of every VAE.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vaekit.models.builders import build_vae
from vaekit.models.vae import VAE
from vaekit.registry import register_builder


@register_builder("wae", objective="wae", mirrors=build_vae)
def build_wae(
    data_shape: Sequence[int],
    latent_dim: int = 8,
    posterior: str = "deterministic",
    hidden: Sequence[int] = (512, 512),
    **arguments: Any,
) -> VAE:
    """Build a WAE for examples of ``data_shape``: train it with the "wae" objective.

    Args:
        data_shape: shape of one example.
        latent_dim: number of latent dimensions.
        posterior: "deterministic" (a point-mass encoder, as in the paper) or "gaussian".
        hidden: MLP hidden widths.
        **arguments: any other argument of :func:`~vaekit.models.builders.build_vae`, with its defaults.

    Returns:
        The model, untrained. Its importance-sampled likelihood is defined only with a Gaussian
        posterior (a point mass has no density to weigh samples with).
    """
    if posterior not in ("deterministic", "gaussian"):
        raise ValueError(f"a WAE posterior is 'deterministic' or 'gaussian', got {posterior!r}")
    return build_vae(data_shape, latent_dim=latent_dim, posterior=posterior, hidden=hidden, **arguments)
