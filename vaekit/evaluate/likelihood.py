"""The one importance-sampled log-likelihood estimator, used for every model."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor, nn


def _batches(x: Tensor, y: Tensor | None, batch_size: int) -> Iterator[tuple[Tensor, Tensor | None]]:
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size], (None if y is None else y[start : start + batch_size])


@torch.no_grad()
def log_likelihood(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    k: int = 1000,
    batch_size: int = 500,
    max_pairs: int = 100_000,
    device: str | torch.device | None = None,
) -> Tensor:
    """Importance-sampled estimate of log p(x) per example, in nats:

        log p(x) ~ log (1/k) sum_i exp(log p(x, z_i) - log q(z_i|x)),  z_i ~ q(z|x).

    It is a lower bound in expectation that rises with k toward log p(x) (Burda et al. 2015).
    The k samples are drawn in chunks so that at most ``max_pairs`` (sample, example) pairs
    are in memory at once whatever k is, and combined by a running log-sum-exp.

    Args:
        model: any model with ``log_importance_weights(x, k, y) -> (k, B)``.
        x: data, (N, *data_shape).
        y: conditions for a conditional model.
        k: number of importance samples.
        batch_size: examples per pass (reduced automatically so one pass fits ``max_pairs``).
        max_pairs: bound on samples x examples evaluated at once (memory bound).
        device: where to compute (defaults to the model's device).

    Returns:
        (N,) tensor of log-likelihood estimates on the CPU.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if hasattr(model, "check_input"):
        model.check_input(x[:1], None if y is None else y[:1])
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    batch_size = max(1, min(batch_size, max_pairs))
    chunk = max(1, min(k, max_pairs // batch_size))
    results = []
    try:
        for xb, yb in _batches(x, y, batch_size):
            xb = xb.to(device, non_blocking=True)
            yb = None if yb is None else yb.to(device, non_blocking=True)
            running = torch.full((xb.shape[0],), -math.inf, device=device)
            done = 0
            while done < k:
                n = min(chunk, k - done)
                log_w = model.log_importance_weights(xb, n, yb)  # (n, B)
                running = torch.logaddexp(running, torch.logsumexp(log_w.float(), 0))
                done += n
            results.append((running - math.log(k)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(results)


def bits_per_dim(nll_nats: Tensor | float, data_shape: tuple[int, ...] | list[int]) -> float:
    """Negative log-likelihood in nats per example -> bits per data dimension."""
    value = float(nll_nats.mean()) if isinstance(nll_nats, Tensor) else float(nll_nats)
    return value / (math.prod(data_shape) * math.log(2))
