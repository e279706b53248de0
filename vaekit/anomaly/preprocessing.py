"""Turning user data (arrays, DataFrames, images) into model input, and checking it at scoring time,
with the parts of :mod:`vaekit.data` (reading, numeric and finite checks, image layout, standardization).

A :class:`Preprocessor` is fitted on the training data and stored as plain JSON beside the
model, so a saved detector applies exactly the same transformation when it is loaded again.

- Tabular data ``(N, D)``: each column is standardized with the training mean and standard
  deviation (constant columns get a scale of 1).
- Images ``(N, H, W)``, ``(N, C, H, W)`` or channels-last ``(N, H, W, C)``: pixel values are
  mapped to [0, 1] by a fixed ``offset``/``scale`` (uint8: divide by 255; floats already in
  [0, 1]: unchanged; anything else: the training minimum and maximum).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from vaekit.data import Standardizer, check_finite, is_channels_last, to_numpy

TABULAR = "tabular"
IMAGE = "image"


def as_array(data: Any) -> tuple[np.ndarray, list[str] | None]:
    """``data`` as a numpy array plus its column names (for DataFrames): :func:`vaekit.data.to_numpy`."""
    return to_numpy(data)


def infer_kind(array: np.ndarray) -> str:
    """ "tabular" for (N, D) arrays, "image" for (N, H, W), (N, C, H, W) or (N, H, W, C) arrays."""
    if array.ndim == 2:
        return TABULAR
    if array.ndim in (3, 4):
        return IMAGE
    raise ValueError(
        f"data has shape {array.shape}; expected (samples, features) for tables or "
        "(samples, height, width) / (samples, channels, height, width) for images"
    )


@dataclass
class Preprocessor:
    """The fitted map from raw data to model input; plain numbers only, so it is stored as JSON.

    Attributes:
        kind: "tabular" or "image".
        raw_shape: shape of one raw example as given to ``fit`` (e.g. ``[28, 28]`` or ``[30]``).
        data_shape: shape of one model input (``[D]`` or ``[C, H, W]``).
        offset: subtracted from the raw values (per feature for tables, one number for images).
        scale: the values are then divided by it.
        channels_last: images were given as (N, H, W, C).
        columns: feature names of a DataFrame, if one was given.
    """

    kind: str
    raw_shape: list[int]
    data_shape: list[int]
    offset: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    channels_last: bool = False
    columns: list[str] | None = None

    @classmethod
    def fit(cls, data: Any) -> Preprocessor:
        """Fit the transformation to training data (raises ValueError on NaN or a bad shape)."""
        array, columns = as_array(data)
        kind = infer_kind(array)
        if array.shape[0] < 2:
            raise ValueError(f"need at least 2 training examples, got {array.shape[0]}")
        check_finite(array)
        raw_shape = list(array.shape[1:])
        if kind == TABULAR:
            standardizer = Standardizer.fit(array)
            return cls(kind, raw_shape, raw_shape, standardizer.mean, standardizer.std, False, columns)
        channels_last = is_channels_last(array)
        if array.ndim == 3:
            data_shape = [1, *raw_shape]
        elif channels_last:
            data_shape = [raw_shape[2], raw_shape[0], raw_shape[1]]
        else:
            data_shape = raw_shape
        if array.dtype == np.uint8:
            offset, scale = 0.0, 255.0
        else:
            lo, hi = float(array.min()), float(array.max())
            if lo >= 0.0 and hi <= 1.0:
                offset, scale = 0.0, 1.0
            else:
                offset, scale = lo, max(hi - lo, 1e-12)
        return cls(kind, raw_shape, data_shape, [offset], [scale], channels_last, None)

    def transform(self, data: Any) -> np.ndarray:
        """Check ``data`` against the fitted shape and return float32 model input.

        Raises:
            ValueError: wrong number of features / image size, other column names than the fitted table's,
                non-numeric data, NaN or infinity.
        """
        array, names = as_array(data)
        if self.columns is not None and names is not None:
            array = self._by_name(array, [str(n) for n in names])
        if array.ndim == len(self.raw_shape):  # a single example
            array = array[None]
        if list(array.shape[1:]) != self.raw_shape:
            what = "features" if self.kind == TABULAR else "values per image"
            expected = self.raw_shape[0] if self.kind == TABULAR else self.raw_shape
            got = array.shape[1] if self.kind == TABULAR and array.ndim == 2 else list(array.shape[1:])
            raise ValueError(
                f"data has {got} {what} per example (shape {array.shape}); "
                f"this detector was fitted on {expected} {what}"
            )
        check_finite(array)
        # Tables: each column standardized; images: one offset and scale for every value.
        values = Standardizer(self.offset, self.scale)(torch.from_numpy(np.ascontiguousarray(array))).numpy()
        if self.kind == IMAGE:
            values = np.moveaxis(values, -1, 1) if self.channels_last else values
            values = values.reshape(len(values), *self.data_shape)
        return values

    def _by_name(self, array: np.ndarray, names: list[str]) -> np.ndarray:
        """A named table's columns in the fitted order: a table with its columns moved is scored as it was
        fitted, and one with other columns is refused (positions alone would mix the features up)."""
        if names == self.columns:
            return array
        missing = [c for c in self.columns if c not in names]
        unexpected = [c for c in names if c not in self.columns]
        if missing or unexpected or len(set(names)) != len(names):
            raise ValueError(
                f"the data's columns differ from the {len(self.columns)} this detector was fitted on: missing "
                f"{missing[:5]}, unexpected {unexpected[:5]}"
                + (" (duplicated names)" * (len(set(names)) != len(names)))
            )
        return array[:, [names.index(c) for c in self.columns]]

    def to_raw_layout(self, maps: np.ndarray) -> np.ndarray:
        """Per-value maps in model layout ``(N, *data_shape)`` -> the layout of the raw input."""
        if self.kind == TABULAR:
            return maps
        if self.channels_last:
            maps = np.moveaxis(maps, 1, -1)
        return maps.reshape(len(maps), *self.raw_shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary; :meth:`from_dict` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessor:
        """Rebuild a preprocessor saved by :meth:`to_dict`."""
        return cls(**values)
