"""Checks of ``fit``'s arguments: a clear error for each bad setting, before any work is done."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit.train.callbacks import as_callback
from vaekit.train.checkpointing import parse_checkpoint_every
from vaekit.train.device import resolve_device
from vaekit.train.optim import OPTIMIZERS, check_lr_schedule

PRECISIONS = ("fp32", "bf16", "fp16")
# fit's defaults of the options check_options looks at
OPTION_DEFAULTS: dict[str, Any] = {
    "epochs": 10, "batch_size": 128, "lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0, "lr_schedule": "constant",
    "grad_clip": None, "skip_grad_norm": None, "max_steps": None, "max_seconds": None, "patience": None,
    "precision": "fp32", "device": "auto", "checkpoint_every": None, "callbacks": (),
}  # fmt: skip


def as_tensor(data: Any, name: str) -> Tensor | None:
    """``data`` as a tensor (numpy arrays are wrapped without a copy)."""
    if data is None:
        return None
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(data).__name__}")


def check_options(options: dict[str, Any]) -> None:
    """Clear errors for bad ``fit`` keyword options (those in ``options``; the rest take fit's defaults),
    before any data is touched: a run can be refused before it writes anything.

    Raises:
        ValueError: a bad value (the message names it and the valid choices).
        TypeError: a callback that is neither a Callback nor a callable.
    """
    args = {**OPTION_DEFAULTS, **options}
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
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be an integer >= 1 or None, got {patience!r}")
    if args["precision"] not in PRECISIONS:
        raise ValueError(f"unknown precision {args['precision']!r}; valid: {list(PRECISIONS)}")
    resolve_device(args["device"])
    parse_checkpoint_every(args["checkpoint_every"])
    for callback in args["callbacks"]:
        as_callback(callback)


def check_arguments(args: dict[str, Any]) -> None:
    """:func:`check_options` and the checks of the data and of settings that need it (all of ``fit``'s
    arguments by name in ``args``).

    Raises:
        ValueError: a bad value (the message names it and the valid choices).
        TypeError: a callback that is neither a Callback nor a callable.
    """
    check_options(args)
    if args["patience"] is not None and args["val_x"] is None:
        raise ValueError("patience (early stopping) needs validation data: pass val_x")
    if args["resume"] and args["run_dir"] is None:
        raise ValueError("resume=True needs run_dir (the folder holding checkpoints/last)")
    if args["checkpoint_every"] is not None and args["run_dir"] is None:
        raise ValueError("checkpoint_every needs run_dir (the folder to write checkpoints/last into)")
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
