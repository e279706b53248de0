"""Callbacks: what happens around the training loop (progress, logs, early stopping, checkpoints, yours).

The loop calls each callback's hooks with the :class:`~vaekit.train.state.TrainState`:

- ``on_train_start(state)``: once, after the model, optimizers and a resumed checkpoint are in place;
- ``on_epoch_start(state)``: before each epoch's first batch;
- ``on_step_end(state)``: after each optimizer step (``state.step`` steps done, ``state.batch`` of this epoch);
- ``on_epoch_end(state, record)``: after the epoch's validation; ``record`` is its metrics row
  (``epoch``, ``step``, ``lr``, ``train_*``, ``val_*``, ...); call ``state.request_stop()`` (or raise
  :class:`~vaekit.train.errors.StopTraining`) to end the run after this epoch;
- ``on_train_end(state)``: once when ``fit`` returns or raises (release files and displays here).

A callback runs on rank 0 only under ``torchrun``, unless it sets ``all_ranks = True`` (then it must make
the same collective calls on every rank). Example, a log line every 100 steps::

    class EveryHundred(Callback):
        def on_step_end(self, state):
            if state.step % 100 == 0:
                print(state.step, state.sums.means())

    fit(model, objective, x, callbacks=[EveryHundred()])

A plain function ``callback(epoch, record)`` is accepted too: it is called as ``on_epoch_end``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaekit.train.errors import StopTraining
from vaekit.train.metrics import MetricsWriter
from vaekit.train.progress import EpochProgress

if TYPE_CHECKING:
    from vaekit.train.state import TrainState


class Callback:
    """Base class of callbacks: override the hooks you need (see the module docstring)."""

    all_ranks: bool = False

    def on_train_start(self, state: TrainState) -> None:
        """Once, before the first epoch of this call."""

    def on_epoch_start(self, state: TrainState) -> None:
        """Before each epoch's first batch."""

    def on_step_end(self, state: TrainState) -> None:
        """After each optimizer step."""

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        """After each epoch and its validation."""

    def on_train_end(self, state: TrainState) -> None:
        """Once, when ``fit`` returns or raises."""


class FunctionCallback(Callback):
    """Calls ``function(epoch, record)`` after each epoch (``epoch`` 1-based); StopTraining stops the run."""

    def __init__(self, function: Callable[[int, dict[str, Any]], Any]):
        self.function = function

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        try:
            self.function(state.epoch + 1, record)
        except StopTraining:
            state.request_stop("callback")


class EarlyStopping(Callback):
    """Stops the run after ``patience`` epochs without a lower validation loss."""

    def __init__(self, patience: int):
        self.patience = int(patience)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        if state.since_best >= self.patience and state.epoch + 1 < state.epochs:
            state.request_stop("patience")


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss, reconstruction and KL (on a terminal only)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar: EpochProgress | None = None

    def on_epoch_start(self, state: TrainState) -> None:
        self._bar = EpochProgress(state.steps_per_epoch, f"epoch {state.epoch + 1}/{state.epochs}", self.enabled)
        self._bar.step_to(state.batch)

    def on_step_end(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.step(state.sums.means)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        self.on_train_end(state)

    def on_train_end(self, state: TrainState) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class MetricsLogger(Callback):
    """Writes ``metrics.jsonl``, ``metrics.csv`` (and TensorBoard when installed) into the run folder."""

    def __init__(self, run_dir: str | Path):
        self.writer = MetricsWriter(run_dir)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        self.writer.write(state.history.records)

    def on_train_end(self, state: TrainState) -> None:
        self.writer.close()


class CallbackList:
    """Runs hooks in order, each on the ranks it asks for."""

    def __init__(self, callbacks: list[Callback], is_main: bool):
        self.callbacks = [c for c in callbacks if c.all_ranks or is_main]
        # on_step_end runs every step: only the callbacks that define it are called there
        self.stepping = [c for c in self.callbacks if type(c).on_step_end is not Callback.on_step_end]

    def on_train_start(self, state: TrainState) -> None:
        for callback in self.callbacks:
            callback.on_train_start(state)

    def on_epoch_start(self, state: TrainState) -> None:
        for callback in self.callbacks:
            callback.on_epoch_start(state)

    def on_step_end(self, state: TrainState) -> None:
        for callback in self.stepping:
            callback.on_step_end(state)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        for callback in self.callbacks:
            try:
                callback.on_epoch_end(state, record)
            except StopTraining:
                state.request_stop("callback")

    def on_train_end(self, state: TrainState) -> None:
        for callback in self.callbacks:
            callback.on_train_end(state)


def as_callback(item: Any) -> Callback:
    """A :class:`Callback`, or a function ``(epoch, record)`` wrapped as one."""
    if isinstance(item, Callback):
        return item
    if callable(item):
        return FunctionCallback(item)
    raise TypeError(f"callbacks must be Callback instances or callables (epoch, record) -> None; got {item!r}")
