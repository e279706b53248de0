"""Buffers under data parallelism: every rank ends each step with the same parameters AND buffers.

- Batch norm: while ``fit`` trains under ``torchrun``, each batch-norm layer normalizes with the mean and
  variance of the *global* batch (the per-channel sums of x and x^2 and the counts are all-reduced), and
  updates its running statistics from them, as ``torch.nn.SyncBatchNorm`` does (which runs on CUDA only;
  this runs on any backend, gloo included). So the forward pass, the running statistics and, through the
  reduction's backward pass, the gradients are those of one process on the global batch. Averaging each
  rank's statistics after the step would not be: the variance of a union is not the mean of the variances,
  and each rank would still normalize with its own batch's statistics.
- Modules with their own running statistics opt in by having a ``replicas`` attribute (None by default):
  during training it holds a :class:`Replicas` through which they sum, gather and broadcast across ranks
  (the VQ-VAE quantizer sums its EMA codebook counts and sums, and decides k-means initialization and
  dead-code restarts on rank 0).
- At the start every rank takes rank 0's parameters and buffers, as ``DistributedDataParallel`` does.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vaekit.train.distributed import DistributedContext


class Replicas:
    """Collectives over the ranks of a data-parallel run, for modules that keep running statistics."""

    def __init__(self, context: DistributedContext):
        self.context = context

    @property
    def rank(self) -> int:
        """This process's rank (0 decides what is broadcast)."""
        return self.context.rank

    def sum(self, tensor: Tensor) -> Tensor:
        """``tensor`` summed over ranks, in place."""
        dist.all_reduce(tensor)
        return tensor

    def gather(self, rows: Tensor) -> Tensor:
        """Every rank's ``rows`` (N_r, ...) concatenated in rank order (what one process would hold)."""
        sizes = torch.tensor([rows.shape[0]], device=rows.device)
        all_sizes = [torch.empty_like(sizes) for _ in range(self.context.world_size)]
        dist.all_gather(all_sizes, sizes)
        counts = [int(s.item()) for s in all_sizes]
        padded = rows.new_zeros((max(counts), *rows.shape[1:]))
        padded[: rows.shape[0]] = rows
        parts = [torch.empty_like(padded) for _ in counts]
        dist.all_gather(parts, padded.contiguous())
        return torch.cat([part[:n] for part, n in zip(parts, counts)])

    def broadcast(self, tensor: Tensor) -> Tensor:
        """Rank 0's ``tensor`` on every rank, in place."""
        dist.broadcast(tensor, 0)
        return tensor


class _WeightedSum(torch.autograd.Function):
    """All-reduce sum whose backward gives each rank the gradient of the global loss, divided by the rank's
    weight, because the loop later weights every rank's gradients by ``shard size / global batch``."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor, context: DistributedContext) -> Tensor:
        ctx.context = context
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        weight = ctx.context.shard_weight
        total = grad * weight
        dist.all_reduce(total)
        return total / weight, None


def _synchronized_batch_norm(module: nn.modules.batchnorm._BatchNorm, context: DistributedContext, x: Tensor) -> Tensor:
    """Batch norm with the statistics of the global batch (see the module docstring); eval mode as usual."""
    if not module.training:
        return type(module).forward(module, x)
    channels = x.shape[1]
    dims = [0, *range(2, x.dim())]
    wide = x.double()  # sums in float64: sum(x^2) - n mean^2 loses no digits at these batch sizes
    local = torch.cat([wide.sum(dims), wide.pow(2).sum(dims), wide.new_tensor([x.numel() // channels])])
    total = _WeightedSum.apply(local, context)  # (2C + 1,)
    count = total[-1]
    mean = total[:channels] / count
    var = (total[channels : 2 * channels] / count - mean.pow(2)).clamp_min(0)
    shape = (1, channels) + (1,) * (x.dim() - 2)
    y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var.to(x.dtype) + module.eps).view(shape)
    if module.affine:
        y = y * module.weight.view(shape) + module.bias.view(shape)
    if module.track_running_stats and module.running_mean is not None:
        with torch.no_grad():
            module.num_batches_tracked.add_(1)
            factor = 1.0 / float(module.num_batches_tracked) if module.momentum is None else module.momentum
            n = float(count)
            unbiased = var * n / max(n - 1.0, 1.0)
            module.running_mean.mul_(1 - factor).add_(mean.to(module.running_mean.dtype), alpha=factor)
            module.running_var.mul_(1 - factor).add_(unbiased.to(module.running_var.dtype), alpha=factor)
    return y


@contextlib.contextmanager
def data_parallel_buffers(model: nn.Module, context: DistributedContext) -> Iterator[None]:
    """Within the block (one ``fit`` call), keep ``model``'s buffers identical across ranks (see above)."""
    if not context.enabled:
        yield
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.dtype == torch.bool:  # gloo has no bool collectives
                flag = tensor.to(torch.uint8)
                dist.broadcast(flag, 0)
                tensor.copy_(flag.bool())
            else:
                dist.broadcast(tensor.data, 0)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    replicated = [m for m in model.modules() if hasattr(m, "replicas")]
    for m in norms:
        m.forward = functools.partial(_synchronized_batch_norm, m, context)
    for m in replicated:
        m.replicas = Replicas(context)
    try:
        yield
    finally:
        for m in norms:
            del m.forward
        for m in replicated:
            m.replicas = None
