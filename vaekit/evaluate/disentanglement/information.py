"""Information-based disentanglement metrics: MIG and modularity (disentanglement_lib's definitions).

Codes are discretized into a 20-bin histogram per dimension; mutual information is the discrete
plug-in estimate (``sklearn.metrics.mutual_info_score``, nats) between each code bin and each
factor value.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score


def histogram_discretize(codes: np.ndarray, bins: int = 20) -> np.ndarray:
    """(N, D) codes -> (N, D) bin indices 1..bins, each dimension binned over its own range."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram(codes[:, d], bins)[1]
        out[:, d] = np.digitize(codes[:, d], edges[:-1])
    return out


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) plug-in mutual information (nats) between discrete codes (N, D) and factors (N, K)."""
    return np.array(
        [
            [mutual_info_score(factors[:, k], codes[:, d]) for k in range(factors.shape[1])]
            for d in range(codes.shape[1])
        ]
    )


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """(K,) entropy (nats) of each discrete factor."""
    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])


def mutual_information_matrix(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> np.ndarray:
    """(D, K) mutual information between 20-bin histograms of the codes and the factors."""
    return discrete_mutual_info(histogram_discretize(codes, bins), factors)


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> dict[str, float | list[float]]:
    """Mutual information gap (Chen et al. 2018).

    For each factor, the gap between the two largest I(code_d; factor) over its entropy, averaged
    over factors.

    Args:
        codes: (N, D) representations (e.g. posterior means).
        factors: (N, K) integer factor labels.
        bins: histogram bins per code dimension.

    Returns:
        ``{"mig": mean gap, "mig_per_factor": [K gaps]}``.
    """
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions")  # pragma: no mutate (message text)
    mi = mutual_information_matrix(codes, factors, bins)  # (D, K)
    entropy = discrete_entropy(factors)  # (K,)
    top = np.sort(mi, axis=0)[::-1]
    gaps = (top[0] - top[1]) / np.where(entropy > 0, entropy, np.inf)
    return {"mig": float(gaps.mean()), "mig_per_factor": gaps.tolist()}


def modularity(mutual_information: np.ndarray) -> float:
    """Modularity (Ridgeway & Mozer 2018) of a (D, K) code-by-factor mutual information matrix.

    Per code: 1 - (sum of squared MI to all but its best factor) / ((K - 1) * best squared MI);
    codes that carry no information score 0; averaged over codes.
    """
    squared = mutual_information**2
    best = squared.max(axis=1)
    k = squared.shape[1]
    # 0 / 0 for a code with no information (or K = 1); a nonzero numerator always has best > 0.
    with np.errstate(invalid="ignore"):
        delta = (squared.sum(axis=1) - best) / (best * (k - 1.0))
    score = 1.0 - delta
    score[best == 0] = 0.0
    return float(score.mean())
