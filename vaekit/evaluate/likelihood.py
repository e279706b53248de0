"""The one importance-sampled log-likelihood estimator, used for every model."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

WeightsFn = Callable[[int], Tensor]


def _batches(x: Tensor, y: Tensor | None, batch_size: int) -> Iterator[tuple[Tensor, Tensor | None]]:
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size], (None if y is None else y[start : start + batch_size])


def _log_weights_for_batch(model: nn.Module, xb: Tensor, yb: Tensor | None) -> WeightsFn:
    """A function n -> (n, B) log importance weights of one batch.

    A :class:`~vaekit.models.base.BaseModel` gives it (``log_weights_sampler``: the VAE is encoded once per
    batch and only the samples are drawn per chunk); other models go through
    ``log_importance_weights(x, n, y)``. An instance-level ``log_importance_weights`` (a wrapper set on
    the object) takes precedence.
    """
    sampler = getattr(model, "log_weights_sampler", None)
    if sampler is None or "log_importance_weights" in vars(model):
        return lambda n: model.log_importance_weights(xb, n, yb)
    return sampler(xb, yb)


def chunk_sizes(k: int, batch: int, max_pairs: int) -> list[int]:
    """Split k samples for a batch of ``batch`` examples into near-equal chunks of at most ``max_pairs`` pairs."""
    per_chunk = max(1, min(k, max_pairs // max(batch, 1)))
    n_chunks = -(-k // per_chunk)
    base, extra = divmod(k, n_chunks)
    return [base + 1] * extra + [base] * (n_chunks - extra)


@torch.no_grad()
def log_likelihood(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    k: int = 1000,
    batch_size: int = 500,
    max_pairs: int = 8192,
    device: str | torch.device | None = None,
) -> Tensor:
    """Importance-sampled estimate of log p(x) per example, in nats:

        log p(x) ~ log (1/k) sum_i exp(log p(x, z_i) - log q(z_i|x)),  z_i ~ q(z|x).

    It is a lower bound in expectation that rises with k toward log p(x) (Burda et al. 2015).
    Each batch is encoded once; the k samples are drawn in chunks so that at most ``max_pairs``
    (sample, example) pairs are decoded at once whatever k is, and combined by a running
    log-sum-exp. The default chunk (8192 pairs) keeps the decoder's activations in cache-sized
    blocks, which is faster on CPUs than larger ones, and bounds memory for any k.

    Args:
        model: any model with ``log_importance_weights(x, k, y) -> (k, B)``; a
            :class:`~vaekit.models.base.BaseModel` is encoded once per batch.
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
    if max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1, got {max_pairs}")
    if hasattr(model, "check_input"):
        model.check_input(x[:1], None if y is None else y[:1])
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    batch_size = max(1, min(batch_size, max_pairs))
    results = []
    try:
        for xb, yb in _batches(x, y, batch_size):
            xb = xb.to(device, non_blocking=True)
            yb = None if yb is None else yb.to(device, non_blocking=True)
            log_weights = _log_weights_for_batch(model, xb, yb)
            running = None  # (B,) log sum of exp(log w) so far
            for n in chunk_sizes(k, xb.shape[0], max_pairs):
                chunk = torch.logsumexp(log_weights(n).float(), 0)  # (B,)
                running = chunk if running is None else torch.logaddexp(running, chunk)
            results.append((running - math.log(k)).cpu())
    finally:
        model.train(was_training)
    return torch.cat(results)


def bits_per_dim(nll_nats: Tensor | float, data_shape: tuple[int, ...] | list[int]) -> float:
    """Negative log-likelihood in nats per example -> bits per data dimension."""
    value = float(nll_nats.mean()) if isinstance(nll_nats, Tensor) else float(nll_nats)
    return value / (math.prod(data_shape) * math.log(2))
