"""NumPy ``.npy`` / ``.npz`` files as data: images (integer arrays) or feature vectors (floats)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit.data.errors import DataError

# "mean" is what `vaekit encode` writes; an optional "factors" array labels factors of variation.
DATA_KEYS = ("x", "data", "images", "features", "mean")
LABEL_KEYS = ("y", "labels", "label", "targets")


CHANNEL_SIZES = (1, 3, 4)  # grey, RGB, RGBA: what a channels-last last axis can be


def read_array_file(path: str | Path, key: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The raw arrays of a ``.npy`` or ``.npz`` file: the data and, in a ``.npz``, the labels (or None).

    A ``.npz`` holds the data under ``key``, else under one of ``x, data, images, features``, else as
    its only array; labels under one of ``y, labels, label, targets``.

    Raises:
        DataError: no such file, an unreadable one, or a ``.npz`` without the data array (its arrays named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such data file: {path}")
    try:  # an empty or truncated file, a broken archive, a pickled object array, a huge header: unreadable
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return loaded, None
        with loaded:
            keys = list(loaded.keys())
            if key is not None and key not in keys:
                raise DataError(f"{path} has no array {key!r}; it holds {keys}")
            data_key = key or next((k for k in DATA_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if data_key is None:
                raise DataError(f"{path} holds arrays {keys}; choose one (--key), or name it one of {list(DATA_KEYS)}")
            label_key = next((k for k in LABEL_KEYS if k in keys and k != data_key), None)
            return loaded[data_key], (None if label_key is None else loaded[label_key])
    except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"cannot read {path} as a NumPy array file: {error}") from error


def channels_first(x: np.ndarray) -> np.ndarray:
    """Image arrays as (N, C, H, W): (N, H, W) gets one channel; channels-last (N, H, W, 1|3|4) is moved."""
    if x.ndim == 3:
        return x[:, None]
    if is_channels_last(x):
        return np.moveaxis(x, -1, 1)
    return x


def is_channels_last(x: np.ndarray) -> bool:
    """Whether a 4-d image array is (N, H, W, C): its last axis, and not its second, is a channel count."""
    return x.ndim == 4 and x.shape[-1] in CHANNEL_SIZES and x.shape[1] not in CHANNEL_SIZES


def check_finite(x: np.ndarray, what: str = "data") -> None:
    """Raise DataError if a float array holds NaN or infinite values, naming the examples (rows) at fault."""
    if np.issubdtype(x.dtype, np.floating):
        bad = ~np.isfinite(x)
        if bad.any():
            rows = np.unique(np.nonzero(bad.reshape(len(x), -1))[0])
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise DataError(
                f"{what} contains NaN or infinite values in {len(rows)} example(s) (first rows: {rows[:5].tolist()}), "
                f"the first at index {first}; impute or drop them"
            )


def to_numpy(data: Any) -> tuple[np.ndarray, list[str] | None]:
    """A numpy array from an array, a torch tensor or a DataFrame, and the DataFrame's column names (else None).

    Raises:
        DataError: a DataFrame with non-numeric columns (named), or data that is not numeric.
    """
    columns = None
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas (or similar) DataFrame
        columns = [str(c) for c in data.columns]
        dtypes = getattr(data, "dtypes", None)
        if dtypes is not None:
            bad = [c for c, t in zip(columns, dtypes) if not _is_numeric_dtype(t)]
            if bad:
                raise DataError(
                    f"columns {bad[:5]} are not numeric; encode categorical columns as numbers (e.g. one-hot)"
                )
        data = data.to_numpy()
    elif hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor
        data = data.detach().cpu().numpy()
    array = np.asarray(data)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"data must be numeric; got an array of dtype {array.dtype}")
    return array, columns


def _is_numeric_dtype(dtype: Any) -> bool:
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # pandas extension dtypes (strings, categories) are not numpy dtypes
        return False
    return bool(np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_))


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
    x, y = read_array_file(path)
    if x.ndim < 2:
        raise DataError(f"{path}: data must have one row per example, (N, ...); got shape {x.shape}")
    if len(x) == 0:
        raise DataError(f"{path} holds no examples")
    if x[0].size == 0:
        raise DataError(f"{path}: examples have no values (shape {x.shape})")
    levels = None
    if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{path}: integer data must be 8-bit images in 0..255; got {x.min()}..{x.max()}")
        x, levels = channels_first(x.astype(np.uint8)), 256
        tensor = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        check_finite(x, str(path))
        tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if not torch.isfinite(tensor).all():
            raise DataError(f"{path}: values beyond the float32 range (about 3.4e38)")
    else:
        raise DataError(f"{path}: data of dtype {x.dtype} is not numeric")
    labels = None
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: labels must be {len(x)} integers, got dtype {y.dtype} and shape {y.shape}")
        labels = torch.from_numpy(y.astype(np.int64))
    return tensor, labels, levels


FACTOR_KEY = "factors"


def load_factors(path: str | Path, n: int) -> Tensor | None:
    """The (N, K) integer ``factors`` array of an ``.npz`` (factors of variation, for the
    disentanglement metrics), or None when the file has none.

    Raises:
        DataError: factors that are not N rows of integers.
    """
    path = Path(path)
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as archive:
        if FACTOR_KEY not in archive:
            return None
        factors = np.asarray(archive[FACTOR_KEY])
    if factors.ndim == 1:
        factors = factors[:, None]
    if factors.ndim != 2 or len(factors) != n or not np.issubdtype(factors.dtype, np.integer):
        raise DataError(f"{path}: factors must be ({n}, K) integers, got {factors.dtype} of shape {factors.shape}")
    return torch.from_numpy(factors.astype(np.int64))
