"""The one training loop for every model (minimal first version; extended by the training issue)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import Objective


@dataclass
class History:
    """Per-epoch means of every logged term, for training and validation."""

    train: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, float]] = field(default_factory=list)


def optimizer_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The model's parameter groups, one optimizer each: ``model.parameter_groups()`` if it
    defines it (e.g. VAE-GAN: {"vae": ..., "discriminator": ...}), else {"model": all}."""
    if hasattr(model, "parameter_groups"):
        return {k: list(v) for k, v in model.parameter_groups().items()}
    return {"model": [p for p in model.parameters() if p.requires_grad]}


def fit(
    model: nn.Module,
    objective: Objective | Callable[[nn.Module, Any, int], LossOutput],
    x: Tensor,
    y: Tensor | None = None,
    val_x: Tensor | None = None,
    val_y: Tensor | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    transform: Callable[[Tensor], Tensor] | None = None,
    callbacks: Sequence[Callable[[int, dict[str, float]], None]] = (),
) -> History:
    """Train ``model`` on in-memory data by minibatch gradient descent on ``objective``.

    A :class:`LossOutput` may carry ``group_losses`` ({group: loss}) for models with several
    parameter groups; each group's optimizer then steps on its own loss.
    """
    gen = torch.Generator().manual_seed(seed)
    groups = optimizer_groups(model)
    optimizers = {name: torch.optim.Adam(params, lr=lr) for name, params in groups.items()}
    history = History()
    step = 0
    n = x.shape[0]
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        sums: dict[str, float] = {}
        count = 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb = x[idx]
            if transform is not None:
                xb = transform(xb)
            batch = (xb, None if y is None else y[idx])
            result = objective(model, batch, step)
            for opt in optimizers.values():
                opt.zero_grad(set_to_none=True)
            if result.group_losses:
                for name, loss in result.group_losses.items():
                    loss.backward(inputs=groups[name], retain_graph=True)
            else:
                result.loss.backward()
            for opt in optimizers.values():
                opt.step()
            step += 1
            for key, value in result.terms.items():
                sums[key] = sums.get(key, 0.0) + float(value) * xb.shape[0]
            count += xb.shape[0]
        history.train.append({k: v / count for k, v in sums.items()})
        for callback in callbacks:
            callback(epoch, history.train[-1])
    return history
