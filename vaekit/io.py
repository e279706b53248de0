"""Saving and loading models as ``config.json`` + ``model.safetensors``: nothing is unpickled."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from vaekit.registry import ConfigError, build
from vaekit.version import FORMAT_VERSION, __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class ModelFileError(ValueError):
    """A folder is not a vaekit model, is from an incompatible version, or its weights do not fit."""


def _temporary_file(directory: Path, prefix: str, suffix: str = ".tmp") -> tuple[int, str]:
    """A new file in ``directory`` opened for writing, as (descriptor, path). Unlike ``tempfile.mkstemp``
    (mode 0600) it gets the permissions of any new file (0666 less the umask): it is renamed into place."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        path = os.path.join(directory, f"{prefix}{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:  # pragma: no cover (a clash of 48 random bits)
            continue


def temporary_folder(directory: Path, prefix: str) -> Path:
    """A new folder in ``directory`` with the permissions of any new folder (0777 less the umask; not 0700)."""
    while True:
        path = Path(directory) / f"{prefix}{secrets.token_hex(6)}"
        try:
            path.mkdir(0o777)
            return path
        except FileExistsError:  # pragma: no cover (a clash of 48 random bits)
            continue


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so no half-written file remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary_file(path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write ``tensors`` as a safetensors file, atomically (safetensors' own ``save_file`` makes it mode 0600)."""
    atomic_write_bytes(path, save(tensors, metadata=metadata))


def state_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state as contiguous CPU tensors (shared storage copied apart for safetensors)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_model(model: nn.Module, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (a registered model) into ``directory``.

    Writes ``config.json`` (format version, vaekit version, the model's full config) and
    ``model.safetensors``, each atomically. ``extra`` is stored beside the config (e.g. the
    data transform of a tabular model) and returned by :func:`load_extra`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "format": "vaekit-model",
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "model": {"kind": "model", **model.config()},
        "extra": extra or {},
    }
    write_safetensors(directory / WEIGHTS_FILE, state_tensors(model), {"format": "vaekit-model"})
    atomic_write_bytes(directory / CONFIG_FILE, json.dumps(document, indent=2).encode())
    return directory


def _read_document(directory: Path) -> dict[str, Any]:
    if not directory.is_dir():
        raise ModelFileError(
            f"{directory} is not a folder; a vaekit model is a folder with {CONFIG_FILE} and {WEIGHTS_FILE}"
        )
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise ModelFileError(f"{directory} is not a vaekit model: it has no {CONFIG_FILE}")
    try:
        document = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{config_path} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != "vaekit-model":
        raise ModelFileError(f"{config_path} is not a vaekit model config (no 'format': 'vaekit-model')")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{directory} was saved in model format {version!r} by vaekit {document.get('vaekit_version')}; "
            f"this vaekit ({__version__}) reads format {FORMAT_VERSION} and older: upgrade vaekit"
        )
    return document


def load(directory: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a saved model from its folder and load its weights (no code runs from the files).

    Raises:
        ModelFileError: not a vaekit model, an incompatible version, or weights that do not fit.
        ValueError: ``map_location`` names a device this machine does not have.
    """
    from vaekit.train.device import resolve_device  # deferred: vaekit.train imports this module

    map_location = resolve_device(map_location)  # a named error for a device this machine lacks, before reading
    directory = Path(directory)
    document = _read_document(directory)
    try:
        model = build("model", document["model"])
    except (ConfigError, KeyError, TypeError, ValueError, RuntimeError, MemoryError) as error:  # e.g. a size < 0
        raise ModelFileError(f"{directory / CONFIG_FILE} describes a model that cannot be built: {error}") from error
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelFileError(f"{directory} has a config but no {WEIGHTS_FILE}")
    try:
        state = load_file(weights_path, device=str(map_location))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{weights_path} is not a readable safetensors file: {error}") from error
    mismatch = state_mismatch(model.state_dict(), state)
    if mismatch:
        raise ModelFileError(f"the weights in {weights_path} do not fit its config: {mismatch}")
    model.load_state_dict(state)
    return model.to(map_location).eval()


def state_mismatch(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """How the tensors of ``state`` differ from a model's ``expected`` state dict, on one line ("" when they fit)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    details = []
    if missing:
        details.append(f"missing {missing[:5]}")
    if unexpected:
        details.append(f"unexpected {unexpected[:5]}")
    if wrong:
        shapes = ", ".join(f"{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in wrong[:5])
        details.append(f"wrong shape {shapes} (saved vs this model)")
    return "; ".join(details)


def load_extra(directory: str | Path) -> dict[str, Any]:
    """The ``extra`` dictionary saved beside a model's config."""
    return dict(_read_document(Path(directory)).get("extra", {}))
