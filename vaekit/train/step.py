"""One optimizer step and one validation pass: forward, non-finite guard, backward, reduce, clip, skip, step.

Hot path: metric sums accumulate as device tensors and are read once per epoch; the non-finite guard skips
the step on the device through the fused optimizers' ``found_inf`` flag, so it needs no host sync per step
on accelerators. Skipping of outlier updates (``skip_grad_norm``) uses the same flag, per optimizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput
from vaekit.train.distributed import DistributedContext
from vaekit.train.errors import NonFiniteLossError

ObjectiveFn = Callable[[nn.Module, Any, int], LossOutput]


class MetricSums:
    """Example-weighted sums of the logged values, as device tensors, per tuple of value names."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, ...], list[Any]] = {}

    def add(self, names: tuple[str, ...], values: Tensor, count: int) -> None:
        """Add a batch's (K,) ``values`` for ``names``, weighted by its ``count`` of examples."""
        entry = self.entries.get(names)
        if entry is None:
            self.entries[names] = [values * count, count]
        else:
            entry[0].add_(values, alpha=count)
            entry[1] += count

    def _packed(self, context: DistributedContext | None) -> tuple[list[tuple[str, ...]], Tensor]:
        keys = sorted(self.entries)
        parts = [torch.cat([total, total.new_tensor([count])]) for total, count in (self.entries[k] for k in keys)]
        packed = torch.cat(parts)  # [sums..., count] per names tuple
        if context is not None:
            context.all_reduce_sum(packed)
        return keys, packed

    def means(self, context: DistributedContext | None = None) -> dict[str, float]:
        """Means per name (one host sync; summed over ranks when ``context`` is given)."""
        if not self.entries:
            return {}
        keys, packed = self._packed(context)
        flat = packed.tolist()
        totals: dict[str, list[float]] = {}
        offset = 0
        for names in keys:
            count = flat[offset + len(names)]
            for i, name in enumerate(names):
                total = totals.setdefault(name, [0.0, 0.0])
                total[0] += flat[offset + i]
                total[1] += count
            offset += len(names) + 1
        return {name: s / c for name, (s, c) in totals.items() if c > 0}

    def state(self, context: DistributedContext) -> tuple[list[dict[str, Any]], Tensor]:
        """The sums over all ranks, as JSON (names and counts) and one tensor, for a mid-epoch checkpoint."""
        if not self.entries:
            return [], torch.zeros(0)
        keys, packed = self._packed(context if context.enabled else None)
        counts, offset = [], 0
        for names in keys:
            counts.append(int(packed[offset + len(names)].item()))
            offset += len(names) + 1
        return [{"names": list(n), "count": c} for n, c in zip(keys, counts)], packed.detach().cpu()

    def load(self, document: list[dict[str, Any]], packed: Tensor, device: torch.device) -> None:
        """Inverse of :meth:`state` (on rank 0 only, since :meth:`means` sums the ranks)."""
        offset = 0
        for entry in document:
            names = tuple(entry["names"])
            self.entries[names] = [packed[offset : offset + len(names)].to(device).clone(), int(entry["count"])]
            offset += len(names) + 1


def loss_values(result: LossOutput) -> tuple[tuple[str, ...], Tensor]:
    """The names and a (K,) float tensor of everything logged and guarded: the loss, group losses, terms."""
    names = ["loss"]
    values = [result.loss.detach()]
    for group, loss in result.group_losses.items():
        if f"{group}_loss" not in result.terms:
            names.append(f"{group}_loss")
            values.append(loss.detach())
    for name, term in result.terms.items():
        if name != "loss":
            names.append(name)
            values.append(term.detach().reshape(()))
    return tuple(names), torch.stack([v.float() for v in values])


