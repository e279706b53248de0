"""Datasets and loaders: built-in (digits, Fashion-MNIST, MNIST, dSprites) and the user's images, arrays and tables."""

from vaekit.data.arrays import (
    channels_first,
    check_finite,
    is_channels_last,
    load_array_file,
    read_array_file,
    to_numpy,
)
from vaekit.data.builtin import Dataset, Split, load_digits, load_fashion_mnist, load_mnist
from vaekit.data.dsprites import DSprites, load_dsprites
from vaekit.data.errors import DataError
from vaekit.data.factors import GroundTruth, LabelledExamples
from vaekit.data.idx import read_idx
from vaekit.data.images import load_image_folder
from vaekit.data.molecule_tokenizers import KekuleSmilesTokenizer, SelfiesTokenizer, SmilesTokenizer
from vaekit.data.preprocess import BINARIZE_MODES, Preprocessing
from vaekit.data.sources import BUILTIN_DATASETS, load_dataset, read_data, read_examples, split_examples
from vaekit.data.tables import Standardizer, load_table, read_table
from vaekit.data.transforms import Dequantize, DynamicBinarize, ToUnit, binarize_fixed

__all__ = [
    "BINARIZE_MODES",
    "BUILTIN_DATASETS",
    "DSprites",
    "DataError",
    "Dataset",
    "Dequantize",
    "GroundTruth",
    "LabelledExamples",
    "DynamicBinarize",
    "Preprocessing",
    "KekuleSmilesTokenizer",
    "SelfiesTokenizer",
    "SmilesTokenizer",
    "Split",
    "Standardizer",
    "ToUnit",
    "binarize_fixed",
    "channels_first",
    "check_finite",
    "is_channels_last",
    "load_array_file",
    "load_dataset",
    "load_digits",
    "load_dsprites",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_table",
    "read_array_file",
    "read_data",
    "read_examples",
    "read_idx",
    "read_table",
    "split_examples",
    "to_numpy",
]
