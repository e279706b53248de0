"""Built-in datasets and loaders."""

from vaekit.data.builtin import Dataset, Split, load_digits, load_fashion_mnist, load_mnist
from vaekit.data.idx import read_idx

__all__ = ["Dataset", "Split", "load_digits", "load_fashion_mnist", "load_mnist", "read_idx"]
