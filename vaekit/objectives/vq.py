"""Objectives of the two VQ-VAE stages: the autoencoder with its quantizer, and the prior over codes."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from vaekit.objectives.elbo import LossOutput
from vaekit.objectives.objective import Objective, split_batch
from vaekit.registry import register


@register("objective", "vq")
class VQObjective(Objective):
    """Stage one: -log p(x | z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2, averaged over the batch.

    The squared norms are summed over grid positions and code channels of each example, as the
    reconstruction term is summed over its pixels. With an EMA codebook the middle term is zero
    (the codes follow moving averages instead). ``beta`` lives in the quantizer.

    Logged terms (batch means, averaged per epoch by the training loop): ``loss``, ``reconstruction``
    (-log p(x|z_q), nats per example), ``mse`` (squared error of the likelihood's mean per value),
    ``commitment``, ``codebook``, ``perplexity`` (exp entropy of the batch's code frequencies),
    ``code_usage`` (fraction of codes used in the batch), and ``bits_per_dim_uniform``: the bound on
    -log2 p(x) per value with the uniform prior of stage one, (reconstruction + L log K) / (dims log 2).
    """

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        x, _ = split_batch(batch)
        out = model(x, check=False)  # pragma: no mutate (check only validates; the loop already did)
        q = out.quantized
        reconstruction = -out.p_x.log_prob(x)  # (B,)
        loss = reconstruction.mean() + q.commitment.mean() + q.codebook.mean()
        dims = math.prod(x.shape[1:])
        positions = q.indices[0].numel()
        kl_uniform = positions * math.log(model.quantizer.num_codes)
        terms = {
            "loss": loss.detach(),
            "reconstruction": reconstruction.mean().detach(),
            "mse": (out.p_x.mean - x).pow(2).mean().detach(),
            "commitment": q.commitment.mean().detach(),
            "codebook": q.codebook.mean().detach(),
            "perplexity": q.perplexity.detach(),
            "code_usage": q.usage.detach(),
            "bits_per_dim_uniform": (reconstruction.mean().detach() + kl_uniform) / (dims * math.log(2)),
        }
        return LossOutput(loss, terms)


@register("objective", "code_prior")
class CodePriorObjective(Objective):
    """Stage two: the negative log-likelihood of code grids under an autoregressive prior.

    ``model`` is the prior itself (or a VQ-VAE holding one in ``.prior``); a batch is
    ``(codes, labels)`` with codes (B, h, w) and labels None for an unconditional prior.
    The loss is in nats per grid position; terms ``nll`` (nats per grid) and ``bits_per_code``.
    """

    def __call__(self, model: nn.Module, batch: Any, step: int) -> LossOutput:
        codes, y = split_batch(batch)
        prior = model if hasattr(model, "logits") else model.prior
        nll = -prior.log_prob(codes, y)  # (B,)
        positions = codes[0].numel()
        loss = nll.mean() / positions
        terms = {"loss": loss.detach(), "nll": nll.mean().detach(), "bits_per_code": loss.detach() / math.log(2)}
        return LossOutput(loss, terms)
