"""Data-parallel training under ``torchrun``: process group, batch shards, gradient and metric reduction.

Design: gradients are all-reduced explicitly after backward, in flattened buckets, instead of wrapping
the model in ``DistributedDataParallel``. DDP only synchronizes gradients of parameters used through the
wrapper's ``forward``; vaekit objectives also call other model methods (IWAE calls
``model.log_importance_weights``, the evaluator ``encode``/``decode``), and models with several parameter
groups backpropagate several losses. Reducing after backward works for any objective, any number of
optimizers and any method the objective calls, at the cost of not overlapping communication with the
backward pass (a small cost for the model sizes vaekit trains).

Each rank takes a contiguous shard of every global batch; its gradient is a mean over its shard, so it
is weighted by ``shard size / global batch size`` and the weighted gradients are summed across ranks:
the result equals the gradient of the mean loss over the global batch, also for a short last batch.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

BUCKET_ELEMENTS = 8 * 1024 * 1024  # elements per all-reduce bucket (32 MiB of fp32)


@dataclass
class DistributedContext:
    """This process's place in a data-parallel run (a single process is rank 0 of 1).

    Attributes:
        rank: this process's rank.
        world_size: number of processes.
        device: the device this process trains on (collectives run there; gloo on CPU, nccl on CUDA).
        owns_group: whether this context created the process group (it then lives until the process exits,
            so later ``fit`` calls reuse it).
        shard_weight: this rank's share of the global batch in the step in progress.
    """

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False
    shard_weight: float = 1.0  # this rank's share of the current global batch (set by each training step)

    @classmethod
    def start(cls, device: torch.device) -> DistributedContext:
        """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1).

        Uses an existing group if the caller already initialized one; otherwise initializes one with
        nccl for CUDA devices and gloo for the rest.
        """
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), device, owns_group=False)
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(0, 1, device)
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        # kept for later fit calls in this process (re-initializing under torchrun can hang); left at exit
        atexit.register(shutdown)
        return cls(dist.get_rank(), dist.get_world_size(), device, owns_group=True)

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, metrics, checkpoints and draws the progress bar."""
        return self.rank == 0

    def shard(self, size: int) -> slice:
        """This rank's contiguous part of a global batch of ``size`` (parts differ by at most one)."""
        return slice(size * self.rank // self.world_size, size * (self.rank + 1) // self.world_size)

    def all_reduce_gradients(self, params: list[torch.nn.Parameter], weight: float, flag: Tensor) -> Tensor:
        """Replace each gradient by the sum over ranks of ``weight * gradient`` and reduce ``flag``.

        A parameter without a gradient here contributes zeros; it gets the reduced gradient if any rank
        had one, and stays without a gradient (so the optimizer skips it) only if no rank had one.

        Args:
            params: every trained parameter, in the same order on every rank.
            weight: this rank's share of the global batch.
            flag: (,) float tensor, 1.0 where this rank saw a non-finite value.

        Returns:
            The flag summed over ranks, clamped to 0/1.
        """
        present = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.device)
        meta = torch.cat([present, flag.detach().float().reshape(1)])  # (P + 1,)
        pending = [dist.all_reduce(meta, async_op=True)]
        buckets = _buckets(params)
        flats = []
        for bucket in buckets:
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in bucket])
            if weight != 1.0:
                flat.mul_(weight)
            flats.append(flat)
            pending.append(dist.all_reduce(flat, async_op=True))
        for work in pending:
            work.wait()
        index = {id(p): i for i, p in enumerate(params)}
        for bucket, flat in zip(buckets, flats):
            for p, chunk in zip(bucket, flat.split([p.numel() for p in bucket])):
                if p.grad is not None:
                    p.grad.copy_(chunk.view_as(p))
                elif meta[index[id(p)]].item() > 0:  # a host sync only for a parameter unused on this rank
                    p.grad = chunk.view_as(p).clone()
        return meta[-1].clamp(max=1.0)

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        """Sum ``tensor`` over ranks in place (nothing happens for a single process)."""
        if self.enabled:
            dist.all_reduce(tensor)
        return tensor

    def gather(self, tensor: Tensor) -> list[Tensor]:
        """Every rank's ``tensor`` (same shape on all ranks), as CPU tensors in rank order."""
        if not self.enabled:
            return [tensor.cpu()]
        local = tensor.to(self.device)
        out = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(out, local)
        return [t.cpu() for t in out]

    def broadcast_flag(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.broadcast(t, 0)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.enabled:
            dist.barrier()


def shutdown() -> None:
    """Leave the data-parallel run: every rank meets the others, then tears its process group down.

    ``fit`` registers this to run at exit for a process group it created; call it yourself to end the
    group earlier (it is safe to call twice, and a no-op without a group).

    Why not ``barrier()`` and ``destroy_process_group()``: a gloo barrier returns on a rank as soon as that
    rank has received its peers' messages, while its own last message may still sit in its write queue; if it
    then closes its connections, the peer still inside the barrier sees them closed under it, and gloo aborts
    that process ("terminate called without an active exception", SIGABRT). So the ranks meet on the
    rendezvous store instead, a channel that is not being torn down: a rank arrives there only after every
    gloo operation it started has completed, and once all have arrived no gloo message is in flight. Rank 0,
    which may host the store, leaves last.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_world_size() > 1:
        try:
            store = dist.distributed_c10d._get_default_store()
        except (AttributeError, RuntimeError, ValueError):  # no store to meet on: the gloo barrier it is
            dist.barrier()
        else:
            _meet(store, "vaekit/shutdown/arrived", dist.get_world_size())
            left = store.add("vaekit/shutdown/left", 1)
            if left == dist.get_world_size():
                store.set("vaekit/shutdown/all_left", "1")
            if dist.get_rank() == 0:  # keep a store hosted here alive until every rank has read from it
                store.wait(["vaekit/shutdown/all_left"])
    dist.destroy_process_group()


def _meet(store: dist.Store, key: str, world_size: int) -> None:
    """Wait on the store until ``world_size`` processes have called this with ``key``."""
    if store.add(key, 1) == world_size:
        store.set(key + "/all", "1")
    store.wait([key + "/all"])


def _buckets(params: list[torch.nn.Parameter]) -> list[list[torch.nn.Parameter]]:
    """Consecutive parameters of one dtype, at most ``BUCKET_ELEMENTS`` per bucket (a larger one alone)."""
    buckets: list[list[torch.nn.Parameter]] = []
    size = 0
    for p in params:
        if buckets and buckets[-1][0].dtype == p.dtype and size + p.numel() <= BUCKET_ELEMENTS:
            buckets[-1].append(p)
            size += p.numel()
        else:
            buckets.append([p])
            size = p.numel()
    return buckets
