"""Metrics that fix one factor and look at the codes: the BetaVAE and FactorVAE scores
(disentanglement_lib's definitions and defaults).

``represent`` maps raw observations (N, ...) to codes (N, D) as a NumPy array (e.g. posterior means).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from torch import Tensor

from vaekit.data.factors import GroundTruth

Represent = Callable[[Tensor], np.ndarray]


# Groups (batches with one factor fixed) are drawn and encoded this many examples at a time.
CHUNK = 4096


def _groups(
    data: GroundTruth, n: int, batch_size: int, rng: np.random.Generator, pairs: bool
) -> Iterator[tuple[np.ndarray, list[Tensor]]]:
    """Chunks of groups of ``batch_size`` examples that share one random factor's value.

    Yields the fixed factor of each group (G,) and the observations (G * batch_size, ...): for
    ``pairs`` (the BetaVAE score) two sets, pair i sharing the value of row i; otherwise one set in
    which the whole group shares one value (the FactorVAE score).
    """
    k = len(data.factor_names)
    per_chunk = max(1, CHUNK // batch_size)
    done = 0
    while done < n:
        g = min(per_chunk, n - done)
        fixed = rng.integers(0, k, g)  # (G,)
        which = np.repeat(fixed, batch_size)  # (G * B,)
        if pairs:
            values = data.sample_factors(g * batch_size, rng)[np.arange(g * batch_size), which]
        else:
            values = np.repeat(data.sample_factors(g, rng)[np.arange(g), fixed], batch_size)
        observations = [data.sample_fixed(which, values, rng)[1] for _ in range(2 if pairs else 1)]
        yield fixed, observations
        done += g


def _betavae_points(
    data: GroundTruth, represent: Represent, n: int, batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (feature, factor) pairs: mean |z1 - z2| over a batch of pairs sharing one random factor."""
    features, labels = [], []
    for fixed, (x1, x2) in _groups(data, n, batch_size, rng, pairs=True):
        difference = np.abs(represent(x1) - represent(x2))  # (G * B, D)
        features.append(difference.reshape(len(fixed), batch_size, difference.shape[1]).mean(1))
        labels.append(fixed)
    return np.concatenate(features), np.concatenate(labels)


def betavae_score(
    data: GroundTruth,
    represent: Represent,
    rng: np.random.Generator,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
) -> dict[str, float]:
    """BetaVAE score (Higgins et al. 2017): accuracy of a linear classifier that names the fixed factor
    from the mean absolute code difference of ``batch_size`` pairs sharing it.

    Returns:
        ``betavae_train`` and ``betavae_eval`` accuracies.
    """
    x_train, y_train = _betavae_points(data, represent, n_train, batch_size, rng)
    x_eval, y_eval = _betavae_points(data, represent, n_eval, batch_size, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # pragma: no mutate (warning filter)
        model = LogisticRegression().fit(x_train, y_train)
    return {"betavae_train": float(model.score(x_train, y_train)), "betavae_eval": float(model.score(x_eval, y_eval))}


def _factorvae_votes(
    data: GroundTruth,
    represent: Represent,
    n: int,
    batch_size: int,
    scale: np.ndarray,
    active: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """(active codes, K) votes: for a batch with one factor fixed, the active code of least
    variance (each code's variance divided by its global variance) votes for that factor."""
    shape = (int(active.sum()), len(data.factor_names))
    votes = np.zeros(shape, dtype=np.int64)  # pragma: no mutate (equivalent: float64 counts are exact)
    groups = _groups(data, n, batch_size, rng, pairs=False)  # pragma: no mutate (equivalent: None is falsy)
    for fixed, (x,) in groups:
        codes = represent(x)
        codes = codes.reshape(len(fixed), batch_size, codes.shape[1])  # (G, B, D)
        # (G, D); ddof rescales every code alike, so the argmin below does not depend on it.
        local = np.var(codes, axis=1, ddof=1)  # pragma: no mutate (equivalent: argmin unchanged)
        chosen = np.argmin(local[:, active] / scale[active], axis=1)  # (G,)
        np.add.at(votes, (chosen, fixed), 1)
    return votes


def factorvae_score(
    data: GroundTruth,
    represent: Represent,
    rng: np.random.Generator,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
    n_variance: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """FactorVAE score (Kim & Mnih 2018): accuracy of the majority-vote classifier from "code of least
    normalized variance in a batch with one factor fixed" to that factor.

    Codes whose global standard deviation is below ``prune_threshold`` (collapsed) take no part.

    Returns:
        ``factorvae_train``, ``factorvae_eval`` and ``factorvae_active`` (codes taking part).
    """
    _, x = data.sample(n_variance, rng)
    scale = np.var(represent(x), axis=0, ddof=1)  # (D,)
    active = np.sqrt(scale) >= prune_threshold
    if not active.any():
        return {"factorvae_train": 0.0, "factorvae_eval": 0.0, "factorvae_active": 0}
    train = _factorvae_votes(data, represent, n_train, batch_size, scale, active, rng)
    classifier = np.argmax(train, axis=1)  # (active codes,): the factor each code predicts
    rows = np.arange(len(classifier))
    evaluation = _factorvae_votes(data, represent, n_eval, batch_size, scale, active, rng)
    return {
        "factorvae_train": float(train[rows, classifier].sum() / train.sum()),
        "factorvae_eval": float(evaluation[rows, classifier].sum() / evaluation.sum()),
        "factorvae_active": int(active.sum()),
    }
