"""Histogram discretization, mutual information, MIG and modularity against brute-force numpy."""

import warnings

import numpy as np
import pytest

from vaekit.evaluate.disentanglement import mig, modularity
from vaekit.evaluate.disentanglement.information import histogram_discretize, mutual_information_matrix


def _bins(codes: np.ndarray, bins: int) -> np.ndarray:
    """Bin index 1..bins of each value on equal-width bins over its column's [min, max] (max in the last bin)."""
    lo, hi = codes.min(0), codes.max(0)
    return np.minimum(np.floor((codes - lo) / (hi - lo) * bins), bins - 1).astype(np.int64) + 1


def _mi(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two discrete samples from their joint counts."""
    total = 0.0
    for u in np.unique(a):
        for v in np.unique(b):
            p = np.mean((a == u) & (b == v))
            if p > 0:
                total += p * np.log(p / (np.mean(a == u) * np.mean(b == v)))
    return total


def _codes_and_factors(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """3 codes, 3 factors: a binary factor in code 0, a 4-valued one in codes 1 and 2 (noisier), a constant."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 2, n), rng.integers(0, 4, n), np.zeros(n, dtype=np.int64)], axis=1)
    codes = np.stack(
        [
            factors[:, 0] + 0.3 * rng.normal(size=n),
            factors[:, 1] + 0.2 * rng.normal(size=n),
            factors[:, 1] + 1.5 * rng.normal(size=n),
        ],
        axis=1,
    )
    return codes, factors


def test_histogram_bins_are_equal_width_over_each_code_range_by_hand():
    x = np.arange(9.0)
    codes = np.stack([x, 8.0 - x], axis=1)  # ranges [0, 8]: width-2 bins, the maximum in the last bin
    expected = np.array([[1, 1, 2, 2, 3, 3, 4, 4, 4], [4, 4, 4, 3, 3, 2, 2, 1, 1]]).T
    out = histogram_discretize(codes, bins=4)
    np.testing.assert_array_equal(out, expected)
    assert np.issubdtype(out.dtype, np.integer)


def test_histogram_default_is_twenty_bins_per_code():
    codes = np.random.default_rng(1).normal(size=(150, 3)) * np.array([1.0, 5.0, 0.1]) + np.array([0.0, 3.0, -2.0])
    out = histogram_discretize(codes)
    np.testing.assert_array_equal(out, _bins(codes, 20))
    assert out.min() == 1 and out.max() == 20


def test_mutual_information_matrix_is_the_plug_in_estimate_on_binned_codes():
    codes, factors = _codes_and_factors()
    for bins, mi in (
        (20, mutual_information_matrix(codes, factors)),
        (5, mutual_information_matrix(codes, factors, 5)),
    ):
        binned = _bins(codes, bins)
        expected = np.array([[_mi(binned[:, d], factors[:, k]) for k in range(3)] for d in range(3)])
        assert mi.shape == (3, 3)
        np.testing.assert_allclose(mi, expected, rtol=1e-10, atol=1e-12)


def _mig_brute_force(codes: np.ndarray, factors: np.ndarray, bins: int) -> list[float]:
    binned = _bins(codes, bins)
    gaps = []
    for k in range(factors.shape[1]):
        mi = sorted((_mi(binned[:, d], factors[:, k]) for d in range(codes.shape[1])), reverse=True)
        entropy = _mi(factors[:, k], factors[:, k])
        gaps.append((mi[0] - mi[1]) / entropy if entropy > 0 else 0.0)
    return gaps


def test_mig_is_the_top_two_gap_over_the_factor_entropy():
    """The binary factor's entropy (log 2 < 1 nat) normalizes its gap; a constant factor's gap is 0."""
    codes, factors = _codes_and_factors()
    for bins, result in ((20, mig(codes, factors)), (6, mig(codes, factors, bins=6))):
        expected = _mig_brute_force(codes, factors, bins)
        np.testing.assert_allclose(result["mig_per_factor"], expected, rtol=1e-10, atol=1e-12)
        assert result["mig"] == pytest.approx(np.mean(expected), rel=1e-10)
        assert result["mig_per_factor"][2] == 0.0 and result["mig_per_factor"][0] > 0.5


def test_mig_needs_two_code_dimensions_and_takes_exactly_two():
    codes, factors = _codes_and_factors()
    two = mig(codes[:, :2], factors)
    np.testing.assert_allclose(two["mig_per_factor"], _mig_brute_force(codes[:, :2], factors, 20), rtol=1e-10)
    with pytest.raises(ValueError, match="two code dimensions"):
        mig(codes[:, :1], factors)


def test_modularity_by_hand_without_warnings_for_a_silent_code():
    """Code 1: squared MI (1, 0, 4): 1 - 1 / (2 * 4) = 7/8; the silent code 0 scores 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert modularity(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]])) == pytest.approx(7 / 16, rel=1e-12)
        assert modularity(np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 1.0]])) == pytest.approx((1 - 1 / 9) / 3, rel=1e-12)
