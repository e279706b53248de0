"""The evidence lower bound and the importance-weighted bound, as plain functions of model outputs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from vaekit.distributions.kl import kl_terms
from vaekit.models.output import VAEOutput


@dataclass
class LossOutput:
    """A scalar loss to minimize and the named terms it is made of (batch means, for logging).

    ``vectors`` holds per-dimension diagnostics such as the KL per latent dimension.
    ``group_losses`` is for models with several parameter groups (``model.parameter_groups()``):
    each group's optimizer steps on the gradient of its own loss with respect to its own
    parameters; when it is empty, every parameter steps on ``loss``.
    """

    loss: Tensor
    terms: dict[str, Tensor]
    vectors: dict[str, Tensor] = field(default_factory=dict)
    group_losses: dict[str, Tensor] = field(default_factory=dict)


def _sample_mean(t: Tensor, batch_ndim: int = 1) -> Tensor:
    """Average over leading sample dimensions, leaving the batch dimension(s)."""
    extra = t.dim() - batch_ndim
    return t.mean(dim=tuple(range(extra))) if extra > 0 else t


def free_bits_kl(kl_per_dim: Tensor, floor: float, groups: int | None = None) -> Tensor:
    """The free-bits KL (Kingma et al. 2016): sum over groups of max(floor, batch-mean KL of the group).

    Args:
        kl_per_dim: (B, D) KL per example and dimension.
        floor: minimum KL in nats each group is charged.
        groups: split the D dimensions into this many equal groups (None: one group per dimension).
    """
    mean = kl_per_dim.mean(0)  # (D,)
    if groups is not None:
        if mean.numel() % groups:
            raise ValueError(f"{mean.numel()} latent dimensions cannot be split into {groups} equal groups")
        mean = mean.view(groups, -1).sum(-1)
    return mean.clamp_min(floor).sum()


def kl_per_group(kl_per_dim: Tensor, group_sizes: Sequence[int]) -> Tensor:
    """Sum the KL of each group's dimensions: (..., D) -> (..., L)."""
    return torch.stack([part.sum(-1) for part in kl_per_dim.split(list(group_sizes), -1)], -1)


def kl_balance_coefficients(kl_groups: Tensor, group_sizes: Sequence[int], floor: float = 0.01) -> Tensor:
    """NVAE's KL balancing weights (Vahdat & Kautz 2020, appendix A): gamma_l proportional to the
    batch-mean KL of group l per share of the latent dimensions it holds, normalized to mean 1.

    Groups that carry much information per dimension are pushed harder, so that during warm-up no
    group is switched off merely because others took the information first.

    Args:
        kl_groups: (N, L) KL of each group per example.
        group_sizes: dimensions of each group.
        floor: added to each group's mean KL so empty groups keep a small weight.

    Returns:
        (L,) weights without gradient, mean 1.
    """
    mean_kl = kl_groups.detach().abs().mean(0) + floor  # (L,)
    # KL per dimension of each group; dividing by the share sizes / sum(sizes) instead only rescales
    # every gamma by sum(sizes), which the normalization below cancels.
    gamma = mean_kl / kl_groups.new_tensor(list(group_sizes))  # (L,)
    return gamma / gamma.mean()


def elbo(
    output: VAEOutput,
    x: Tensor,
    beta: float = 1.0,
    free_bits: float = 0.0,
    free_bits_groups: int | None = None,
    capacity: float | None = None,
    capacity_weight: float = 1000.0,
    kl_balance: bool = False,
) -> LossOutput:
    """The negative ELBO, -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)), averaged over the batch.

    Args:
        output: the model's forward output.
        x: the batch it was computed from.
        beta: weight of the KL term (beta-VAE when > 1; annealing schedules set it per step).
        free_bits: floor (nats) on the KL of each dimension or group, batch-averaged.
        free_bits_groups: number of equal groups for free bits (None: per dimension; 1: the total).
        capacity: the capacity C of Burgess et al. (2018): the KL term becomes
            ``capacity_weight * |KL - C|`` (``beta`` is then not used).
        capacity_weight: gamma of the capacity objective.
        kl_balance: weight the KL of each latent group (``output.group_sizes``) by NVAE's balancing
            coefficients (:func:`kl_balance_coefficients`); used when neither capacity nor free bits are
            set, and only for a model with several groups whose KL factorizes per dimension.

    Returns:
        ``LossOutput`` with terms ``reconstruction`` (-log p(x|z)), ``kl``, ``elbo`` (the true
        bound, whatever beta), ``beta`` and the vector ``kl_per_dim`` where the KL factorizes.
    """
    reconstruction = _sample_mean(-output.p_x.log_prob(x))  # (B,)
    kl = kl_terms(output.q_z, output.p_z, output.z)
    rec_mean, kl_mean = reconstruction.mean(), kl.total.mean()
    per_dim = None if kl.per_dim is None else kl.per_dim.flatten(0, -2)  # (S*B, D)
    sizes = output.group_sizes
    if capacity is not None:
        penalty = capacity_weight * (kl_mean - capacity).abs()
    elif free_bits > 0:
        if per_dim is None:
            if free_bits_groups not in (None, 1):
                raise ValueError("free bits per dimension need a KL that factorizes (a Gaussian prior)")
            # Only the total is known: charge it at least the sum of the per-dimension floors.
            floor = free_bits if free_bits_groups == 1 else free_bits * output.z.shape[-1]
            penalty = beta * kl_mean.clamp_min(floor)
        else:
            penalty = beta * free_bits_kl(per_dim, free_bits, free_bits_groups)
    elif kl_balance and len(sizes) > 1:
        if per_dim is None:
            raise ValueError("KL balancing needs a KL per latent dimension (diagonal Gaussian posterior and prior)")
        kl_groups = kl_per_group(per_dim, sizes)  # (S*B, L)
        penalty = beta * (kl_groups @ kl_balance_coefficients(kl_groups, sizes)).mean()  # (S*B, L) @ (L,)
    else:
        penalty = beta * kl_mean
    loss = rec_mean + penalty
    terms = {
        "loss": loss.detach(),
        "reconstruction": rec_mean.detach(),
        "kl": kl_mean.detach(),
        "elbo": -(rec_mean + kl_mean).detach(),
    }
    vectors = {}
    if per_dim is not None:
        vectors["kl_per_dim"] = per_dim.detach().mean(0)
    return LossOutput(loss, terms, vectors)


def log_mean_exp(t: Tensor, dim: int = 0) -> Tensor:
    """log(mean(exp(t))) along ``dim``, computed stably."""
    return torch.logsumexp(t, dim) - math.log(t.shape[dim])


def iwae_bound(log_weights: Tensor) -> LossOutput:
    """The importance-weighted bound (Burda et al. 2015) from log weights of shape (k, B).

    log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i|x)]; the loss is its negative batch mean.
    Obtain ``log_weights`` with ``model.log_importance_weights(x, k)``.
    """
    bound = log_mean_exp(log_weights, 0)  # (B,)
    loss = -bound.mean()
    return LossOutput(loss, {"loss": loss.detach(), "iwae_bound": bound.mean().detach()})
