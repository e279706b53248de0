"""Built-in datasets: digits (embedded, no download), Fashion-MNIST and MNIST from idx files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vaekit.data.idx import find_idx, read_idx

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
)  # fmt: skip


@dataclass
class Split:
    """One split of a dataset, held in memory.

    Attributes:
        x: (N, C, H, W) images as uint8 (0..levels-1) or (N, D) float features.
        y: (N,) integer labels, or None.
        levels: number of grey levels of uint8 images (17 for digits, 256 for 8-bit), else None.
        factors: (N, K) integer labels of the factors of variation (e.g. dSprites), or None.
    """

    x: Tensor
    y: Tensor | None
    levels: int | None = None
    factors: Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def float(self) -> Tensor:
        """x scaled to [0, 1] (uint8 images) or as float (features)."""
        if self.levels is not None:
            return self.x.float() / (self.levels - 1)
        return self.x.float()


@dataclass
class Dataset:
    """Train, validation and test splits with the shape of one example.

    Attributes:
        name: the dataset's name (or the file it came from).
        train, validation, test: the splits.
        n_classes: number of label classes, or None without labels.
        class_names: names of the classes (subfolders, label values), if known.
        columns: feature column names of a table, if it came from one.
        factor_names: names of the factors of variation of ``Split.factors``, if the data has them.
    """

    name: str
    train: Split
    validation: Split
    test: Split
    n_classes: int | None = None
    class_names: list[str] | None = None
    columns: list[str] | None = None
    factor_names: list[str] | None = None

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    @property
    def levels(self) -> int | None:
        """Grey levels of integer images (e.g. 17 or 256), None for float features."""
        return self.train.levels

    @property
    def is_image(self) -> bool:
        """Whether examples are images (C, H, W) with 1 or 3 channels."""
        shape = self.data_shape
        return len(shape) == 3 and shape[0] in (1, 3)


def _split_indices(n: int, sizes: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    a, b = sizes
    return order[:a], order[a : a + b], order[a + b :]


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (17 grey levels): 1,000 train / 350 validation / 447 test."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = torch.from_numpy(bunch.images.astype(np.uint8)).unsqueeze(1)  # (1797, 1, 8, 8), values 0..16
    y = torch.from_numpy(bunch.target.astype(np.int64))
    tr, va, te = (torch.from_numpy(i) for i in _split_indices(len(x), (1000, 350), seed))
    names = [str(i) for i in range(10)]
    return Dataset("digits", Split(x[tr], y[tr], 17), Split(x[va], y[va], 17), Split(x[te], y[te], 17), 10, names)


def _idx_dataset(name: str, directory: Path, validation: int, seed: int) -> Dataset:
    def images(stem: str) -> Tensor:
        return torch.from_numpy(read_idx(find_idx(directory, stem))).unsqueeze(1)

    def labels(stem: str) -> Tensor:
        return torch.from_numpy(read_idx(find_idx(directory, stem)).astype(np.int64))

    x, y = images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")
    xt, yt = images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    va, tr = order[:validation], order[validation:]
    names = FASHION_MNIST_CLASSES if name == "fashion-mnist" else [str(i) for i in range(10)]
    return Dataset(name, Split(x[tr], y[tr], 256), Split(x[va], y[va], 256), Split(xt, yt, 256), 10, list(names))


def locate_idx_dir(name: str, data_dir: str | Path | None) -> Path:
    """The folder holding ``name``'s idx files: ``data_dir``, $VAEKIT_DATA/<name>, or Debian's folder."""
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(Path(data_dir))
    if os.environ.get("VAEKIT_DATA"):
        candidates.append(Path(os.environ["VAEKIT_DATA"]) / name)
    if name == "fashion-mnist":
        candidates += [Path(p) for p in FASHION_MNIST_DIRS]
    for path in candidates:
        try:
            find_idx(path, "train-images-idx3-ubyte")
            return path
        except FileNotFoundError:
            continue
    hint = " (apt-get install dataset-fashion-mnist provides them)" if name == "fashion-mnist" else ""
    tried = ", ".join(str(p) for p in candidates) or "nowhere: pass data_dir"
    raise FileNotFoundError(f"no {name} idx files found; looked in {tried}{hint}")


def load_fashion_mnist(data_dir: str | Path | None = None, validation: int = 0, seed: int = 0) -> Dataset:
    """Fashion-MNIST 28x28 from the four idx files (60,000 train / 10,000 test).

    ``validation`` examples are held out of the training set (0 keeps all 60,000 for training).
    """
    return _idx_dataset("fashion-mnist", locate_idx_dir("fashion-mnist", data_dir), validation, seed)


def load_mnist(data_dir: str | Path | None = None, validation: int = 0, seed: int = 0) -> Dataset:
    """MNIST from the four idx files in ``data_dir`` (or $VAEKIT_DATA/mnist)."""
    return _idx_dataset("mnist", locate_idx_dir("mnist", data_dir), validation, seed)
