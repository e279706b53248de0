"""One call that evaluates a model on a dataset: ELBO, NLL, bits/dim, active units, MI."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.distributions.posterior import has_density
from vaekit.evaluate.latent import active_units, elbo_terms, mutual_information, posterior_statistics
from vaekit.evaluate.likelihood import bits_per_dim, log_likelihood


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor | None = None, k: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Evaluate a VAE on (x, y).

    Returns a dict with ``elbo``, ``reconstruction``, ``kl`` (nats per example),
    ``nll`` (importance-sampled, k samples), ``bits_per_dim`` (of the NLL), ``active_units``,
    ``mutual_information``, ``kl_per_dim`` and ``k``.

    What a model's distributions do not define is None rather than a made-up number: a posterior
    without a density (a point mass, as in a deterministic WAE) gives no ``elbo``, ``kl``, ``nll``,
    ``bits_per_dim`` or ``mutual_information``; a discrete latent (the code grid of a VQ-VAE) gives
    no ``active_units`` or ``mutual_information`` (those are statistics of continuous latents).
    """
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            density, continuous = _latent_kind(model, x, y)
            torch.manual_seed(seed)
            summary = elbo_terms(model, x, y)
            nll = -log_likelihood(model, x, y, k=k) if density else None
            units = mi = None
            if continuous:
                means, logvars = posterior_statistics(model, x, y)
                units, _ = active_units(means)
                if density:
                    mi = mutual_information(means, logvars, seed=seed)
    finally:
        model.train(was_training)
    elbo = summary["elbo"]
    summary.update(
        {
            "nll": None if nll is None else float(nll.mean()),
            "bits_per_dim": None if nll is None else bits_per_dim(nll, model.data_shape),
            "active_units": units,
            "latent_dim": int(model.latent_dim),
            "mutual_information": mi,
            "k": int(k),
            "examples": int(x.shape[0]),
        }
    )
    dims_log2 = math.prod(model.data_shape) * math.log(2)
    summary["negative_elbo_bits_per_dim"] = None if elbo is None else -float(elbo) / dims_log2
    return summary


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _latent_kind(model: nn.Module, x: Tensor, y: Tensor | None) -> tuple[bool, bool]:
    """(the posterior of the forward pass has a density, the latent is continuous), from one pass on two examples."""
    xb, yb = x[:2], None if y is None else y[:2]
    device = _device(model)  # pragma: no mutate (device: equivalent on CPU)
    moved = xb.to(device), None if yb is None else yb.to(device)  # pragma: no mutate (device, as above)
    out = model(*moved, check=False)  # pragma: no mutate (equivalent on valid data: check only validates)
    return has_density(out.q_z), bool(out.z.is_floating_point())
