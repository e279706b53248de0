"""Checkpointing as a callback: ``checkpoints/last`` (and ``best``) at epoch ends and every N steps or
seconds, and exact resume from one, also in the middle of an epoch.

A mid-epoch checkpoint records the history as it was when its epoch began, the position in the epoch
(batch, running metric sums, skipped-update count) and the data-order generator's state from before the
epoch's permutation was drawn; resuming redraws the same permutation and continues at the next batch, so
the resumed run takes exactly the steps the uninterrupted one would have. A run stopped by ``max_steps`` or
``max_seconds`` leaves such a checkpoint, and resuming it with a larger budget continues it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from torch import Tensor

from vaekit.train.callbacks import Callback
from vaekit.train.checkpoint import (
    find_checkpoint,
    load_model_state,
    load_optimizer_state,
    optimizer_state,
    read_checkpoint,
    write_checkpoint,
)
from vaekit.train.errors import CheckpointError
from vaekit.train.history import History
from vaekit.train.state import TrainState

# Settings a resumed run must share with the run that wrote the checkpoint, or it would not continue exactly.
RESUME_SETTINGS = (
    "batch_size", "lr", "optimizer", "weight_decay", "lr_schedule", "grad_clip", "skip_grad_norm", "seed", "world_size"
)  # fmt: skip
BUDGET_REASONS = ("max_steps", "max_seconds")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\s*$", re.IGNORECASE)
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_checkpoint_every(value: Any) -> tuple[int | None, float | None]:
    """``checkpoint_every`` as (steps, seconds): an integer is steps, a string like "90s", "10min", "2h"
    (or "500 steps") a duration, None neither.

    Raises:
        ValueError: anything else.
    """
    if value is None:
        return None, None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return int(value), None
    if isinstance(value, str):
        steps = re.fullmatch(r"\s*(\d+)\s*steps?\s*", value)
        if steps and int(steps.group(1)) >= 1:
            return int(steps.group(1)), None
        match = _DURATION.fullmatch(value)
        if match and float(match.group(1)) > 0:
            return None, float(match.group(1)) * _SECONDS[match.group(2)[0].lower()]
    raise ValueError(
        f"checkpoint_every must be a number of steps >= 1 or a duration such as '90s', '10min', '1h'; got {value!r}"
    )


class Checkpointer(Callback):
    """Writes ``run_dir/checkpoints/last`` at each epoch end (and ``best`` when validation improved), and
    mid-epoch every ``every`` steps or seconds (see :func:`parse_checkpoint_every`).

    Every rank takes part (each contributes its random states); rank 0 writes.
    """

    all_ranks = True

    def __init__(self, run_dir: str | Path, every: int | str | None = None, check_every: int = 1):
        self.run_path = Path(run_dir)
        self.every_steps, self.every_seconds = parse_checkpoint_every(every)
        self.check_every = check_every  # steps between agreements of the ranks on the clock
        self.last_saved = time.monotonic()

    def on_train_start(self, state: TrainState) -> None:
        self.last_saved = time.monotonic()

    def on_step_end(self, state: TrainState) -> None:
        if state.batch >= state.steps_per_epoch:
            return  # the epoch-end checkpoint follows at once
        due = self.every_steps is not None and state.step % self.every_steps == 0
        if self.every_seconds is not None and state.step % self.check_every == 0:
            late = time.monotonic() - self.last_saved >= self.every_seconds
            due = state.context.broadcast_flag(late) or due  # rank 0's clock decides for every rank
        if due:
            state.train_step.guard.raise_if_bad(state.step - 1)  # never checkpoint past a bad step
            self.save(state, mid_epoch=True)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        self.save(state, mid_epoch=state.partial)

    def save(self, state: TrainState, mid_epoch: bool) -> None:
        """Write ``checkpoints/last`` (every rank must call this)."""
        local = state.paused_rng if state.paused_rng is not None else state.rng_states()
        tensors: dict[str, Tensor] = {}
        for name in sorted(local):  # every rank's states, so each rank resumes its own streams
            for rank, value in enumerate(state.context.gather(local[name])):
                tensors[f"rng/{rank}/{name}"] = value
        document: dict[str, Any] = {
            "epoch": state.history.epochs,
            "step": state.step,
            "settings": state.settings,
            "since_best": state.since_best,
            "history": state.history.to_dict(),
        }
        improved = state.improved and not mid_epoch  # a partial epoch does not make a best checkpoint
        if mid_epoch:
            sums, packed = state.sums.state(state.context)
            tensors["position/sums"] = packed
            document.update(state.epoch_start)  # the history and since_best from when this epoch began
            document["epoch"] = state.epoch
            document["position"] = {
                "epoch": state.epoch,
                "batch": state.batch,
                "sums": sums,
                "skipped_total": state.train_step.skipped_total(),
            }
        if state.is_main:
            optimizers = {}
            for name, opt in state.optimizers.items():
                optimizers[name], opt_tensors = optimizer_state(name, opt)
                tensors.update(opt_tensors)
            document["optimizers"] = optimizers
            if state.scaler is not None:
                document["grad_scaler"] = state.scaler.state_dict()  # numbers only: JSON
            checkpoints = self.run_path / "checkpoints"
            if improved:  # best first: a crash between the two writes leaves a last checkpoint that predates it
                write_checkpoint(checkpoints / "best", state.model, document, tensors)
            write_checkpoint(checkpoints / "last", state.model, document, tensors)
        self.last_saved = time.monotonic()
        state.context.barrier()  # other ranks may read the checkpoint next (a resume in the same script)


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether ``run_dir/checkpoints/last`` exists (or a crash left its previous version aside)."""
    return find_checkpoint(Path(run_dir) / "checkpoints" / "last") is not None


