"""Batch transforms applied on the fly: binarization and dequantization of integer images."""

from __future__ import annotations

import torch
from torch import Tensor


class ToUnit:
    """uint8 levels 0..levels-1 -> floats in [0, 1]."""

    def __init__(self, levels: int):
        self.scale = 1.0 / (int(levels) - 1)

    def __call__(self, x: Tensor) -> Tensor:
        return x.float().mul_(self.scale)


class DynamicBinarize:
    """A fresh Bernoulli draw of every pixel, with probability its intensity, on each call
    (the dynamic binarization of Burda et al. 2015; against overfitting binary likelihoods)."""

    def __init__(self, levels: int, generator: torch.Generator | None = None):
        self.levels = int(levels)
        self.scale = 1.0 / (self.levels - 1)
        self.generator = generator

    def __call__(self, x: Tensor) -> Tensor:
        if x.dtype == torch.uint8 and self.levels <= 256:
            # P(U < v) = v / (levels - 1) for U uniform on {0, ..., levels - 2}: an exact Bernoulli
            # draw from integer noise, about 4x cheaper than float probabilities + torch.bernoulli.
            u = torch.randint(0, self.levels - 1, x.shape, dtype=torch.uint8, generator=self.generator, device=x.device)
            return (u < x).float()
        p = x.float().mul_(self.scale)
        return torch.bernoulli(p, generator=self.generator)


def binarize_fixed(x: Tensor, levels: int, seed: int = 0) -> Tensor:
    """One Bernoulli draw per pixel with a fixed seed: the test-set binarization of the benchmarks."""
    gen = torch.Generator().manual_seed(seed)
    return torch.bernoulli(x.float() / (levels - 1), generator=gen)


class Dequantize:
    """Uniform dequantization: (x + u) / levels with u ~ U[0, 1), for continuous likelihoods on integer data."""

    def __init__(self, levels: int, generator: torch.Generator | None = None):
        self.levels = int(levels)
        self.generator = generator

    def __call__(self, x: Tensor) -> Tensor:
        u = torch.rand(x.shape, generator=self.generator, device=x.device)
        return (x.float() + u) / self.levels
