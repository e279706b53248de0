"""The train state: everything a training run holds between steps, and what a checkpoint must restore."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.train.distributed import DistributedContext
from vaekit.train.history import History
from vaekit.train.step import MetricSums, TrainStep


@dataclass
class TrainState:
    """A training run in progress, as callbacks see it.

    Attributes:
        model: the model being trained (on ``device``).
        optimizers: one optimizer per parameter group, by group name.
        context: this process's place in a data-parallel run (``context.is_main`` on rank 0).
        device: the device training runs on.
        settings: the run settings a resumed run must share (batch size, lr, schedule, seed, ...).
        history: the completed epochs (and, at the end of a budget-stopped run, its partial epoch).
        epochs: epochs to train in total.
        steps_per_epoch: optimizer steps per epoch.
        step: optimizer steps taken so far (over resumes too); after a step, the number of that step + 1.
        epoch: 0-based index of the epoch in progress.
        batch: batches of the epoch in progress done so far.
        since_best: epochs since the best validation loss.
        best_state: the weights of the best epoch (with validation data).
        improved: whether the epoch that just ended had the best validation loss so far.
        partial: whether the epoch that just ended was cut short by ``max_steps`` or ``max_seconds``.
        stop_reason: why a callback asked to stop (``request_stop``), or None.
        order: the generator of the data order (one permutation per epoch).
        epoch_order_state: ``order``'s state before this epoch's permutation was drawn (for mid-epoch resume).
        sums: this epoch's running metric sums.
        train_step: the step function (holds the count of skipped updates).
        epoch_start: the history and ``since_best`` as they were when this epoch began (what a mid-epoch
            checkpoint records, so that resuming it replays the rest of the epoch).
        transform: the training batch transform, and ``val_transform`` the validation one.
        skipped_at_start: steps with a skipped update before this ``fit`` call.
        paused_rng: the random states when an epoch was cut short by the budget, before its validation.
        scaler: the fp16 loss scaler (``precision="fp16"``), else None.
    """

    model: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    context: DistributedContext
    device: torch.device
    settings: dict[str, Any]
    epochs: int
    steps_per_epoch: int
    order: torch.Generator
    history: History = field(default_factory=History)
    step: int = 0
    epoch: int = 0
    batch: int = 0
    since_best: int = 0
    best_state: dict[str, Tensor] | None = None
    improved: bool = False
    partial: bool = False
    stop_reason: str | None = None
    epoch_order_state: Tensor | None = None
    sums: MetricSums = field(default_factory=MetricSums)
    train_step: TrainStep | None = None
    epoch_start: dict[str, Any] = field(default_factory=dict)
    transform: Any = None
    val_transform: Any = None
    skipped_at_start: int = 0
    paused_rng: dict[str, Tensor] | None = None
    scaler: torch.amp.GradScaler | None = None

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0 (which writes files and draws the progress bar)."""
        return self.context.is_main

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run (what schedules are defined over)."""
        return self.epochs * self.steps_per_epoch

    def request_stop(self, reason: str = "callback") -> None:
        """End the run after the epoch in progress (the reason lands in ``History.stop_reason``)."""
        self.stop_reason = reason

    def begin_epoch(self) -> None:
        """Remember what a mid-epoch checkpoint of this epoch records (call before drawing its order)."""
        self.epoch_order_state = self.order.get_state()
        self.epoch_start = {"history": self.history.to_dict(), "since_best": self.since_best}

    def rng_states(self) -> dict[str, Tensor]:
        """This process's random number generator states, by name."""
        states = {"torch_cpu": torch.get_rng_state(), "data_order": self.order.get_state()}
        if self.epoch_order_state is not None:
            states["data_order_epoch"] = self.epoch_order_state
        if self.device.type == "cuda":
            states["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        elif self.device.type == "mps":
            states["torch_mps"] = torch.mps.get_rng_state()
        for name, t in (("transform", self.transform), ("val_transform", self.val_transform)):
            gen = transform_generator(t)
            if gen is not None:
                states[name] = gen.get_state()
        return states

    def set_rng_states(self, states: dict[str, Tensor], mid_epoch: bool) -> None:
        """Restore :meth:`rng_states`; ``mid_epoch``: rewind the data order to redraw the epoch's permutation."""
        torch.set_rng_state(states["torch_cpu"])
        self.order.set_state(states["data_order_epoch" if mid_epoch else "data_order"])
        if "torch_cuda" in states and self.device.type == "cuda":
            torch.cuda.set_rng_state(states["torch_cuda"], self.device)
        if "torch_mps" in states and self.device.type == "mps":
            torch.mps.set_rng_state(states["torch_mps"])
        for name, t in (("transform", self.transform), ("val_transform", self.val_transform)):
            gen = transform_generator(t)
            if gen is not None and name in states:
                gen.set_state(states[name])


def transform_generator(transform: Any) -> torch.Generator | None:
    """The random generator a batch transform draws from (e.g. ``DynamicBinarize.generator``), or None."""
    gen = getattr(transform, "generator", None)
    return gen if isinstance(gen, torch.Generator) else None
