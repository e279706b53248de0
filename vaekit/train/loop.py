"""The one training loop for every vaekit model.

Hot path: the data stays one tensor on the device (uint8 stays uint8) and each batch is an
``index_select`` of it followed by the transform; metric sums accumulate as device tensors and are read
once per epoch (and by the progress bar at most twice a second); the non-finite guard skips the step on
the device through the fused optimizers' ``found_inf`` flag and is read every step on CPU (free there)
and every ``GUARD_INTERVAL`` steps on accelerators. Skipping of outlier updates (``skip_grad_norm``) uses the
same flag, per optimizer, so it costs no host sync either.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput
from vaekit.train.checkpoint import (
    load_model_state,
    load_optimizer_state,
    optimizer_state,
    read_checkpoint,
    write_checkpoint,
)
from vaekit.train.device import resolve_device
from vaekit.train.distributed import DistributedContext
from vaekit.train.errors import CheckpointError, NonFiniteLossError, StopTraining
from vaekit.train.history import History
from vaekit.train.metrics import MetricsWriter
from vaekit.train.optim import OPTIMIZERS, check_lr_schedule, lr_at, make_optimizers, optimizer_groups, set_lr
from vaekit.train.progress import EpochProgress

ObjectiveFn = Callable[[nn.Module, Any, int], LossOutput]
Callback = Callable[[int, dict[str, Any]], Any]
PRECISIONS = ("fp32", "bf16")
GUARD_INTERVAL = 32  # steps between reads of the non-finite flag on accelerators
# Settings a resumed run must share with the run that wrote the checkpoint, or it would not continue exactly.
RESUME_SETTINGS = (
    "batch_size", "lr", "optimizer", "weight_decay", "lr_schedule", "grad_clip", "skip_grad_norm", "seed", "world_size"
)  # fmt: skip


class _Sums:
    """Example-weighted sums of the logged values, as device tensors, per tuple of value names."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, ...], list[Any]] = {}

    def add(self, names: tuple[str, ...], values: Tensor, count: int) -> None:
        entry = self.entries.get(names)
        if entry is None:
            self.entries[names] = [values * count, count]
        else:
            entry[0].add_(values, alpha=count)
            entry[1] += count

    def means(self, context: DistributedContext | None = None) -> dict[str, float]:
        """Means per name (one host sync; summed over ranks when ``context`` is given)."""
        if not self.entries:
            return {}
        keys = sorted(self.entries)
        parts = [torch.cat([total, total.new_tensor([count])]) for total, count in (self.entries[k] for k in keys)]
        packed = torch.cat(parts)  # [sums..., count] per names tuple
        if context is not None:
            context.all_reduce_sum(packed)
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


def _values(result: LossOutput) -> tuple[tuple[str, ...], Tensor]:
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


def _as_tensor(data: Any, name: str) -> Tensor | None:
    if data is None:
        return None
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(data).__name__}")


