"""Per-column normal scores: each value replaced by the standard normal quantile of its training rank.

A Gaussian model of the normal scores is a Gaussian copula of the data: it keeps the dependence between the
columns and forgets the shape of each column's distribution. The anomaly detector fits its second linear VAE
on these scores, next to the one on the standardized values: a row whose values are each common but whose
combination is not stands out there even when a column is skewed or piles up on a few values (the
dependency anomalies of the benchmark, benchmarks/RESULTS.md).

The rank is the training data's empirical distribution function at the value, with ties at their middle
(u = (#below + #equal / 2) / n), kept inside [1/(2n), 1 - 1/(2n)]. A value between two training values
takes the rank of everything below it, so a value no training row had (a 0.3 where the column was always 0
or 1) is placed at the rank of a jump in the data rather than next to its neighbour. Beyond the training
range the score continues with slope 1 per unit of the input (standardized units in the detector), so that
values far outside it stay far out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

MAX_KNOTS = 2048  # distinct values kept per column; beyond it the column's quantiles stand in for them


@dataclass(eq=False)
class NormalScores:
    """The fitted per-column rank transform.

    Attributes:
        values: per column, its distinct training values in increasing order.
        counts: per column, how many training rows hold each of them (or, above ``MAX_KNOTS`` distinct
            values, fall between the previous kept value and this one).
        n: the number of training rows.
    """

    values: list[np.ndarray]
    counts: list[np.ndarray]
    n: int

    def __post_init__(self) -> None:
        # Rows below each knot, with the total appended: below[i] and below[i + 1] bracket knot i's ties.
        self._below = [np.concatenate([[0.0], np.cumsum(c, dtype=np.float64)]) for c in self.counts]
        top = float(_ndtri(np.array(1.0 - 0.5 / self.n)))
        self._extremes = (top, -top)  # the scores of ranks 1 - 1/(2n) and 1/(2n): the range's ends
        self._first = np.array([v[0] for v in self.values])[:, None]  # each column's training range, (D, 1)
        self._last = np.array([v[-1] for v in self.values])[:, None]

    @classmethod
    def fit(cls, x: Tensor) -> NormalScores:
        """Fit to training rows ``x`` (N, D) (or (N, *shape): flattened per example)."""
        array = x.reshape(len(x), -1).double().numpy()
        values, counts = [], []
        for column in np.sort(array, axis=0).T:
            starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])  # first row of each distinct value
            distinct, count = column[starts], np.diff(np.r_[starts, len(column)])
            if len(distinct) > MAX_KNOTS:  # keep MAX_KNOTS quantiles, each counting the rows up to it
                distinct = np.unique(np.quantile(column, np.linspace(0.0, 1.0, MAX_KNOTS), method="inverted_cdf"))
                count = np.diff(np.searchsorted(column, distinct, side="right"), prepend=0)
            values.append(distinct.astype(np.float64))
            counts.append(count.astype(np.int64))
        return cls(values, counts, int(len(array)))

    @property
    def n_columns(self) -> int:
        """Number of columns (values per example) the transform was fitted on."""
        return len(self.values)

    def __call__(self, x: Tensor) -> Tensor:
        """The normal scores of ``x`` (N, *shape), same shape and dtype."""
        flat = x.reshape(len(x), -1)
        if flat.shape[1] != self.n_columns:
            raise ValueError(f"normal scores fitted on {self.n_columns} columns, got {flat.shape[1]}")
        columns = flat.detach().double().cpu().numpy().T  # (D, N)
        u = np.empty_like(columns)
        for j, (knots, below) in enumerate(zip(self.values, self._below)):
            left = np.searchsorted(knots, columns[j], side="left")
            # One search: a value equal to a knot ends after it (its ties), any other before the next knot.
            tied = knots[np.minimum(left, len(knots) - 1)] == columns[j]
            u[j] = (below[left] + below[left + tied]) / (2.0 * self.n)
        score = _ndtri(np.clip(u, 0.5 / self.n, 1.0 - 0.5 / self.n))
        top, bottom = self._extremes
        first, last = self._first, self._last
        score = np.where(columns > last, top + (columns - last), score)
        score = np.where(columns < first, bottom - (first - columns), score)
        return torch.from_numpy(np.ascontiguousarray(score.T)).to(dtype=x.dtype, device=x.device).reshape(x.shape)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalScores):
            return NotImplemented
        same = lambda a, b: len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))  # noqa: E731
        return self.n == other.n and same(self.values, other.values) and same(self.counts, other.counts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (plain lists); :meth:`from_dict` inverts it."""
        return {"values": [v.tolist() for v in self.values], "counts": [c.tolist() for c in self.counts], "n": self.n}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NormalScores:
        """Rebuild a transform saved by :meth:`to_dict`."""
        knots = [np.asarray(column, dtype=np.float64) for column in values["values"]]
        counts = [np.asarray(column, dtype=np.int64) for column in values["counts"]]
        if len(knots) != len(counts) or any(k.ndim != 1 or k.shape != c.shape for k, c in zip(knots, counts)):
            raise ValueError("normal scores: values and counts differ in shape")
        return cls(knots, counts, int(values["n"]))


def _ndtri(u: np.ndarray) -> np.ndarray:
    """The standard normal quantile function, elementwise."""
    return torch.special.ndtri(torch.from_numpy(u)).numpy()
