"""The epochs of one ``fit`` call: batches in a seeded order, the budget, validation, the epoch record and
the decision to stop; callbacks are called at each step and epoch end."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput
from vaekit.train.callbacks import CallbackList
from vaekit.train.optim import lr_at, set_lr
from vaekit.train.state import TrainState
from vaekit.train.step import MetricSums, validate

ObjectiveFn = Callable[[nn.Module, Any, int], LossOutput]


class Epochs:
    """The epochs of one ``fit`` call over a :class:`TrainState` (keyword arguments: see ``fit``)."""

    def __init__(
        self,
        state: TrainState,
        *,
        x: Tensor,
        y: Tensor | None,
        val_x: Tensor | None,
        val_y: Tensor | None,
        objective: ObjectiveFn,
        batch_size: int,
        lr: float,
        lr_schedule: str,
        val_transform: Any,
        seed: int,
        max_steps: int | None,
        max_seconds: float | None,
        check_every: int,
        autocast: Callable[[], Any],
        hooks: CallbackList,
        recorders: CallbackList,
    ):
        self.state, self.x, self.y, self.val_x, self.val_y, self.objective = state, x, y, val_x, val_y, objective
        self.batch_size, self.lr, self.lr_schedule, self.val_transform = batch_size, lr, lr_schedule, val_transform
        self.seed, self.max_steps, self.max_seconds, self.check_every = seed, max_steps, max_seconds, check_every
        self.autocast, self.hooks, self.recorders = autocast, hooks, recorders
        self.began, self.first_step = time.perf_counter(), state.step

    def budget_spent(self, clock: bool = True) -> str | None:
        """Why the step or time budget ends the run now, or None (same decision on every rank)."""
        state = self.state
        if self.max_steps is not None and state.step >= self.max_steps:
            return "max_steps"
        if not clock or self.max_seconds is None or (state.context.enabled and state.step % self.check_every):
            return None  # under torchrun the ranks agree on the clock every check_every steps only
        late = time.perf_counter() - self.began >= self.max_seconds
        return "max_seconds" if state.context.broadcast_flag(late) else None

    def run(self) -> None:
        """Train epoch after epoch until ``epochs``, a budget, early stopping or a callback ends the run."""
        state = self.state
        set_lr(state.optimizers, lr_at(self.lr_schedule, self.lr, state.step, state.total_steps))
        stop = state.history.stopped_early
        for epoch in range(state.history.epochs, state.epochs):
            # Resumed inside an epoch: run it, even on a spent budget, so that an epoch the budget had cut is
            # closed (validated, recorded, its best weights kept) as the interrupted run closed it.
            inside = state.batch > 0
            reason = None if stop or inside else self.budget_spent(clock=state.step > self.first_step)
            if reason is not None:  # spent before this epoch began (by validation, or in a resumed run)
                state.history.stop_reason, state.history.stopped_early, stop = reason, True, True
            if stop:
                break
            state.epoch = epoch
            stop = self.epoch()

    def epoch(self) -> bool:
        """One epoch (from ``state.batch`` on, for a resumed one); returns whether the run stops after it."""
        state, context = self.state, self.state.context
        started = time.perf_counter()
        state.model.train()
        if state.batch == 0:  # else resumed inside this epoch, with its sums so far
            state.sums = MetricSums()
        state.begin_epoch()
        permutation = torch.randperm(self.x.shape[0], generator=state.order).to(self.x.device)
        self.hooks.on_epoch_start(state)
        self.recorders.on_epoch_start(state)
        constant_lr = self.lr_schedule == "constant"
        examples = 0
        reason = self.budget_spent(clock=False) if state.batch > 0 else None  # resumed with the budget spent
        for batch in range(state.batch if reason is None else state.steps_per_epoch, state.steps_per_epoch):
            index = permutation[batch * self.batch_size : (batch + 1) * self.batch_size]
            global_size = index.numel()
            if context.enabled:
                index = index[context.shard(global_size)]
            if not constant_lr:
                set_lr(state.optimizers, lr_at(self.lr_schedule, self.lr, state.step, state.total_steps))
            xb = self.x.index_select(0, index)
            if state.transform is not None and index.numel():
                xb = state.transform(xb)
            yb = None if self.y is None else self.y.index_select(0, index)
            state.train_step(xb, yb, state.step, global_size, state.sums, check=state.step % self.check_every == 0)
            state.step, state.batch, examples = state.step + 1, batch + 1, examples + global_size
            self.hooks.on_step_end(state)
            self.recorders.on_step_end(state)
            reason = self.budget_spent()
            if reason is not None:
                break
        state.train_step.guard.raise_if_bad(state.step - 1)
        state.partial = reason is not None and state.batch < state.steps_per_epoch
        # a checkpoint of a cut epoch continues its training: the random states from before its validation
        state.paused_rng = state.rng_states() if state.partial else None
        train_seconds = time.perf_counter() - started
        record = self._record(examples, train_seconds, started, reason)
        self.hooks.on_epoch_end(state, record)
        stop = self._resolve_stop(reason)
        self.recorders.on_epoch_end(state, record)
        state.batch, state.partial, state.paused_rng = 0, False, None
        return stop

    def _record(self, examples: int, train_seconds: float, started: float, reason: str | None) -> dict[str, Any]:
        """Validate, update the history and the best weights, and return the epoch's metrics row."""
        state = self.state
        history, epoch = state.history, state.epoch
        train_means = state.sums.means(state.context)
        val_means = {}
        if self.val_x is not None:
            val_means = validate(
                model=state.model, objective=self.objective, val_x=self.val_x, val_y=self.val_y,
                transform=self.val_transform, batch_size=self.batch_size, step=state.step, seed=self.seed,
                context=state.context, autocast=self.autocast,
            )  # fmt: skip
        history.train.append(train_means)
        if self.val_x is not None:
            history.validation.append(val_means)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": state.step,
            "seconds": time.perf_counter() - started,
            "samples_per_second": examples / max(train_seconds, 1e-9),
            "lr": next(iter(state.optimizers.values())).param_groups[0]["lr"],
            **{f"train_{k}": v for k, v in train_means.items()},
            **{f"val_{k}": v for k, v in val_means.items()},
        }
        if state.train_step.skip_grad_norm is not None:
            total_skipped = state.train_step.skipped_total()  # one host read per epoch
            record["skipped_updates"] = total_skipped - history.skipped_updates
            history.skipped_updates = total_skipped
        if reason is not None:
            record["partial"] = state.partial
        history.records.append(record)
        history.steps = state.step
        state.improved = False
        if self.val_x is not None:
            val_loss = val_means.get("loss", math.inf)
            if history.best_val_loss is None or val_loss < history.best_val_loss:
                history.best_val_loss, history.best_epoch = float(val_loss), epoch + 1
                state.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
                state.since_best, state.improved = 0, True
            else:
                state.since_best += 1
        return record

    def _resolve_stop(self, reason: str | None) -> bool:
        """Whether the run stops after this epoch: a callback's request (rank 0 decides) or the budget."""
        state = self.state
        history, last = state.history, state.epoch + 1 >= state.epochs
        if state.stop_reason is not None and not last:
            history.stop_reason = state.stop_reason
        stop = state.context.broadcast_flag(state.stop_reason is not None)
        state.stop_reason = None
        if reason is not None and (state.partial or not last):
            stop, history.stop_reason = True, reason
        history.stopped_early = stop and (not last or state.partial)
        return stop
