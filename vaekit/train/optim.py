"""Optimizers built from a model's parameter groups, and learning-rate schedules as functions of the step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
ScheduleFn = Callable[[float], float]
# Learning-rate schedules by name: a function of the training progress in [0, 1] to a factor of the base rate.
# A pure function of the step, so a resumed run needs only the step to continue its schedule.
LR_SCHEDULES: dict[str, ScheduleFn] = {}


def register_lr_schedule(name: str) -> Callable[[ScheduleFn], ScheduleFn]:
    """Register ``factor(progress) -> float`` under ``name`` (usable as ``fit(lr_schedule=name)``)."""

    def add(factor: ScheduleFn) -> ScheduleFn:
        LR_SCHEDULES[name] = factor
        return factor

    return add


@register_lr_schedule("constant")
def _constant(progress: float) -> float:
    return 1.0


@register_lr_schedule("cosine")
def _cosine(progress: float) -> float:
    """From 1 down to 0 at the end of training."""
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@register_lr_schedule("step")
def _step(progress: float) -> float:
    """Halved after each third of training."""
    return 0.5 ** min(int(3 * progress), 2)


def optimizer_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's parameter groups, one optimizer each.

    ``model.parameter_groups()`` if the model defines it (e.g. VAE-GAN: ``{"vae": ..., "discriminator": ...}``),
    else ``{"model": all trainable parameters}``.
    """
    if hasattr(model, "parameter_groups"):
        groups = {str(k): [p for p in v if p.requires_grad] for k, v in model.parameter_groups().items()}
    else:
        groups = {"model": [p for p in model.parameters() if p.requires_grad]}
    empty = [name for name, params in groups.items() if not params]
    if empty:
        raise ValueError(f"parameter group(s) {empty} have no trainable parameters")
    return groups


def make_optimizers(
    groups: dict[str, list[nn.Parameter]], name: str, lr: float, weight_decay: float
) -> dict[str, torch.optim.Optimizer]:
    """One optimizer per parameter group.

    The fused kernels are used where torch has them: they are the fastest and accept a ``found_inf``
    flag that skips a step on the device, which the loop's non-finite guard uses without a host sync.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {sorted(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    optimizers = {}
    for group, params in groups.items():
        fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda", "mps") for p in params)
        try:
            optimizers[group] = cls(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
        except RuntimeError:  # a device/dtype without fused kernels: the default implementation
            optimizers[group] = cls(params, lr=lr, weight_decay=weight_decay)
    return optimizers


def check_lr_schedule(name: str) -> None:
    """Raise ValueError for an unknown schedule name."""
    if not isinstance(name, str) or name not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule {name!r}; valid: {list(LR_SCHEDULES)}")


def lr_at(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) out of ``total_steps``.

    ``schedule`` names an entry of :data:`LR_SCHEDULES`: ``constant``; ``cosine`` (from ``base_lr`` down to 0
    at the end); ``step`` (halved after each third); or one added with :func:`register_lr_schedule`.
    """
    check_lr_schedule(schedule)
    if total_steps <= 0:
        return base_lr
    return base_lr * LR_SCHEDULES[schedule](min(step / total_steps, 1.0))


def set_lr(optimizers: dict[str, torch.optim.Optimizer], lr: float) -> None:
    """Set the learning rate of every param group of every optimizer."""
    for optimizer in optimizers.values():
        for group in optimizer.param_groups:
            group["lr"] = lr
