"""Conditioners: turn labels or attribute vectors into a vector fed to encoder head and decoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaekit.registry import Part, register


class Conditioner(Part):
    """Maps a condition ``y`` to features of width ``out_features``."""

    out_features: int

    def check(self, y: Tensor, batch: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


@register("conditioner", "label")
class LabelConditioner(Conditioner):
    """Class labels 0..n_classes-1, fed as one-hot vectors.

    Args:
        n_classes: number of classes.
    """

    def __init__(self, n_classes: int):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a label conditioner needs at least 2 classes, got {n_classes}")
        self.n_classes = int(n_classes)
        self.out_features = self.n_classes

    def check(self, y: Tensor, batch: int) -> None:
        if not isinstance(y, Tensor) or y.is_floating_point() or y.shape != (batch,):
            raise ValueError(f"labels must be an integer tensor of shape ({batch},), got {_describe(y)}")
        if y.numel() and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"labels must lie in 0..{self.n_classes - 1}; got {int(y.min())}..{int(y.max())}")

    def forward(self, y: Tensor) -> Tensor:
        return F.one_hot(y.long(), self.n_classes).float()


@register("conditioner", "attributes")
class AttributeConditioner(Conditioner):
    """Continuous (or binary) attribute vectors of width ``n_attributes``, fed as they are.

    Args:
        n_attributes: number of attributes.
    """

    def __init__(self, n_attributes: int):
        super().__init__()
        self.n_attributes = int(n_attributes)
        self.out_features = self.n_attributes

    def check(self, y: Tensor, batch: int) -> None:
        if not isinstance(y, Tensor) or y.shape != (batch, self.n_attributes):
            raise ValueError(f"attributes must be a tensor of shape ({batch}, {self.n_attributes}), got {_describe(y)}")
        if not torch.isfinite(y.float()).all():
            raise ValueError("attributes contain NaN or infinite values")

    def forward(self, y: Tensor) -> Tensor:
        return y.float()


def _describe(y: object) -> str:
    if isinstance(y, Tensor):
        return f"{y.dtype} tensor of shape {tuple(y.shape)}"
    return type(y).__name__
