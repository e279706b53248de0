"""Reading user data files for the anomaly CLI: .npy, .npz, .csv and .parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


def read_data(path: str | Path, key: str | None = None) -> Any:
    """Load the examples stored in ``path``.

    Args:
        path: a .npy array, a .npz archive (the array ``key``, or its only array), a .csv with a
            header row, or a .parquet table.
        key: which array of a .npz archive to use.

    Returns:
        A numpy array, or a pandas DataFrame for .csv/.parquet (column names are kept for explanations).

    Raises:
        ValueError: unknown file type, a missing key, or an unreadable file.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.keys())
            if key is None:
                if len(names) != 1:
                    raise ValueError(f"{path} holds arrays {names}; choose one with --key")
                key = names[0]
            if key not in names:
                raise ValueError(f"{path} has no array {key!r}; it holds {names}")
            return archive[key]
    if suffix in (".csv", ".parquet"):
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - pandas is in the 'tables' extra
            raise ValueError(f"reading {suffix} files needs pandas: pip install 'vaekit[tables]'") from error
        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    raise ValueError(f"cannot read {path}: unknown file type {suffix!r}; valid: {list(SUFFIXES)}")
