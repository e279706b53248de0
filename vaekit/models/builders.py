"""One-line builders for the common VAEs: choose parts by name, sized from the data's shape."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from vaekit.distributions.priors import Prior
from vaekit.models.conditioner import Conditioner
from vaekit.models.vae import VAE
from vaekit.registry import build, register_builder, registered


def build_conditioner(n_classes: int | None = None, n_attributes: int | None = None) -> Conditioner | None:
    """The conditioner of a CVAE: on class labels (``n_classes``), on attribute vectors (``n_attributes``),
    or None for an unconditional model."""
    if n_classes is not None and n_attributes is not None:
        raise ValueError("give n_classes or n_attributes, not both")
    if n_classes is not None:
        return build("conditioner", {"type": "label", "n_classes": n_classes})
    if n_attributes is not None:
        return build("conditioner", {"type": "attributes", "n_attributes": n_attributes})
    return None


@register_builder("vae")
def build_vae(
    data_shape: Sequence[int],
    latent_dim: int = 10,
    architecture: str = "mlp",
    hidden: Sequence[int] = (256, 256),
    channels: Sequence[int] = (32, 64),
    residual_blocks: int = 0,
    activation: str = "relu",
    likelihood: str | dict[str, Any] = "bernoulli",
    prior: str | dict[str, Any] = "normal",
    posterior: str = "gaussian",
    n_classes: int | None = None,
    n_attributes: int | None = None,
) -> VAE:
    """Build a VAE (or CVAE) for examples of ``data_shape``.

    These defaults are the only ones: a config's model section and the other builders that pass
    arguments on to this one (``wae``, ``vaegan``) start from them.

    Args:
        data_shape: shape of one example: ``[D]`` for vectors, ``[C, H, W]`` for images.
        latent_dim: number of latent dimensions.
        architecture: "mlp" or "conv" (conv needs ``[C, H, W]`` data).
        hidden: MLP hidden widths (for "conv": the last one is the dense width).
        channels: conv stage channels, encoder order (the decoder mirrors them).
        residual_blocks: residual blocks per conv stage.
        activation: activation name.
        likelihood: a likelihood name or ``{"type": name, **arguments}``.
        prior: "normal", "mixture", "vamp", or ``{"type": name, **arguments}``.
        posterior: "gaussian" or "deterministic".
        n_classes: make it a CVAE conditioned on class labels.
        n_attributes: make it a CVAE conditioned on attribute vectors of this width.

    Returns:
        The model, untrained.
    """
    data_shape = [int(s) for s in data_shape]
    lik = build("likelihood", likelihood)
    conditioner = build_conditioner(n_classes, n_attributes)
    cond = conditioner.out_features if conditioner is not None else 0
    if architecture == "mlp":
        encoder_args, decoder_args = {"hidden": list(hidden)}, {"hidden": list(reversed(hidden))}
    elif architecture == "conv":
        if len(data_shape) != 3:
            raise ValueError(f"architecture 'conv' needs image data [C, H, W]; got data_shape {data_shape}")
        common = {"hidden": int(hidden[-1]), "residual_blocks": residual_blocks}
        encoder_args = {**common, "channels": list(channels)}
        decoder_args = {**common, "channels": list(reversed(channels))}
    else:
        raise ValueError(f"unknown architecture {architecture!r}; valid: ['conv', 'mlp']")
    encoder = build(
        "encoder", {"type": architecture, "input_shape": data_shape, "activation": activation, **encoder_args}
    )
    decoder = build(
        "decoder",
        {
            "type": architecture,
            "in_features": latent_dim + cond,
            "output_shape": list(lik.param_shape(data_shape)),
            "activation": activation,
            **decoder_args,
        },
    )
    post = build("posterior", {"type": posterior, "in_features": encoder.out_features + cond, "latent_dim": latent_dim})
    return VAE(data_shape, encoder, post, build_prior(prior, latent_dim, data_shape), decoder, lik, conditioner)


def build_prior(prior: str | dict[str, Any], latent_dim: int, data_shape: Sequence[int]) -> Prior:
    """The prior named by ``prior`` (a registered prior's name or config) over ``latent_dim`` latents; a prior
    that works in data space (it takes ``input_shape``, as the VampPrior's pseudo-inputs) gets the data's shape."""
    spec = {"type": prior} if isinstance(prior, str) else dict(prior)
    spec["latent_dim"] = latent_dim
    cls = registered("prior").get(spec.get("type"))
    if cls is not None and "input_shape" in inspect.signature(cls.__init__).parameters:
        spec.setdefault("input_shape", list(data_shape))
    return build("prior", spec)
