"""The one training loop for every vaekit model: ``fit`` runs epochs of steps over a train state.

The parts: :mod:`~vaekit.train.step` (one optimizer step, validation), :mod:`~vaekit.train.state` (what a
run holds), :mod:`~vaekit.train.callbacks` (progress, logs, early stopping, yours),
:mod:`~vaekit.train.checkpointing` (checkpoints and exact resume), :mod:`~vaekit.train.arguments`.
Hot path: the data stays one tensor on the device (uint8 stays uint8) and each batch is an
``index_select`` of it followed by the transform; the non-finite flag is read every step on CPU (free
there) and every ``GUARD_INTERVAL`` steps on accelerators.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vaekit.objectives.elbo import LossOutput
from vaekit.train.arguments import as_tensor, check_arguments
from vaekit.train.callbacks import Callback, CallbackList, EarlyStopping, MetricsLogger, ProgressBar, as_callback
from vaekit.train.checkpointing import Checkpointer, restore, resume_position
from vaekit.train.device import resolve_device
from vaekit.train.distributed import DistributedContext
from vaekit.train.epochs import Epochs
from vaekit.train.history import History
from vaekit.train.optim import make_optimizers, optimizer_groups
from vaekit.train.state import TrainState, transform_generator
from vaekit.train.step import Guard, TrainStep
from vaekit.train.sync import data_parallel_buffers

ObjectiveFn = Callable[[nn.Module, Any, int], LossOutput]
GUARD_INTERVAL = 32  # steps between reads of the non-finite flag on accelerators
AUTOCAST_TYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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
    callbacks: Sequence[Callback | Callable[[int, dict[str, Any]], Any]] = (),
    checkpoint_every: int | str | None = None,
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
            Both are checked after each step; the epoch in progress is recorded as ``partial`` and validated,
            and ``History.stop_reason`` says why the run ended. The checkpoint then holds the position inside
            the epoch: resuming with a larger budget continues the run exactly.
        patience: stop after this many epochs without a lower validation loss (None: never).
        run_dir: folder for ``metrics.jsonl``, ``metrics.csv``, ``checkpoints/last`` and ``checkpoints/best``.
        resume: continue from ``run_dir/checkpoints/last`` exactly as the interrupted run would have (also
            from inside an epoch); a run stopped by ``max_steps``/``max_seconds`` continues with a larger one.
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: "fp32", "bf16" (autocast of the objective's forward computations) or "fp16" (autocast
            with dynamic loss scaling by ``torch.amp.GradScaler``: a step whose gradients overflow is skipped
            and the scale halves; the scaler's state is checkpointed).
        compile: ``torch.compile`` the model's forward.
        seed: seeds the data order and torch's generator (rank r of a distributed run uses ``seed + r``).
        transform: raw batch -> model input (e.g. ``DynamicBinarize``), applied per batch on the device.
        val_transform: the same for validation batches (default: ``transform``).
        callbacks: :class:`~vaekit.train.callbacks.Callback` objects (hooks at train/epoch/step start and
            end, see :mod:`vaekit.train.callbacks`) or functions ``callback(epoch, record)`` called after each
            epoch on rank 0 (``epoch`` 1-based, ``record`` the metrics row); raise :class:`StopTraining` to
            end the run after that epoch.
        checkpoint_every: also write ``checkpoints/last`` inside epochs, every this many steps (an integer)
            or this long (a string: "90s", "10min", "1h"); resuming such a checkpoint continues mid-epoch.
        progress: show a progress bar (only on a terminal, only on rank 0).
        restore_best: with validation data, leave the model holding the weights of the best epoch.

    Returns:
        The :class:`History` (also holding the previous epochs when resumed).

    Raises:
        ValueError: bad arguments (the message lists the valid choices).
        NonFiniteLossError: a loss or term became NaN/infinite (that step was not applied).
        CheckpointError: ``resume`` with a missing, corrupted or incompatible checkpoint.
    """
    x, y, val_x, val_y = (as_tensor(t, n) for t, n in ((x, "x"), (y, "y"), (val_x, "val_x"), (val_y, "val_y")))
    check_arguments(dict(locals()))
    target = resolve_device(device)
    for name, t in (("transform", transform), ("val_transform", val_transform)):
        gen = transform_generator(t)
        if gen is not None and gen.device.type != target.type:
            raise ValueError(
                f"the {name}'s random generator is on {gen.device.type} but training runs on {target}: "
                f"create it with torch.Generator(device={str(target)!r})"
            )
    context = DistributedContext.start(target)
    settings = {
        "epochs": int(epochs), "batch_size": int(batch_size), "lr": float(lr), "optimizer": optimizer,
        "weight_decay": float(weight_decay), "lr_schedule": lr_schedule, "seed": int(seed),
        "grad_clip": None if grad_clip is None else float(grad_clip), "n_train": int(x.shape[0]),
        "skip_grad_norm": None if skip_grad_norm is None else float(skip_grad_norm), "world_size": context.world_size,
    }  # fmt: skip
    first = next(iter(model.parameters()), None)
    home = first.device if first is not None else torch.device("cpu")
    check_every = _guard_interval(target)
    hooks = [ProgressBar(progress), *([EarlyStopping(patience)] if patience is not None else [])]
    hooks += [as_callback(c) for c in callbacks]
    recorders: list[Callback] = []
    if run_dir is not None:
        recorders = [Checkpointer(run_dir, checkpoint_every, check_every), MetricsLogger(run_dir)]
    everyone = CallbackList([*hooks, *recorders], context.is_main)
    state: TrainState | None = None
    compiled = False
    try:
        model.to(target)
        x, y = x.to(target), (None if y is None else y.to(target))
        if val_x is not None:
            val_x, val_y = val_x.to(target), (None if val_y is None else val_y.to(target))
        torch.manual_seed(int(seed) + context.rank)
        _seed_per_rank(context, transform, val_transform)
        groups = optimizer_groups(model)
        optimizers = make_optimizers(groups, optimizer, float(lr), float(weight_decay))
        state = TrainState(
            model=model, optimizers=optimizers, context=context, device=target, settings=settings,
            epochs=int(epochs), steps_per_epoch=math.ceil(x.shape[0] / batch_size),
            order=torch.Generator().manual_seed(int(seed)), transform=transform, val_transform=val_transform,
            scaler=torch.amp.GradScaler(target.type) if precision == "fp16" else None,
        )  # fmt: skip
        position = restore(state, run_dir) if resume else None
        if position is not None:
            resume_position(state, position)
        state.skipped_at_start = state.skipped_at_start if position is not None else state.history.skipped_updates
        if compile:
            model.compile()
            compiled = True
        autocast = (
            (lambda: torch.autocast(target.type, dtype=AUTOCAST_TYPES[precision]))
            if precision in AUTOCAST_TYPES
            else contextlib.nullcontext
        )
        state.train_step = TrainStep(
            model=model, objective=objective, groups=groups, optimizers=optimizers,
            guard=Guard(target, state.steps_per_epoch), context=context, grad_clip=grad_clip, autocast=autocast,
            skip_grad_norm=skip_grad_norm, skipped_before=state.skipped_at_start, scaler=state.scaler,
        )  # fmt: skip
        epochs_run = Epochs(
            state, x=x, y=y, val_x=val_x, val_y=val_y, objective=objective, batch_size=int(batch_size),
            lr=float(lr), lr_schedule=lr_schedule, val_transform=val_transform or transform, seed=int(seed),
            max_steps=max_steps, max_seconds=max_seconds, check_every=check_every, autocast=autocast,
            hooks=CallbackList(hooks, context.is_main), recorders=CallbackList(recorders, context.is_main),
        )  # fmt: skip
        with data_parallel_buffers(model, context):
            everyone.on_train_start(state)
            epochs_run.run()
        if restore_best and state.best_state is not None:
            model.load_state_dict(state.best_state)
        return state.history
    finally:
        if state is not None:
            everyone.on_train_end(state)
        if compiled and hasattr(model, "_compiled_call_impl"):
            model._compiled_call_impl = None  # undo model.compile(): the caller gets the plain module back
        model.to(home)


def _seed_per_rank(context: DistributedContext, *transforms: Any) -> None:
    """Give each rank its own stream of the transforms' noise (e.g. binarization): rank r > 0 reseeds the
    generator from its seed and r; rank 0 keeps it, so one process draws what it always drew."""
    if context.rank == 0:
        return
    for t in transforms:
        gen = transform_generator(t)
        if gen is not None:
            gen.manual_seed((gen.initial_seed() + 0x9E3779B97F4A7C15 * context.rank) % 2**63)


def _guard_interval(device: torch.device) -> int:
    """Steps between reads of the non-finite flag: every step on CPU, where reading it costs nothing."""
    return 1 if device.type == "cpu" else GUARD_INTERVAL
