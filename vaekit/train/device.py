"""Choosing the device to train on."""

from __future__ import annotations

import os

import torch

VALID_DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for a device name.

    ``"auto"`` picks CUDA when available (under torchrun: ``cuda:LOCAL_RANK``), else MPS, else CPU.

    Raises:
        ValueError: an unknown name, or a device this machine does not have.
    """
    name = str(device).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ValueError("device 'mps' was requested but this machine has no usable MPS (Apple GPU) backend")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was requested but CUDA is not available on this machine")
        if name == "cuda":
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        index = name.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has CUDA devices 0..{torch.cuda.device_count() - 1}")
        return torch.device("cuda", int(index))
    raise ValueError(f"unknown device {device!r}; valid: {list(VALID_DEVICES)}")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
