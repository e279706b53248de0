"""Ground-truth factors of variation: what the disentanglement metrics sample from.

A ground truth can draw examples with their factor labels, and examples whose one factor is held
at given values while the others vary. :class:`~vaekit.data.dsprites.DSprites` does so exactly by
rendering; :class:`LabelledExamples` does so for any finite labelled set (an ``.npz`` with a
``factors`` array, or a rendered split) by drawing among the examples that match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from torch import Tensor


class GroundTruth(Protocol):
    """Data with known discrete factors of variation."""

    factor_names: Sequence[str]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random factor vectors (n, K), as the examples' factors are distributed."""
        ...

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, Tensor]:
        """``n`` random examples: factors (n, K) and raw observations (n, ...)."""
        ...

    def sample_fixed(
        self, factor: np.ndarray | int, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, Tensor]:
        """Examples i whose factor ``factor[i]`` (or one ``factor`` for all) equals ``values[i]``,
        the other factors random."""
        ...


class LabelledExamples:
    """A finite set of examples with factor labels as a ground truth.

    Holding one factor fixed draws uniformly among the examples having that value, so the other
    factors follow their empirical distribution given it (for a full factorial grid such as
    dSprites this is the same as drawing them independently).

    Args:
        x: (N, ...) raw examples.
        factors: (N, K) integer factor labels.
        factor_names: names of the K factors (default ``factor_0``, ...).
    """

    def __init__(self, x: Tensor, factors: np.ndarray | Tensor, factor_names: Sequence[str] | None = None):
        factors = np.asarray(factors)
        if factors.ndim != 2 or len(factors) != len(x):
            raise ValueError(f"factors must have shape ({len(x)}, K), got {factors.shape}")
        if not np.issubdtype(factors.dtype, np.integer):
            raise ValueError(f"factors must be integer class labels, got dtype {factors.dtype}")
        self.x, self.factors = x, factors.astype(np.int64)
        k = factors.shape[1]
        self.factor_names = list(factor_names) if factor_names is not None else [f"factor_{i}" for i in range(k)]
        if len(self.factor_names) != k:
            raise ValueError(f"{len(self.factor_names)} factor names for {k} factors")
        # Per factor and value, the rows holding it (for drawing with one factor fixed).
        self._rows = [{int(v): np.flatnonzero(factors[:, j] == v) for v in np.unique(factors[:, j])} for j in range(k)]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.factors[rng.integers(0, len(self.x), n)]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, Tensor]:
        rows = rng.integers(0, len(self.x), n)
        return self.factors[rows], self.x[rows]

    def sample_fixed(
        self, factor: np.ndarray | int, values: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, Tensor]:
        which = np.broadcast_to(np.asarray(factor), np.shape(values))
        rows = np.empty(len(values), dtype=np.int64)
        for i, (j, v) in enumerate(zip(which.tolist(), np.asarray(values).tolist())):
            candidates = self._rows[j].get(int(v))
            if candidates is None:
                raise ValueError(f"no example has {self.factor_names[j]} = {v}")
            rows[i] = candidates[rng.integers(len(candidates))]
        return self.factors[rows], self.x[rows]

    def factor_values(self, factor: int) -> np.ndarray:
        """The values factor ``factor`` takes."""
        return np.array(sorted(self._rows[factor]))