class Guard:
    """Detects the first non-finite loss/term/gradient norm without a host sync per step.

    ``flag`` is the optimizers' ``found_inf``: once a value is non-finite it stays 1, so every later step
    is skipped on the device too and the weights stay those from before the bad step until the flag is read.
    """

    def __init__(self, device: torch.device, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.flag = torch.zeros((), device=device)
        self.skipped = torch.zeros((), device=device)  # steps since (and including) the first bad one
        self.finite: Tensor | None = None  # finite mask of the first bad step's values
        self.names: tuple[str, ...] = ()

    def record(self, now: Tensor, names: tuple[str, ...], finite: Tensor | None) -> None:
        """``now``: (,) float, 1 where this step was bad; ``finite``: (K,) mask of its values."""
        if finite is not None:
            if self.finite is None or self.finite.shape != finite.shape or names != self.names:
                self.finite, self.names = torch.ones_like(finite), names
            first = now * (1 - self.flag)
            self.finite = torch.where(first > 0, finite, self.finite)
        torch.maximum(self.flag, now, out=self.flag)
        self.skipped.add_(self.flag)

    def raise_if_bad(self, step: int) -> None:
        """Raise :class:`NonFiniteLossError` naming the first bad step; ``step`` is the last step taken."""
        if self.flag.item() == 0:
            return
        bad_step = step - int(self.skipped.item()) + 1
        bad = [] if self.finite is None else [n for n, ok in zip(self.names, self.finite.tolist()) if not ok]
        epoch, batch = divmod(bad_step, self.steps_per_epoch)
        raise NonFiniteLossError(epoch + 1, batch + 1, bad_step, bad)


def batch_norm_buffers(model: nn.Module) -> list[Tensor]:
    """The running statistics of every batch-norm layer: what a discarded step must leave as it was."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    return [b for m in norms for b in m.buffers(recurse=False) if b is not None]


class TrainStep:
    """One optimizer step on a batch (this rank's shard of it): forward, guard, backward, reduce, clip, step.

    Args:
        model: the model being trained.
        objective: ``(model, (x, y), step) -> LossOutput``.
        groups: parameter group name -> parameters (one optimizer each).
        optimizers: the optimizers, by group name.
        guard: the non-finite guard.
        context: the data-parallel context.
        grad_clip: maximum gradient norm per group, or None.
        autocast: a context manager factory for the forward computations.
        skip_grad_norm: skip a group's update when its gradient norm is above this (or not finite).
        skipped_before: steps with a skipped update in the run so far (a resumed run's count).
        scaler: fp16 loss scaling: the loss is scaled before the backward pass and the gradients unscaled
            after the data-parallel reduction; a group whose gradients overflowed skips its update (not an
            error: the scale backs off), and the scale is updated once per step.
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        objective: ObjectiveFn,
        groups: dict[str, list[nn.Parameter]],
        optimizers: dict[str, torch.optim.Optimizer],
        guard: Guard,
        context: DistributedContext,
        grad_clip: float | None,
        autocast: Callable[[], Any],
        skip_grad_norm: float | None = None,
        skipped_before: int = 0,
        scaler: torch.amp.GradScaler | None = None,
    ):
        self.model, self.objective, self.groups, self.optimizers = model, objective, groups, optimizers
        self.guard, self.context, self.grad_clip, self.autocast = guard, context, grad_clip, autocast
        self.skip_grad_norm, self.scaler = skip_grad_norm, scaler
        self.parameters = list(dict.fromkeys(p for params in groups.values() for p in params))
        self.fused = {name: bool(opt.defaults.get("fused")) for name, opt in optimizers.items()}
        # Per optimizer: 1 to skip its step (the guard's flag, an outlier gradient norm of its group, or an fp16
        # overflow). Without outlier skipping or loss scaling it is the guard's flag itself.
        self.own_skip = skip_grad_norm is not None or scaler is not None
        self.skip = {name: torch.zeros_like(guard.flag) if self.own_skip else guard.flag for name in groups}
        self.skipped = torch.full_like(guard.flag, float(skipped_before))  # steps with a skipped update, in total
        for name, opt in optimizers.items():
            if self.fused[name]:
                opt.found_inf = self.skip[name]  # the fused kernels skip the whole step when it is 1
        self.norm_buffers = batch_norm_buffers(model)
        self.group_names_checked = False

    def skipped_total(self) -> int:
        """Steps in which at least one optimizer's update was skipped as an outlier (reads the device)."""
        return int(self.skipped.item())

    def __call__(
        self, xb: Tensor, yb: Tensor | None, step: int, global_size: int, sums: MetricSums, check: bool
    ) -> None:
        """Train on ``xb`` (possibly empty on a rank whose shard is empty); ``check`` reads the guard flag."""
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        names: tuple[str, ...] = ()
        finite = None
        bad = torch.zeros((), device=self.guard.flag.device)
        size = xb.shape[0]
        saved = [b.clone() for b in self.norm_buffers]  # the forward pass updates them; a skip restores them
        self.context.shard_weight = size / global_size
        if size:
            with self.autocast():
                result = self.objective(self.model, (xb, yb), step)
            self._check_groups(result)
            names, values = loss_values(result)
            finite = torch.isfinite(values)
            bad = (~finite.all()).float()
            _backward(result, self.groups, self.scaler)
            sums.add(names, values, size)
        if self.context.enabled:
            bad = self.context.all_reduce_gradients(self.parameters, size / global_size, bad)
        overflows = self._unscale()
        outliers, bad = self._clip(bad, overflows)
        self.guard.record(bad, names, finite)
        discarded = self.guard.flag
        if self.own_skip:
            any_outlier = torch.zeros_like(bad)
            for name in self.groups:
                reason = self.guard.flag
                if name in outliers:
                    reason = torch.maximum(reason, outliers[name])
                    torch.maximum(any_outlier, outliers[name], out=any_outlier)
                if name in overflows:
                    reason = torch.maximum(reason, overflows[name])
                    discarded = torch.maximum(discarded, overflows[name])
                self.skip[name].copy_(reason)
            self.skipped.add_(any_outlier * (1 - self.guard.flag))
            discarded = torch.maximum(discarded, any_outlier)
        for buffer, before in zip(self.norm_buffers, saved):
            buffer.copy_(torch.where(discarded > 0, before, buffer))
        if check:
            self.guard.raise_if_bad(step)
        for name, opt in self.optimizers.items():
            if self.fused[name] or self.skip[name].item() == 0:
                opt.step()
        if overflows:
            self.scaler.update()  # backs off after an overflow; grows after growth_interval clean steps

    def _unscale(self) -> dict[str, Tensor]:
        """With loss scaling: unscale each group's gradients in place; 1 for each group whose gradients
        overflowed (a group without gradients this step is left out)."""
        overflows: dict[str, Tensor] = {}
        if self.scaler is None:
            return overflows
        for name, params in self.groups.items():
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                self.scaler.unscale_(self.optimizers[name])
                overflows[name] = (~torch.isfinite(nn.utils.get_total_norm(grads, foreach=True))).float()
        return overflows

    def _clip(self, bad: Tensor, overflows: dict[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """Clip each group's gradients; return the groups' outlier flags (with ``skip_grad_norm``) and ``bad``
        raised to 1 where a clipped group's norm is not finite (groups without outlier skipping only, and not
        for an fp16 overflow, which skips the update and lowers the scale)."""
        outliers: dict[str, Tensor] = {}
        for name, params in self.groups.items():
            norm = None
            overflow = overflows.get(name)
            if self.skip_grad_norm is not None:
                grads = [p.grad for p in params if p.grad is not None]
                norm = nn.utils.get_total_norm(grads, foreach=True) if grads else bad.new_zeros(())
                outlier = (~(norm <= self.skip_grad_norm)).float()  # NaN norms count as outliers too
                outliers[name] = outlier if overflow is None else outlier * (1 - overflow)
            if self.grad_clip is not None:
                if norm is None:
                    norm = nn.utils.clip_grad_norm_(params, float(self.grad_clip), foreach=True)
                else:
                    nn.utils.clip_grads_with_norm_(params, float(self.grad_clip), norm, foreach=True)
                if name not in outliers:  # a skipped update needs no guard; a finite loss stays trainable
                    not_finite = (~torch.isfinite(norm)).float()
                    bad = torch.maximum(bad, not_finite if overflow is None else not_finite * (1 - overflow))
        return outliers, bad

    def _check_groups(self, result: LossOutput) -> None:
        if self.group_names_checked or not result.group_losses:
            return
        unknown = sorted(set(result.group_losses) - set(self.groups))
        if unknown:
            raise ValueError(
                f"the objective returned losses for parameter groups {unknown}; the model's groups are "
                f"{sorted(self.groups)}"
            )
        self.group_names_checked = True


def _backward(
    result: LossOutput, groups: dict[str, list[nn.Parameter]], scaler: torch.amp.GradScaler | None = None
) -> None:
    """Backpropagate the loss (scaled by ``scaler``), or each group's loss into that group's parameters only."""
    scale = scaler.scale if scaler is not None else (lambda loss: loss)
    if not result.group_losses:
        scale(result.loss).backward()
        return
    items = list(result.group_losses.items())
    for i, (name, loss) in enumerate(items):
        scale(loss).backward(inputs=groups[name], retain_graph=i < len(items) - 1)


@torch.no_grad()
def validate(
    *,
    model: nn.Module,
    objective: ObjectiveFn,
    val_x: Tensor,
    val_y: Tensor | None,
    transform: Callable[[Tensor], Tensor] | None,
    batch_size: int,
    step: int,
    seed: int,
    context: DistributedContext,
    autocast: Callable[[], Any],
) -> dict[str, float]:
    """Example-weighted means of the objective's values on the validation data.

    The model's noise is drawn from a generator seeded the same way every epoch (common random numbers
    make epochs comparable for early stopping) inside ``fork_rng``, so training randomness is unaffected.
    """
    model.eval()
    device = val_x.device
    devices = [device] if device.type == "cuda" else []
    sums = MetricSums()
    with torch.random.fork_rng(devices=devices, device_type=device.type if device.type != "cpu" else "cuda"):
        torch.manual_seed(seed + 7919 + context.rank)
        for start in range(0, val_x.shape[0], batch_size):
            stop = min(start + batch_size, val_x.shape[0])
            part = context.shard(stop - start)
            lo, hi = start + part.start, start + part.stop
            if hi <= lo:
                continue
            xb = val_x[lo:hi]
            if transform is not None:
                xb = transform(xb)
            yb = None if val_y is None else val_y[lo:hi]
            with autocast():
                result = objective(model, (xb, yb), step)
            names, values = loss_values(result)
            sums.add(names, values, hi - lo)
    model.train()
    return sums.means(context)
