"""Aggressive inference-network training (He et al. 2019, "Lagging inference networks and
posterior collapse"), as an objective usable with the one training loop.

Early in training the encoder lags behind the true posterior and an autoregressive decoder learns
to ignore z. During the aggressive phase, before each ordinary step this objective first moves the
encoder (every parameter outside ``model.decoder`` and ``model.likelihood``) by up to
``inner_steps`` Adam steps on the ELBO of the batch, stopping early once the loss stops falling;
the loop's own step then updates the decoder only (the encoder is evaluated without gradients, so
its optimizer leaves it alone). After ``aggressive_steps`` steps it is the ordinary ELBO.

Simplifications (said plainly): the inner steps reuse the current batch instead of drawing new
ones, and the phase ends after a fixed number of steps rather than when the mutual information
stops rising.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vaekit.models.output import VAEOutput
from vaekit.objectives.elbo import LossOutput, elbo
from vaekit.objectives.objective import ELBOObjective, split_batch
from vaekit.objectives.schedules import Schedule
from vaekit.registry import register


def _encoder_parameters(model: nn.Module) -> list[nn.Parameter]:
    decoder = {id(p) for part in ("decoder", "likelihood") for p in getattr(model, part).parameters()}
    return [p for p in model.parameters() if id(p) not in decoder and p.requires_grad]


@register("objective", "aggressive_elbo")
class AggressiveELBO(ELBOObjective):
    """The ELBO with an aggressive encoder phase at the start of training.

    Args:
        beta, free_bits, free_bits_groups, samples: as :class:`ELBOObjective`.
        aggressive_steps: length of the aggressive phase in training steps.
        inner_steps: most encoder updates per step in the phase.
        inner_lr: learning rate of the encoder's inner Adam optimizer.
        tolerance: the inner loop stops when the loss falls by less than this (nats per example).
    """

    def __init__(
        self,
        beta: float | dict | Schedule = 1.0,
        free_bits: float = 0.0,
        free_bits_groups: int | None = None,
        samples: int = 1,
        aggressive_steps: int = 1000,
        inner_steps: int = 10,
        inner_lr: float = 1e-3,
        tolerance: float = 0.01,
    ):
        super().__init__(beta, free_bits, free_bits_groups, samples=samples)
        if aggressive_steps < 0 or inner_steps < 1:
            raise ValueError("aggressive_steps must be >= 0 and inner_steps >= 1")  # pragma: no mutate (message)
        self.aggressive_steps, self.inner_steps = int(aggressive_steps), int(inner_steps)
        self.inner_lr, self.tolerance = float(inner_lr), float(tolerance)
        self._inner: torch.optim.Optimizer | None = None

    def _loss(self, out: VAEOutput, x: torch.Tensor, step: int) -> LossOutput:
        beta = self.beta(step)
        result = elbo(out, x, beta=beta, free_bits=self.free_bits, free_bits_groups=self.free_bits_groups)
        result.terms["beta"] = out.z.new_tensor(beta)
        return result

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        if step >= self.aggressive_steps:
            return super().__call__(model, batch, step)
        x, y = split_batch(batch)
        params = _encoder_parameters(model)
        if self._inner is None:
            self._inner = torch.optim.Adam(params, lr=self.inner_lr)
        previous = float("inf")  # pragma: no mutate (equivalent: float() reads "INF" too)
        for _ in range(self.inner_steps):  # the encoder catches up with the current decoder
            out = model(
                x,
                y,
                n_samples=self.samples,
                check=False,  # pragma: no mutate (validation only; the loop checked the batch)
            )
            loss = self._loss(out, x, step).loss
            self._inner.zero_grad(set_to_none=True)  # pragma: no mutate (equivalent: backward refills every grad)
            # Equivalent without inputs= (decoder grads are cleared below); it only saves work.
            loss.backward(inputs=params)  # pragma: no mutate (equivalent: see above)
            self._inner.step()
            value = float(loss.detach())
            if previous - value < self.tolerance:
                break
            previous = value
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            q_z = model.encode(
                x,
                y,
                check=False,  # pragma: no mutate (validation only; the loop checked the batch)
            )
        z = q_z.rsample((self.samples,))  # (S, B, D), also for S = 1: elbo() averages the sample axis
        out = VAEOutput(q_z=q_z, p_z=model.prior(), z=z, p_x=model.decode(z, y))
        return self._loss(out, x, step)  # the loop's step moves the decoder only
