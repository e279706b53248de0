"""CSV and Parquet tables as feature vectors, with the standardization saved beside the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit.data.errors import DataError
from vaekit.data.labels import number_classes

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path) -> Any:
    """A ``.csv`` (with a header row) or ``.parquet`` file as a pandas DataFrame, column names kept.

    Raises:
        DataError: no such file, pandas missing, or a file pandas cannot read.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such table file: {path}")
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - pandas is in the "tables" extra
        raise DataError("reading tables needs pandas: pip install 'vaekit[tables]'") from error
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as error:  # pandas raises many types for malformed files
        raise DataError(f"cannot read table {path}: {error}") from error


def load_table(
    path: str | Path, label_column: str | None = None, columns: list[str] | None = None
) -> tuple[Tensor, Tensor | None, list[str], list[str] | None]:
    """Read a CSV or Parquet table: every column but ``label_column`` must be numeric.

    Args:
        path: the ``.csv`` or ``.parquet`` file.
        label_column: a column of class labels (any values; sorted distinct values become 0..K-1, numbers
            sorting as numbers).
        columns: the feature columns expected (e.g. those a saved model was trained on), in order.

    Returns:
        features (N, D) float32, labels (N,) int64 or None, the feature column names, the class names.

    Raises:
        DataError: an empty table, a missing or non-numeric column, or NaN values (columns named).
    """
    path = Path(path)
    frame = read_table(path)
    if len(frame) == 0:
        raise DataError(f"{path} has no rows")
    labels, class_names = None, None
    if label_column is not None:
        if label_column not in frame.columns:
            raise DataError(f"{path} has no label column {label_column!r}; columns: {list(frame.columns)}")
        values = frame.pop(label_column)
        if values.isna().any():
            raise DataError(f"{path}: label column {label_column!r} has missing values")
        numbers, class_names = number_classes(values.to_numpy())
        labels = torch.from_numpy(numbers)
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"{path} lacks the column(s) {missing} the model was trained on")
        frame = frame[columns]
    numeric = frame.apply(lambda col: col.dtype.kind in "biuf")
    text = [str(c) for c, ok in numeric.items() if not ok]
    if text:
        raise DataError(f"{path}: column(s) {text} are not numeric; drop them or name one as the label column")
    if frame.shape[1] == 0:
        raise DataError(f"{path} has no feature columns")
    missing_values = frame.isna().sum()
    bad = {str(c): int(n) for c, n in missing_values.items() if n}
    if bad:
        listed = ", ".join(f"{c} ({n} rows)" for c, n in bad.items())
        raise DataError(f"{path}: NaN/missing values in column(s) {listed}")
    x = frame.to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        cols = [str(c) for c, ok in zip(frame.columns, np.isfinite(x).all(0)) if not ok]
        raise DataError(f"{path}: infinite values in column(s) {cols}")
    return torch.from_numpy(x.astype(np.float32)), labels, [str(c) for c in frame.columns], class_names


@dataclass
class Standardizer:
    """Per-feature standardization (x - mean) / std, fitted on training data and saved as plain lists.

    Attributes:
        mean: (D,) feature means.
        std: (D,) feature standard deviations (1 where a feature is constant).
    """

    mean: list[float]
    std: list[float]

    @classmethod
    def fit(cls, x: Tensor | np.ndarray) -> Standardizer:
        """Fit to (N, D) features (statistics in float64)."""
        values = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, dtype=np.float64)
        mean, std = values.mean(0), values.std(0)
        # A constant feature gets scale 1; "constant" is relative to its size, as float64 leaves ~1e-16 of it.
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        return cls(mean.tolist(), std.tolist())

    def __call__(self, x: Tensor) -> Tensor:
        """(x - mean) / std, computed in float64, as float32; ``mean`` and ``std`` broadcast over the last axis."""
        mean = torch.tensor(self.mean, dtype=torch.float64, device=x.device)
        std = torch.tensor(self.std, dtype=torch.float64, device=x.device)
        return ((x.double() - mean) / std).float()

    def inverse(self, z: Tensor) -> Tensor:
        """Standardized values back to the original units."""
        mean = torch.tensor(self.mean, dtype=torch.float32, device=z.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=z.device)
        return z.float() * std + mean

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Standardizer:
        return cls(list(document["mean"]), list(document["std"]))
