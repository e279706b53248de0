"""NumPy ``.npy`` / ``.npz`` files as data: images (integer arrays) or feature vectors (floats)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaekit.data.errors import DataError

DATA_KEYS = ("x", "data", "images", "features", "mean")  # "mean": what `vaekit encode` writes
LABEL_KEYS = ("y", "labels", "label", "targets")


def _pick(archive: np.lib.npyio.NpzFile, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    keys = list(archive.keys())
    data_key = next((k for k in DATA_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
    if data_key is None:
        raise DataError(f"{path} holds arrays {keys}; name the data array one of {list(DATA_KEYS)}")
    label_key = next((k for k in LABEL_KEYS if k in keys), None)
    return archive[data_key], (None if label_key is None else archive[label_key])


def _as_images(x: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W); channels-last (N, H, W, 1|3) -> (N, C, H, W)."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        return x.transpose(0, 3, 1, 2)
    return x


def load_array_file(path: str | Path) -> tuple[Tensor, Tensor | None, int | None]:
    """Read examples (and labels) from a ``.npy`` or ``.npz`` file.

    A ``.npz`` holds the data under one of ``x, data, images, features`` (or as its only array)
    and optional labels under ``y, labels, label, targets``. Integer arrays are images of 0..255
    (``(N, H, W)``, ``(N, C, H, W)`` or channels-last); float arrays are used as they are.

    Returns:
        x ((N, ...) uint8 images or float32), labels ((N,) int64) or None, and the grey levels
        (256 for integer images, else None).

    Raises:
        DataError: an unreadable file, object arrays, NaN or infinite values (the first one is named),
            integers outside 0..255, or labels that do not match the examples.
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path} as a NumPy array file: {error}") from error
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            x, y = _pick(loaded, path)
    else:
        x, y = loaded, None
    if x.ndim < 2:
        raise DataError(f"{path}: data must have one row per example, (N, ...); got shape {x.shape}")
    if len(x) == 0:
        raise DataError(f"{path} holds no examples")
    levels = None
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{path}: integer data must be 8-bit images in 0..255; got {x.min()}..{x.max()}")
        x, levels = _as_images(x.astype(np.uint8)), 256
        tensor = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            where = np.argwhere(bad)[0]
            raise DataError(f"{path}: NaN or infinite value at index {tuple(int(i) for i in where)}")
        tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    else:
        raise DataError(f"{path}: data of dtype {x.dtype} is not numeric")
    labels = None
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: labels must be {len(x)} integers, got dtype {y.dtype} and shape {y.shape}")
        labels = torch.from_numpy(y.astype(np.int64))
    return tensor, labels, levels
