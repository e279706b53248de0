"""One entry point for every data source: a built-in dataset by name, or the user's files by path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaekit.data.arrays import load_array_file, load_factors, read_array_file
from vaekit.data.builtin import Dataset, Split, load_digits, load_fashion_mnist, load_mnist
from vaekit.data.dsprites import load_dsprites
from vaekit.data.errors import DataError
from vaekit.data.images import load_image_folder
from vaekit.data.labels import UNLABELLED, number_classes
from vaekit.data.tables import TABLE_SUFFIXES, load_table, read_table

BUILTIN_DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": lambda data_dir, validation, seed: load_digits(seed=seed),
    "fashion-mnist": lambda data_dir, validation, seed: load_fashion_mnist(data_dir, validation, seed),
    "mnist": lambda data_dir, validation, seed: load_mnist(data_dir, validation, seed),
    "dsprites": lambda data_dir, validation, seed: load_dsprites(seed=seed),
    "dsprites-colour": lambda data_dir, validation, seed: load_dsprites(variant="colour", seed=seed),
}


def read_examples(
    path: str | Path,
    image_size: int | Sequence[int] | None = None,
    channels: str = "auto",
    label_column: str | None = None,
    columns: list[str] | None = None,
) -> tuple[Split, list[str] | None, list[str] | None]:
    """All examples of a user file or folder, unsplit, in file order.

    Args:
        path: a folder of images, a ``.npy``/``.npz`` array file, or a ``.csv``/``.parquet`` table.
        image_size: resize images to this.
        channels: image channels, "auto", "grey" or "rgb".
        label_column: the label column of a table.
        columns: feature columns a table must have (those of a trained model).

    Returns:
        The examples as a :class:`Split`, the class names (or None) and a table's column names (or None). Labels
        are class numbers 0..K-1 in the sorted order of the label values (subfolder names, a label column's
        values, an array file's integers), which are the class names; -1 in an array file is a missing label.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such data file or folder: {path}")
    if path.is_dir():
        x, y, classes = load_image_folder(path, image_size, channels)
        return Split(x, y, 256), classes, None
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        x, y, levels = load_array_file(path)
        classes = None
        if y is not None:  # any integers (7, 8, 9 or 3, 103, ...) as classes 0..K-1; -1 stays a missing label
            numbers, classes = number_classes(y.numpy(), missing=UNLABELLED)
            y = torch.from_numpy(numbers)
        return Split(x, y, levels, load_factors(path, len(x))), classes, None
    if suffix in TABLE_SUFFIXES:
        x, y, names, classes = load_table(path, label_column, columns)
        return Split(x, y, None), classes, names
    raise DataError(f"do not know how to read {path}: use a folder of images, .npy/.npz, or {'/'.join(TABLE_SUFFIXES)}")


def read_data(path: str | Path, key: str | None = None) -> Any:
    """The raw examples of a user file, for applications that preprocess them themselves (anomaly detection).

    Args:
        path: a folder of images (all of one size), a ``.npy``/``.npz`` array file or a ``.csv``/``.parquet`` table.
        key: the data array of a ``.npz`` archive (see :func:`~vaekit.data.arrays.read_array_file`).

    Returns:
        A numpy array (uint8 (N, C, H, W) for images), or a pandas DataFrame for a table (its column names kept).

    Raises:
        DataError: no such file, an unknown type (the valid ones listed), or an unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such data file or folder: {path}")
    if path.is_dir():
        return load_image_folder(path)[0].numpy()
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return read_array_file(path, key)[0]
    if suffix in TABLE_SUFFIXES:
        return read_table(path)
    valid = ["a folder of images", ".npy", ".npz", *TABLE_SUFFIXES]
    raise DataError(f"cannot read {path}: unknown file type {suffix!r}; valid: {valid}")


def _take(split: Split, index: Tensor) -> Split:
    factors = None if split.factors is None else split.factors[index]
    return Split(split.x[index], None if split.y is None else split.y[index], split.levels, factors)


def split_examples(examples: Split, validation: float, test: float, seed: int) -> tuple[Split, Split, Split]:
    """Shuffle with ``seed`` and cut into train / validation / test by fractions."""
    n = len(examples)
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise DataError(f"validation ({validation}) and test ({test}) fractions must lie in [0, 1) and sum below 1")
    n_val, n_test = int(round(n * validation)), int(round(n * test))
    if n - n_val - n_test < 1:
        raise DataError(f"only {n} examples: too few to split into train, validation and test")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    val, te, tr = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
    return _take(examples, tr), _take(examples, val), _take(examples, te)


def _limit(split: Split, limit: int | None) -> Split:
    if limit is None or len(split) <= limit:
        return split
    return _take(split, torch.arange(limit))


def load_dataset(
    name: str = "digits",
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    image_size: int | Sequence[int] | None = None,
    channels: str = "auto",
    label_column: str | None = None,
    validation: float = 0.1,
    test: float = 0.1,
    limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset with train / validation / test splits.

    Args:
        name: a built-in dataset ("digits", "fashion-mnist", "mnist", "dsprites", "dsprites-colour"); only a
            label when ``path`` is given.
        path: the user's data (see :func:`read_examples`); takes precedence over ``name``.
        data_dir: the folder of a built-in idx dataset.
        image_size: resize user images to this.
        channels: user image channels: "auto", "grey" or "rgb".
        label_column: the label column of a table.
        validation: fraction held out for validation (user data, and the idx datasets' training set).
        test: fraction held out for testing (user data; built-in datasets have their own test set).
        limit: keep at most this many examples of each split (quick trials).
        seed: seed of the split.

    Raises:
        DataError: unknown dataset name, or data that cannot be read (named).
    """
    if path is not None:
        examples, classes, columns = read_examples(path, image_size, channels, label_column)
        train, val, te = split_examples(examples, validation, test, seed)
        n_classes = None if examples.y is None else int(examples.y.max()) + 1
        if classes is not None:
            n_classes = len(classes)
        dataset = Dataset(name or Path(path).stem, train, val, te, n_classes, classes, columns)
        if examples.factors is not None:
            dataset.factor_names = [f"factor_{i}" for i in range(examples.factors.shape[1])]
    else:
        if name not in BUILTIN_DATASETS:
            raise DataError(
                f"unknown dataset {name!r}; built-in datasets: {sorted(BUILTIN_DATASETS)} (or set data.path)"
            )
        if not 0 <= validation < 1:
            raise DataError(f"validation fraction must lie in [0, 1), got {validation}")
        n_validation = int(round(60000 * validation)) if name in ("fashion-mnist", "mnist") else 0
        try:
            dataset = BUILTIN_DATASETS[name](data_dir, n_validation, seed)
        except FileNotFoundError as error:
            raise DataError(str(error)) from error
    if limit is not None:
        dataset.train, dataset.validation, dataset.test = (
            _limit(dataset.train, limit),
            _limit(dataset.validation, limit),
            _limit(dataset.test, limit),
        )
    return dataset