def _check_arguments(args: dict[str, Any]) -> None:
    """Clear errors for bad settings, before any work."""
    for key in ("epochs", "batch_size"):
        value = args[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if key == "epochs" else 1):
            raise ValueError(f"{key} must be an integer >= {0 if key == 'epochs' else 1}, got {value!r}")
    if not (isinstance(args["lr"], (int, float)) and args["lr"] > 0 and math.isfinite(args["lr"])):
        raise ValueError(f"lr must be a positive number, got {args['lr']!r}")
    if args["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {args['optimizer']!r}; valid: {sorted(OPTIMIZERS)}")
    if not (isinstance(args["weight_decay"], (int, float)) and args["weight_decay"] >= 0):
        raise ValueError(f"weight_decay must be a number >= 0, got {args['weight_decay']!r}")
    check_lr_schedule(args["lr_schedule"])
    if args["grad_clip"] is not None and not (isinstance(args["grad_clip"], (int, float)) and args["grad_clip"] > 0):
        raise ValueError(f"grad_clip must be a positive number or None, got {args['grad_clip']!r}")
    for key in ("skip_grad_norm", "max_seconds"):
        value = args[key]
        if value is not None and not (
            isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and math.isfinite(value)
        ):
            raise ValueError(f"{key} must be a positive number or None, got {value!r}")
    max_steps = args["max_steps"]
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be an integer >= 1 or None, got {max_steps!r}")
    patience = args["patience"]
    if patience is not None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an integer >= 1 or None, got {patience!r}")
        if args["val_x"] is None:
            raise ValueError("patience (early stopping) needs validation data: pass val_x")
    if args["precision"] not in PRECISIONS:
        raise ValueError(f"unknown precision {args['precision']!r}; valid: {list(PRECISIONS)}")
    if args["resume"] and args["run_dir"] is None:
        raise ValueError("resume=True needs run_dir (the folder holding checkpoints/last)")
    x, y, val_x, val_y = args["x"], args["y"], args["val_x"], args["val_y"]
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError("x is empty: there is nothing to train on")
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
    if val_x is not None:
        if val_x.dim() == 0 or val_x.shape[0] == 0:
            raise ValueError("val_x is empty")
        if tuple(val_x.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(f"val_x examples have shape {tuple(val_x.shape[1:])}, x examples {tuple(x.shape[1:])}")
        if (y is None) != (val_y is None):
            raise ValueError("give labels for both x and val_x (y and val_y) or for neither")
        if val_y is not None and val_y.shape[0] != val_x.shape[0]:
            raise ValueError(f"val_x has {val_x.shape[0]} examples but val_y has {val_y.shape[0]}")
    elif val_y is not None:
        raise ValueError("val_y was given without val_x")
    for callback in args["callbacks"]:
        if not callable(callback):
            raise TypeError(f"callbacks must be callables (epoch, record) -> None; got {callback!r}")


def _generator(transform: Any) -> torch.Generator | None:
    gen = getattr(transform, "generator", None)
    return gen if isinstance(gen, torch.Generator) else None


def _rng_states(device: torch.device, order: torch.Generator, transform: Any, val_transform: Any) -> dict[str, Tensor]:
    """This process's random number generator states, by name."""
    states = {"torch_cpu": torch.get_rng_state(), "data_order": order.get_state()}
    if device.type == "cuda":
        states["torch_cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        states["torch_mps"] = torch.mps.get_rng_state()
    for name, t in (("transform", transform), ("val_transform", val_transform)):
        gen = _generator(t)
        if gen is not None:
            states[name] = gen.get_state()
    return states


def _set_rng_states(
    states: dict[str, Tensor], device: torch.device, order: torch.Generator, transform: Any, val_transform: Any
) -> None:
    torch.set_rng_state(states["torch_cpu"])
    order.set_state(states["data_order"])
    if "torch_cuda" in states and device.type == "cuda":
        torch.cuda.set_rng_state(states["torch_cuda"], device)
    if "torch_mps" in states and device.type == "mps":
        torch.mps.set_rng_state(states["torch_mps"])
    for name, t in (("transform", transform), ("val_transform", val_transform)):
        gen = _generator(t)
        if gen is not None and name in states:
            gen.set_state(states[name])


class _Guard:
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


def fit(
    model: nn.Module,
    objective: ObjectiveFn,
    x: Tensor,
    y: Tensor | None = None,
    val_x: Tensor | None = None,
    val_y: Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    grad_clip: float | None = None,
    skip_grad_norm: float | None = None,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    patience: int | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    compile: bool = False,  # noqa: A002 - the documented argument name
    seed: int = 0,
    transform: Callable[[Tensor], Tensor] | None = None,
    val_transform: Callable[[Tensor], Tensor] | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    restore_best: bool = True,
) -> History:
    """Train ``model`` on in-memory data by minibatch gradient descent on ``objective``.

    One optimizer per parameter group (``model.parameter_groups()`` or all parameters); a
    :class:`LossOutput` with ``group_losses`` makes each group's optimizer step on its own loss.
    Under ``torchrun`` the same call trains data-parallel (see :mod:`vaekit.train.distributed`).

    Args:
        model: the model; it is trained on ``device`` and returned to the device it came from.
        objective: ``(model, (x, y), step) -> LossOutput``.
        x: training examples (tensor or numpy array; uint8 images stay uint8 until ``transform``).
        y: labels/conditions, or None.
        val_x: validation examples: evaluated every epoch, enable early stopping and the best checkpoint.
        val_y: their labels.
        epochs: epochs to train (in total, counting the epochs of a resumed run).
        batch_size: examples per step (the global batch under torchrun).
        lr: base learning rate.
        optimizer: "adam" or "adamw".
        weight_decay: L2 (adam) or decoupled (adamw) weight decay.
        lr_schedule: "constant", "cosine" (to 0 at the end) or "step" (halved after each third).
        grad_clip: maximum global gradient norm per parameter group, or None.
        skip_grad_norm: skip an optimizer's update when the gradient norm of its parameters (after the
            data-parallel reduction, before clipping) is above this or not finite, leaving the weights and the
            optimizer state untouched (NVAE/VDVAE outlier skipping); the count per epoch is logged as
            ``skipped_updates``. A non-finite loss still raises :class:`NonFiniteLossError`.
        max_steps: stop after this many optimizer steps in total (counting a resumed run's steps).
        max_seconds: stop after this much wall-clock time in this call (validation and checkpoints included).
            Both are checked after each step; the epoch in progress is recorded as ``partial``, then validated
            and checkpointed as at an epoch end, and ``History.stop_reason`` says why the run ended. Resuming
            such a run does not continue it (its partial epoch counts as its last).
        patience: stop after this many epochs without a lower validation loss (None: never).
        run_dir: folder for ``metrics.jsonl``, ``metrics.csv``, ``checkpoints/last`` and ``checkpoints/best``.
        resume: continue from ``run_dir/checkpoints/last`` exactly as the interrupted run would have.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: "fp32" or "bf16" (autocast of the objective's forward computations).
        compile: ``torch.compile`` the model's forward.
        seed: seeds the data order and torch's generator (rank r of a distributed run uses ``seed + r``).
        transform: raw batch -> model input (e.g. ``DynamicBinarize``), applied per batch on the device.
        val_transform: the same for validation batches (default: ``transform``).
        callbacks: ``callback(epoch, record)`` after each epoch on rank 0 (``epoch`` 1-based, ``record`` the
            metrics row); raise :class:`StopTraining` to end the run after that epoch.
        progress: show a progress bar (only on a terminal, only on rank 0).
        restore_best: with validation data, leave the model holding the weights of the best epoch.

    Returns:
        The :class:`History` (also holding the previous epochs when resumed).

    Raises:
        ValueError: bad arguments (the message lists the valid choices).
        NonFiniteLossError: a loss or term became NaN/infinite (that step was not applied).
        CheckpointError: ``resume`` with a missing, corrupted or incompatible checkpoint.
    """
    x, y, val_x, val_y = (_as_tensor(t, n) for t, n in ((x, "x"), (y, "y"), (val_x, "val_x"), (val_y, "val_y")))
    arguments = dict(locals())
    _check_arguments(arguments)
    settings = {
        "epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "optimizer": optimizer,
        "weight_decay": float(weight_decay), "lr_schedule": lr_schedule, "seed": int(seed),
        "grad_clip": None if grad_clip is None else float(grad_clip), "n_train": int(x.shape[0]),
        "skip_grad_norm": None if skip_grad_norm is None else float(skip_grad_norm),
    }  # fmt: skip
    target = resolve_device(device)
    for name, t in (("transform", transform), ("val_transform", val_transform)):
        gen = _generator(t)
        if gen is not None and gen.device.type != target.type:
            raise ValueError(
                f"the {name}'s random generator is on {gen.device.type} but training runs on {target}: "
                f"create it with torch.Generator(device={str(target)!r})"
            )
    context = DistributedContext.start(target)
    settings["world_size"] = context.world_size
    first = next(iter(model.parameters()), None)
    home = first.device if first is not None else torch.device("cpu")
    run_path = Path(run_dir) if run_dir is not None else None
    writer = MetricsWriter(run_path) if run_path is not None and context.is_main else None
    compiled = False
    try:
        model.to(target)
        x, y = x.to(target), (None if y is None else y.to(target))
        if val_x is not None:
            val_x, val_y = val_x.to(target), (None if val_y is None else val_y.to(target))
        torch.manual_seed(int(seed) + context.rank)
        order = torch.Generator().manual_seed(int(seed))
        groups = optimizer_groups(model)
        optimizers = make_optimizers(groups, optimizer, float(lr), float(weight_decay))
        n_train = x.shape[0]
        steps_per_epoch = math.ceil(n_train / batch_size)
        total_steps = int(epochs) * steps_per_epoch
        history = History()
        best_state: dict[str, Tensor] | None = None
        since_best = 0
        if resume:
            loaded = _resume(run_path, model, optimizers, settings, context, order, transform, val_transform, target)
            history, since_best, best_state = loaded
        if compile:
            model.compile()
            compiled = True
        guard = _Guard(target, steps_per_epoch)
        check_every = _guard_interval(target)
        autocast = (
            (lambda: torch.autocast(target.type, dtype=torch.bfloat16))
            if precision == "bf16"
            else contextlib.nullcontext
        )
        train_step = _TrainStep(model, objective, groups, optimizers, guard, context, grad_clip, autocast,
                                skip_grad_norm, history.skipped_updates)  # fmt: skip
        step = history.steps
        constant_lr = lr_schedule == "constant"
        set_lr(optimizers, lr_at(lr_schedule, float(lr), step, total_steps))
        stop = history.stopped_early
        began, first_step = time.perf_counter(), step

        def budget_spent(clock: bool = True) -> str | None:
            """Why the step or time budget ends the run now, or None (same decision on every rank)."""
            if max_steps is not None and step >= max_steps:
                return "max_steps"
            if not clock or max_seconds is None or (context.enabled and step % check_every):
                return None  # under torchrun the ranks agree on the clock every check_every steps only
            return "max_seconds" if context.broadcast_flag(time.perf_counter() - began >= max_seconds) else None

        for epoch in range(history.epochs, int(epochs)):
            reason = None if stop else budget_spent(clock=step > first_step)  # this call takes one step at least
            if reason is not None:  # spent before this epoch began (by validation, or in a resumed run)
                history.stop_reason, history.stopped_early, stop = reason, True, True
            if stop:
                break
            partial = False
            started = time.perf_counter()
            model.train()
            permutation = torch.randperm(n_train, generator=order).to(target)
            sums = _Sums()
            bar = EpochProgress(steps_per_epoch, f"epoch {epoch + 1}/{epochs}", progress and context.is_main)
            for batch in range(steps_per_epoch):
                index = permutation[batch * batch_size : (batch + 1) * batch_size]
                global_size = index.numel()
                if context.enabled:
                    index = index[context.shard(global_size)]
                if not constant_lr:
                    set_lr(optimizers, lr_at(lr_schedule, float(lr), step, total_steps))
                xb = x.index_select(0, index)
                if transform is not None and index.numel():
                    xb = transform(xb)
                yb = None if y is None else y.index_select(0, index)
                train_step(xb, yb, step, global_size, sums, check=step % check_every == 0)
                step += 1
                bar.step(sums.means)
                reason = budget_spent()
                if reason is not None:
                    partial = batch + 1 < steps_per_epoch
                    break
            bar.close()
            guard.raise_if_bad(step - 1)
            train_seconds = time.perf_counter() - started
            examples = n_train if reason is None or not partial else (batch + 1) * batch_size
            train_means = sums.means(context)
            val_means = _validate(model, objective, val_x, val_y, val_transform or transform, batch_size, step,
                                  seed, context, autocast) if val_x is not None else {}  # fmt: skip
            history.train.append(train_means)
            if val_x is not None:
                history.validation.append(val_means)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": step,
                "seconds": time.perf_counter() - started,
                "samples_per_second": examples / max(train_seconds, 1e-9),
                "lr": optimizers[next(iter(optimizers))].param_groups[0]["lr"],
                **{f"train_{k}": v for k, v in train_means.items()},
                **{f"val_{k}": v for k, v in val_means.items()},
            }
            if skip_grad_norm is not None:
                total_skipped = train_step.skipped_total()  # one host read per epoch
                record["skipped_updates"] = total_skipped - history.skipped_updates
                history.skipped_updates = total_skipped
            if reason is not None:
                record["partial"] = partial
            history.records.append(record)
            history.steps = step
            improved = False
            if val_x is not None:
                val_loss = val_means.get("loss", math.inf)
                if history.best_val_loss is None or val_loss < history.best_val_loss:
                    history.best_val_loss, history.best_epoch = float(val_loss), epoch + 1
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    since_best, improved = 0, True
                else:
                    since_best += 1
                if patience is not None and since_best >= patience and epoch + 1 < epochs:
                    stop = True
            requested = False
            if context.is_main:
                for callback in callbacks:
                    try:
                        callback(epoch + 1, record)
                    except StopTraining:
                        requested = True
            if (stop or requested) and epoch + 1 < epochs:
                history.stop_reason = "callback" if requested else "patience"
            stop = context.broadcast_flag(stop or requested)
            if reason is not None and (partial or epoch + 1 < epochs):
                stop, history.stop_reason = True, reason
            history.stopped_early = stop and (epoch + 1 < epochs or partial)
            if run_path is not None:
                _save(run_path, model, optimizers, history, settings, since_best, context, order, transform,
                      val_transform, target, improved)  # fmt: skip
            if writer is not None:
                writer.write(history.records)
        if restore_best and best_state is not None:
            model.load_state_dict(best_state)
        return history
    finally:
        if compiled and hasattr(model, "_compiled_call_impl"):
            model._compiled_call_impl = None  # undo model.compile(): the caller gets the plain module back
        model.to(home)
        if writer is not None:
            writer.close()


class _TrainStep:
    """One optimizer step on a batch (this rank's shard of it): forward, guard, backward, reduce, clip, step."""

    def __init__(
        self,
        model: nn.Module,
        objective: ObjectiveFn,
        groups: dict[str, list[nn.Parameter]],
        optimizers: dict[str, torch.optim.Optimizer],
        guard: _Guard,
        context: DistributedContext,
        grad_clip: float | None,
        autocast: Callable[[], Any],
        skip_grad_norm: float | None = None,
        skipped_before: int = 0,
    ):
        self.model, self.objective, self.groups, self.optimizers = model, objective, groups, optimizers
        self.guard, self.context, self.grad_clip, self.autocast = guard, context, grad_clip, autocast
        self.skip_grad_norm = skip_grad_norm
        self.parameters = list(dict.fromkeys(p for params in groups.values() for p in params))
        self.fused = {name: bool(opt.defaults.get("fused")) for name, opt in optimizers.items()}
        # Per optimizer: 1 to skip its step (the guard's flag, or an outlier gradient norm of its group).
        self.skip = {name: guard.flag if skip_grad_norm is None else torch.zeros_like(guard.flag) for name in groups}
        self.skipped = torch.full_like(guard.flag, float(skipped_before))  # steps with a skipped update, in total
        for name, opt in optimizers.items():
            if self.fused[name]:
                opt.found_inf = self.skip[name]  # the fused kernels skip the whole step when it is 1
        self.group_names_checked = False

    def skipped_total(self) -> int:
        """Steps in which at least one optimizer's update was skipped as an outlier (reads the device)."""
        return int(self.skipped.item())

    def __call__(self, xb: Tensor, yb: Tensor | None, step: int, global_size: int, sums: _Sums, check: bool) -> None:
        """Train on ``xb`` (possibly empty on a rank whose shard is empty); ``check`` reads the guard flag."""
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        names: tuple[str, ...] = ()
        finite = None
        bad = torch.zeros((), device=self.guard.flag.device)
        size = xb.shape[0]
        if size:
            with self.autocast():
                result = self.objective(self.model, (xb, yb), step)
            self._check_groups(result)
            names, values = _values(result)
            finite = torch.isfinite(values)
            bad = (~finite.all()).float()
            _backward(result, self.groups)
            sums.add(names, values, size)
        if self.context.enabled:
            bad = self.context.all_reduce_gradients(self.parameters, size / global_size, bad)
        outliers: dict[str, Tensor] = {}
        for name, params in self.groups.items():
            norm = None
            if self.skip_grad_norm is not None:
                grads = [p.grad for p in params if p.grad is not None]
                norm = nn.utils.get_total_norm(grads, foreach=True) if grads else bad.new_zeros(())
                outliers[name] = (~(norm <= self.skip_grad_norm)).float()  # NaN norms count as outliers too
            if self.grad_clip is not None:
                if norm is None:
                    norm = nn.utils.clip_grad_norm_(params, float(self.grad_clip), foreach=True)
                else:
                    nn.utils.clip_grads_with_norm_(params, float(self.grad_clip), norm, foreach=True)
                if name not in outliers:  # a skipped update needs no guard; a finite loss stays trainable
                    bad = torch.maximum(bad, (~torch.isfinite(norm)).float())
        self.guard.record(bad, names, finite)
        if check:
            self.guard.raise_if_bad(step)
        if outliers:
            any_outlier = torch.zeros_like(bad)
            for name, outlier in outliers.items():
                torch.maximum(self.guard.flag, outlier, out=self.skip[name])
                torch.maximum(any_outlier, outlier, out=any_outlier)
            self.skipped.add_(any_outlier * (1 - self.guard.flag))
        for name, opt in self.optimizers.items():
            if self.fused[name] or self.skip[name].item() == 0:
                opt.step()

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


def _guard_interval(device: torch.device) -> int:
    """Steps between reads of the non-finite flag: every step on CPU, where reading it costs nothing."""
    return 1 if device.type == "cpu" else GUARD_INTERVAL


def _backward(result: LossOutput, groups: dict[str, list[nn.Parameter]]) -> None:
    """Backpropagate the loss, or each group's loss into that group's parameters only."""
    if not result.group_losses:
        result.loss.backward()
        return
    items = list(result.group_losses.items())
    for i, (name, loss) in enumerate(items):
        loss.backward(inputs=groups[name], retain_graph=i < len(items) - 1)


@torch.no_grad()
def _validate(
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
    sums = _Sums()
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
            names, values = _values(result)
            sums.add(names, values, hi - lo)
    model.train()
    return sums.means(context)


def _save(
    run_path: Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    history: History,
    settings: dict[str, Any],
    since_best: int,
    context: DistributedContext,
    order: torch.Generator,
    transform: Any,
    val_transform: Any,
    device: torch.device,
    improved: bool,
) -> None:
    """Write ``checkpoints/last`` (and ``best`` when the validation loss improved) from rank 0."""
    local = _rng_states(device, order, transform, val_transform)
    tensors: dict[str, Tensor] = {}
    for name in sorted(local):  # every rank's states, so each rank resumes its own streams
        for rank, state in enumerate(context.gather(local[name])):
            tensors[f"rng/{rank}/{name}"] = state
    if context.is_main:
        _write(run_path, model, optimizers, history, settings, since_best, tensors, improved)
    context.barrier()  # other ranks may read the checkpoint next (a resume in the same script)


def _write(
    run_path: Path,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    history: History,
    settings: dict[str, Any],
    since_best: int,
    tensors: dict[str, Tensor],
    improved: bool,
) -> None:
    optimizer_documents = {}
    for name, opt in optimizers.items():
        optimizer_documents[name], opt_tensors = optimizer_state(name, opt)
        tensors.update(opt_tensors)
    document = {
        "epoch": history.epochs,
        "step": history.steps,
        "settings": settings,
        "since_best": since_best,
        "history": history.to_dict(),
        "optimizers": optimizer_documents,
    }
    checkpoints = run_path / "checkpoints"
    if improved:  # best first: a crash between the two writes leaves a last checkpoint that predates it
        write_checkpoint(checkpoints / "best", model, document, tensors)
    write_checkpoint(checkpoints / "last", model, document, tensors)


def _resume(
    run_path: Path | None,
    model: nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    settings: dict[str, Any],
    context: DistributedContext,
    order: torch.Generator,
    transform: Any,
    val_transform: Any,
    device: torch.device,
) -> tuple[History, int, dict[str, Tensor] | None]:
    """Load ``checkpoints/last`` into the model, optimizers and generators; return the history,
    epochs since the best one, and the best weights (from ``checkpoints/best``)."""
    assert run_path is not None
    checkpoint = read_checkpoint(run_path / "checkpoints" / "last")
    document = checkpoint.document
    try:
        saved = document["settings"]
        different = [
            f"{k}: checkpoint {saved.get(k)!r}, now {settings[k]!r}"
            for k in (*RESUME_SETTINGS, "n_train")
            if saved.get(k) != settings[k]
        ]
        if settings["lr_schedule"] != "constant" and saved.get("epochs") != settings["epochs"]:
            different.append(f"epochs (sets the {settings['lr_schedule']} schedule): checkpoint {saved.get('epochs')}")
        if different:
            raise CheckpointError(
                f"cannot resume {checkpoint.path} exactly with different settings: " + "; ".join(different)
            )
        if sorted(document["optimizers"]) != sorted(optimizers):
            raise CheckpointError(
                f"{checkpoint.path} has optimizers {sorted(document['optimizers'])}, this model {sorted(optimizers)}"
            )
        load_model_state(model, checkpoint.model_state, checkpoint.path)
        for name, opt in optimizers.items():
            load_optimizer_state(name, opt, document["optimizers"][name], checkpoint.tensors)
        prefix = f"rng/{context.rank}/"
        states = {k[len(prefix) :]: v for k, v in checkpoint.tensors.items() if k.startswith(prefix)}
        _set_rng_states(states, device, order, transform, val_transform)
        history = History.from_dict(document["history"])
        since_best = int(document["since_best"])
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{checkpoint.path} is corrupted or incomplete: missing {error}") from error
    best_state = None
    if history.best_epoch is not None:
        best = read_checkpoint(run_path / "checkpoints" / "best")
        best_state = {k: v.to(device) for k, v in best.model_state.items()}
    return history, since_best, best_state
