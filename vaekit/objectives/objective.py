"""Objectives as configured callables ``(model, batch, step) -> LossOutput`` for the training loop."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from vaekit.models.output import VAEOutput
from vaekit.objectives.elbo import LossOutput, elbo, iwae_bound
from vaekit.objectives.schedules import Schedule, as_schedule
from vaekit.registry import register


def split_batch(batch: Any) -> tuple[Tensor, Tensor | None]:
    """A batch is a tensor x or a pair (x, y)."""
    if isinstance(batch, (tuple, list)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


class Objective:
    """Base class: ``objective(model, batch, step)`` computes the loss of one batch."""

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:  # pragma: no cover
        raise NotImplementedError


@register("objective", "elbo")
class ELBOObjective(Objective):
    """The (beta-weighted, annealed, free-bits or capacity) ELBO.

    Args:
        beta: a number or a schedule config (e.g. ``{"type": "cyclical", "period": 2000}``).
        free_bits: floor in nats per latent dimension (or group).
        free_bits_groups: number of equal groups for free bits (None: per dimension).
        capacity: None, a number, or a schedule config (``{"type": "capacity", ...}``) for |KL - C|.
        capacity_weight: gamma of the capacity form.
        samples: reparameterized draws of z per example.
        kl_balance: weight the KL of each latent group by NVAE's balancing coefficients (models with
            several latent groups; see :func:`~vaekit.objectives.elbo.elbo`).
    """

    def __init__(
        self,
        beta: float | dict | Schedule = 1.0,
        free_bits: float = 0.0,
        free_bits_groups: int | None = None,
        capacity: float | dict | Schedule | None = None,
        capacity_weight: float = 1000.0,
        samples: int = 1,
        kl_balance: bool = False,
    ):
        self.beta = as_schedule(beta)
        self.free_bits = float(free_bits)
        self.free_bits_groups = free_bits_groups
        self.capacity = as_schedule(capacity)
        self.capacity_weight = float(capacity_weight)
        self.samples = int(samples)
        self.kl_balance = bool(kl_balance)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        out = model(x, y, n_samples=self.samples, check=False)  # pragma: no mutate (equivalent: check=None is falsy)
        return self.bound(out, x, step)

    def bound(self, out: VAEOutput, x: Tensor, step: int, kl_balance: bool | None = None) -> LossOutput:
        """:func:`~vaekit.objectives.elbo.elbo` of a forward output with this objective's settings at ``step``
        (``kl_balance`` overrides the objective's own), with the term ``beta``."""
        beta = self.beta(step)
        result = elbo(
            out,
            x,
            beta=beta,
            free_bits=self.free_bits,
            free_bits_groups=self.free_bits_groups,
            capacity=None if self.capacity is None else self.capacity(step),
            capacity_weight=self.capacity_weight,
            kl_balance=self.kl_balance if kl_balance is None else kl_balance,
        )
        result.terms["beta"] = result.loss.new_tensor(beta)
        return result


@register("objective", "iwae")
class IWAEObjective(Objective):
    """The importance-weighted bound with ``k`` samples as the training objective.

    Args:
        k: importance samples per example.
    """

    def __init__(self, k: int = 5):
        if k < 1:
            raise ValueError(f"IWAE needs k >= 1, got {k}")  # pragma: no mutate (message text)
        self.k = int(k)

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, y = split_batch(batch)
        return iwae_bound(model.log_importance_weights(x, self.k, y))
