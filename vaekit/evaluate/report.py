"""One call that evaluates a model on a dataset: ELBO, NLL, bits/dim, active units, MI."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.distributions.posterior import DeterministicPosterior
from vaekit.evaluate.latent import active_units, elbo_terms, mutual_information, posterior_statistics
from vaekit.evaluate.likelihood import bits_per_dim, log_likelihood


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor | None = None, k: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Evaluate a VAE on (x, y).

    Returns a dict with ``elbo``, ``reconstruction``, ``kl`` (nats per example),
    ``nll`` (importance-sampled, k samples), ``bits_per_dim`` (of the NLL), ``active_units``,
    ``mutual_information``, ``kl_per_dim`` and ``k``. A model with a point-mass
    (deterministic) posterior, such as a deterministic WAE, defines no likelihood bound: its
    ``nll``, ``bits_per_dim`` and ``mutual_information`` are None.
    """
    point_mass = isinstance(getattr(model, "posterior", None), DeterministicPosterior)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            summary = elbo_terms(model, x, y)
            nll = None if point_mass else -log_likelihood(model, x, y, k=k)
            means, logvars = posterior_statistics(model, x, y)
            units, _ = active_units(means)
            mi = None if point_mass else mutual_information(means, logvars, seed=seed)
    finally:
        model.train(was_training)
    summary.update(
        {
            "nll": None if nll is None else float(nll.mean()),
            "bits_per_dim": None if nll is None else bits_per_dim(nll, model.data_shape),
            "active_units": units,
            "latent_dim": int(means.shape[1]),
            "mutual_information": mi,
            "k": int(k),
            "examples": int(x.shape[0]),
        }
    )
    summary["negative_elbo_bits_per_dim"] = -summary["elbo"] / (math.prod(model.data_shape) * math.log(2))
    return summary
