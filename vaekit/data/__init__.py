"""Built-in datasets and loaders."""

from vaekit.data.builtin import Dataset, Split, load_digits, load_fashion_mnist, load_mnist
from vaekit.data.idx import read_idx
from vaekit.data.transforms import Dequantize, DynamicBinarize, ToUnit, binarize_fixed

__all__ = [
    "Dataset",
    "Dequantize",
    "DynamicBinarize",
    "Split",
    "ToUnit",
    "binarize_fixed",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]
