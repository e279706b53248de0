"""How raw data becomes model input, and model output becomes data again; saved with the model.

Images of integer grey levels are binarized (dynamically while training, once with seed 0 for
evaluation), dequantized, or scaled to [0, 1]; feature vectors are standardized with statistics
of the training split. :meth:`Preprocessing.to_dict` is stored in the saved model's ``extra`` so
that ``encode``/``decode`` work on raw rows later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from vaekit.data.builtin import Dataset
from vaekit.data.errors import DataError
from vaekit.data.tables import Standardizer
from vaekit.data.transforms import Dequantize, DynamicBinarize, ToUnit, binarize_fixed

BINARIZE_MODES = ("dynamic", "fixed", "none", "dequantize")


@dataclass
class Preprocessing:
    """The mapping between raw examples and model inputs.

    Attributes:
        binarize: for integer images: "dynamic", "fixed", "none" (grey levels scaled to [0, 1]) or
            "dequantize" ((x + u) / levels while training, bin centres otherwise).
        levels: grey levels of integer images, or None for float data.
        standardizer: per-feature standardization of float features, or None.
        data_shape: shape of one example.
        class_names: label names, if the data has labels.
        columns: feature column names of a table.
        source: how to read more data like it (image_size, channels, label_column).
    """

    binarize: str = "dynamic"
    levels: int | None = None
    standardizer: Standardizer | None = None
    data_shape: list[int] = field(default_factory=list)
    class_names: list[str] | None = None
    columns: list[str] | None = None
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, dataset: Dataset, binarize: str = "dynamic", standardize: bool | None = None, **source: Any):
        """Choose the preprocessing for ``dataset``; ``standardize`` None means: for float non-image data."""
        if binarize not in BINARIZE_MODES:
            raise DataError(f"unknown binarize mode {binarize!r}; valid: {list(BINARIZE_MODES)}")
        levels = dataset.levels
        if standardize is None:
            standardize = levels is None and not dataset.is_image
        standardizer = None
        if standardize:
            if levels is not None:
                raise DataError("standardize applies to float features, not to integer images")
            standardizer = Standardizer.fit(dataset.train.x.reshape(len(dataset.train), -1))
        return cls(
            binarize, levels, standardizer, list(dataset.data_shape), dataset.class_names, dataset.columns, source
        )

    # ----------------------------------------------------------------- in
    def _standardize(self, x: Tensor) -> Tensor:
        assert self.standardizer is not None
        return self.standardizer(x.reshape(len(x), -1)).reshape(x.shape)

    def train_inputs(self, x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor] | None]:
        """Training data for ``fit``: the stored tensor and the per-batch transform (None if applied already)."""
        if self.levels is None:
            return (self._standardize(x) if self.standardizer else x.float()), None
        if self.binarize == "dynamic":
            return x, DynamicBinarize(self.levels)
        if self.binarize == "dequantize":
            return x, Dequantize(self.levels)
        return self.eval_inputs(x), None

    def eval_inputs(self, x: Tensor) -> Tensor:
        """Deterministic inputs for validation and evaluation (fixed binarization with seed 0)."""
        if self.levels is None:
            return self._standardize(x) if self.standardizer else x.float()
        if self.binarize in ("dynamic", "fixed"):
            return binarize_fixed(x, self.levels, seed=0)
        if self.binarize == "dequantize":
            return (x.float() + 0.5) / self.levels
        return ToUnit(self.levels)(x)

    def model_inputs(self, x: Tensor) -> Tensor:
        """Deterministic inputs for encoding and reconstruction: intensities in [0, 1], standardized features."""
        if self.levels is None or self.binarize == "dequantize":
            return self.eval_inputs(x)
        return ToUnit(self.levels)(x)

    # ---------------------------------------------------------------- out
    def to_raw(self, x: Tensor) -> Tensor:
        """Model outputs (decoded means) back in the data's units (images stay in [0, 1])."""
        if self.standardizer is None:
            return x
        return self.standardizer.inverse(x.reshape(len(x), -1)).reshape(x.shape)

    # ----------------------------------------------------------------- io
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, stored in the saved model's ``extra["data"]``."""
        return {
            "binarize": self.binarize,
            "levels": self.levels,
            "standardizer": None if self.standardizer is None else self.standardizer.to_dict(),
            "data_shape": list(self.data_shape),
            "class_names": self.class_names,
            "columns": self.columns,
            "source": dict(self.source),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Preprocessing:
        """Rebuild from :meth:`to_dict` output."""
        std = document.get("standardizer")
        return cls(
            binarize=document.get("binarize", "dynamic"),
            levels=document.get("levels"),
            standardizer=None if std is None else Standardizer.from_dict(std),
            data_shape=list(document.get("data_shape", [])),
            class_names=document.get("class_names"),
            columns=document.get("columns"),
            source=dict(document.get("source", {})),
        )
