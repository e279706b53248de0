"""Training checkpoints as folders of safetensors + JSON, written atomically; loading runs no code.

A checkpoint folder holds

- ``model.safetensors`` (+ ``config.json`` for registered models, so ``vaekit.load(folder)`` works),
- ``training.safetensors``: optimizer state tensors (``optimizer/<group>/<param>/<key>``) and random
  number generator states as uint8 tensors (``rng/<rank>/<name>``),
- ``training.json``: everything else (epoch, step, history, run settings, optimizer hyper-parameters).

A folder is written under a temporary name and renamed into place; the previous version is renamed
aside first and deleted last, and :func:`read_checkpoint` falls back to it if a crash came between the
two renames, so a complete checkpoint exists at every moment.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from vaekit.io import (
    atomic_write_bytes,
    save_model,
    state_mismatch,
    state_tensors,
    temporary_folder,
    write_safetensors,
)
from vaekit.train.errors import CheckpointError
from vaekit.version import __version__

CHECKPOINT_FORMAT = "vaekit-checkpoint"
CHECKPOINT_VERSION = 1
MODEL_FILE = "model.safetensors"
TENSORS_FILE = "training.safetensors"
DOCUMENT_FILE = "training.json"


@dataclass
class Checkpoint:
    """A checkpoint read back: its JSON document, model weights and training tensors (on CPU)."""

    path: Path
    document: dict[str, Any]
    model_state: dict[str, Tensor]
    tensors: dict[str, Tensor]


def optimizer_state(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Split an optimizer's state dict into JSON (hyper-parameters, non-tensor state) and tensors."""
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer/{name}/{index}/{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]]
    return {"param_groups": groups, "scalars": scalars}, tensors


def load_optimizer_state(
    name: str, optimizer: torch.optim.Optimizer, document: dict[str, Any], tensors: dict[str, Tensor]
) -> None:
    """Inverse of :func:`optimizer_state`."""
    prefix = f"optimizer/{name}/"
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix) :].split("/", 1)
            state.setdefault(int(index), {})[field] = value
    for index, values in document.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = []
    for group in document["param_groups"]:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"the optimizer state for group {name!r} does not fit this model: {error}") from error


def write_checkpoint(path: str | Path, model: nn.Module, document: dict[str, Any], tensors: dict[str, Tensor]) -> Path:
    """Write a checkpoint folder atomically (see the module docstring).

    Args:
        path: the checkpoint folder, e.g. ``run/checkpoints/last``.
        model: its weights go to ``model.safetensors`` (and its config to ``config.json`` if registered).
        document: JSON-ready training state.
        tensors: training tensors (optimizer state, RNG states), any device.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a crash during an earlier write
        shutil.rmtree(stale, ignore_errors=True)
    tmp = temporary_folder(path.parent, prefix=f".{path.name}.tmp-")
    try:
        if hasattr(model, "config"):
            save_model(model, tmp)
        else:
            write_safetensors(tmp / MODEL_FILE, state_tensors(model), {"format": "vaekit-model"})
        cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        write_safetensors(tmp / TENSORS_FILE, cpu, {"format": CHECKPOINT_FORMAT})
        full = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "vaekit_version": __version__}
        atomic_write_bytes(tmp / DOCUMENT_FILE, json.dumps({**full, **document}, indent=1).encode())
        old = None
        if path.exists():
            old = temporary_folder(path.parent, prefix=f".{path.name}.old-")
            os.replace(path, old / "checkpoint")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def find_checkpoint(path: str | Path) -> Path | None:
    """The checkpoint folder at ``path``, or the previous version a crash left renamed aside, or None."""
    path = Path(path)
    if (path / DOCUMENT_FILE).is_file():
        return path
    aside = sorted(path.parent.glob(f".{path.name}.old-*/checkpoint"), key=lambda p: p.stat().st_mtime)
    return aside[-1] if aside else (path if path.exists() else None)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint folder written by :func:`write_checkpoint` (no code is executed).

    Raises:
        CheckpointError: no checkpoint there, or a corrupted, foreign or newer-format one.
    """
    found = find_checkpoint(path)
    if found is None:
        raise CheckpointError(f"there is no checkpoint at {path}")
    document_path = found / DOCUMENT_FILE
    if not document_path.is_file():
        raise CheckpointError(f"{found} is not a vaekit checkpoint: it has no {DOCUMENT_FILE}")
    try:
        document = json.loads(document_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{document_path} is corrupted (not valid JSON): {error}") from error
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{document_path} is not a vaekit checkpoint (no 'format': '{CHECKPOINT_FORMAT}')")
    version = document.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{found} has checkpoint format {version!r} (vaekit {document.get('vaekit_version')}); this vaekit "
            f"({__version__}) reads format {CHECKPOINT_VERSION} and older: upgrade vaekit"
        )
    try:
        model_state = load_file(str(found / MODEL_FILE))
        tensors = load_file(str(found / TENSORS_FILE))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{found} is corrupted: cannot read its safetensors files: {error}") from error
    return Checkpoint(found, document, model_state, tensors)


def load_model_state(model: nn.Module, state: dict[str, Tensor], source: Path) -> None:
    """Load weights into ``model`` with a clear error, naming the tensors that differ, when they do not fit."""
    mismatch = state_mismatch(model.state_dict(), state)
    if mismatch:
        raise CheckpointError(f"the weights in {source} do not fit this model: {mismatch}")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"the weights in {source} do not fit this model: {error}") from error