def restore(state: TrainState, run_dir: str | Path) -> dict[str, Any] | None:
    """Load ``run_dir/checkpoints/last`` into ``state`` (model, optimizers, generators, history, step).

    Returns:
        The mid-epoch position (``epoch``, ``batch``, ``sums``, ``skipped_total``, and the sums tensor under
        ``packed``) when the checkpoint was written inside an epoch, else None.

    Raises:
        CheckpointError: no checkpoint, a corrupted one, or one written with different settings.
    """
    run_path = Path(run_dir)
    checkpoint = read_checkpoint(run_path / "checkpoints" / "last")
    document = checkpoint.document
    try:
        _check_settings(document["settings"], state.settings, checkpoint.path)
        if sorted(document["optimizers"]) != sorted(state.optimizers):
            raise CheckpointError(
                f"{checkpoint.path} has optimizers {sorted(document['optimizers'])}, "
                f"this model {sorted(state.optimizers)}"
            )
        load_model_state(state.model, checkpoint.model_state, checkpoint.path)
        for name, opt in state.optimizers.items():
            load_optimizer_state(name, opt, document["optimizers"][name], checkpoint.tensors)
        if state.scaler is not None and "grad_scaler" in document:  # an fp32/bf16 checkpoint starts a new scale
            state.scaler.load_state_dict(document["grad_scaler"])
        position = document.get("position")
        prefix = f"rng/{state.context.rank}/"
        states = {k[len(prefix) :]: v for k, v in checkpoint.tensors.items() if k.startswith(prefix)}
        state.set_rng_states(states, mid_epoch=position is not None)
        state.history = History.from_dict(document["history"])
        state.since_best = int(document["since_best"])
        state.step = int(document["step"])
        if position is not None:
            position = {**position, "packed": checkpoint.tensors["position/sums"]}
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(
            f"{checkpoint.path} is corrupted or incomplete: {type(error).__name__} {error}"
        ) from error
    if state.history.stop_reason in BUDGET_REASONS:  # a larger budget continues the run
        state.history.stop_reason, state.history.stopped_early = None, False
    if state.history.best_epoch is not None:
        best = read_checkpoint(run_path / "checkpoints" / "best")
        state.best_state = {k: v.to(state.device) for k, v in best.model_state.items()}
    return position


def _check_settings(saved: dict[str, Any], settings: dict[str, Any], path: Path) -> None:
    different = [
        f"{k}: checkpoint {saved.get(k)!r}, now {settings[k]!r}"
        for k in (*RESUME_SETTINGS, "n_train")
        if saved.get(k) != settings[k]
    ]
    if settings["lr_schedule"] != "constant" and saved.get("epochs") != settings["epochs"]:
        different.append(f"epochs (sets the {settings['lr_schedule']} schedule): checkpoint {saved.get('epochs')}")
    if different:
        raise CheckpointError(f"cannot resume {path} exactly with different settings: " + "; ".join(different))


def resume_position(state: TrainState, position: dict[str, Any]) -> None:
    """Put ``state`` at a mid-epoch checkpoint's position (after :func:`restore`)."""
    state.batch = int(position["batch"])
    if state.is_main:  # the saved sums are over all ranks; MetricSums.means adds the ranks up
        state.sums.load(position["sums"], position["packed"], state.device)
    state.skipped_at_start = int(position["skipped_total"])
    if not 0 < state.batch < state.steps_per_epoch:
        raise CheckpointError(f"the checkpoint's position (batch {state.batch}) is not inside an epoch")
