"""Data sets of the anomaly benchmark: one-class tasks on real data and ADBench's four synthetic anomaly types.

Every task is one-class: the detector trains on normal examples only and scores a test set of unseen
normal examples and anomalies (label 1).

Real data (offline, bundled with scikit-learn or Debian's ``dataset-fashion-mnist``):

- ``breast_cancer``: benign normal, malignant anomalous; 60% of the benign rows train.
- ``wine``, ``iris``: one task per class (that class normal, the others anomalous); 60% of it trains.
- ``digits``: one task per digit; all of the digit's training images train, the 447-image test split scores.
- ``fashion-mnist``: one task per class; ``train_per_class`` training images of the class train, and a
  stratified subsample of the test split (``test_per_class`` images of every class) scores.

Synthetic anomalies (Han et al. 2022, "ADBench", section 3.3), generated from a real data set's rows
(min-max scaled to [0, 1] first, as ADBench's generator does, so that the scaling factors below mean the
same on every base):

- ``local``: a Gaussian mixture (components 1..5 chosen by BIC) fitted to the rows; normal examples are
  drawn from it, anomalies from the same mixture with every covariance scaled by alpha = 5.
- ``clustered``: normal from the mixture; anomalies from the mixture with its means scaled by alpha = 5.
- ``global``: normal from the mixture; anomalies uniform in [alpha * min, alpha * max] per feature,
  alpha = 1.1.
- ``dependency``: normal from a copula model of the rows (ADBench fits a vine copula; here a Gaussian
  copula over the empirical marginals, which needs no extra package), anomalies with the same marginals
  but independent features (each drawn from a kernel density estimate of its marginal, clipped to the
  feature's observed range), so only the broken dependence between features betrays them.

Each synthetic set has as many normal examples as its base, 60% of which train; the anomalies make up
``ANOMALY_FRACTION`` (10%) of the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SYNTHETIC_TYPES = ("local", "global", "clustered", "dependency")
SYNTHETIC_BASES = ("breast_cancer", "wine", "diabetes", "digits64")
REAL_SETS = ("breast_cancer", "wine", "iris", "digits", "fashion-mnist")
TRAIN_FRACTION = 0.6  # of the normal examples, for every table task
ANOMALY_FRACTION = 0.1  # of a synthetic test set
LOCAL_ALPHA, CLUSTER_ALPHA, GLOBAL_ALPHA = 5.0, 5.0, 1.1


@dataclass
class Task:
    """One one-class problem: train on ``train`` (normal only), score ``test`` with labels (1 = anomaly)."""

    dataset: str
    name: str
    train: np.ndarray
    test: np.ndarray
    test_is_anomaly: np.ndarray


def all_dataset_names() -> list[str]:
    """Every data set name the benchmark knows, real sets first."""
    return [*REAL_SETS, *(f"{kind}-{base}" for base in SYNTHETIC_BASES for kind in SYNTHETIC_TYPES)]


def _one_class_split(x: np.ndarray, y: np.ndarray, normal: int, fraction: float, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(np.nonzero(y == normal)[0])
    n_train = int(round(fraction * len(idx)))
    test = np.concatenate([idx[n_train:], np.nonzero(y != normal)[0]])
    return x[idx[:n_train]], x[test], (y[test] != normal).astype(int)


def tabular_tasks(name: str, seed: int) -> list[Task]:
    """Breast cancer (benign normal) or one task per class of wine / iris."""
    from sklearn import datasets

    if name == "breast_cancer":
        x, y = datasets.load_breast_cancer(return_X_y=True)
        return [Task(name, "benign", *_one_class_split(x, y, 1, TRAIN_FRACTION, seed))]
    loader = {"wine": datasets.load_wine, "iris": datasets.load_iris}[name]
    x, y = loader(return_X_y=True)
    return [Task(name, f"class {c}", *_one_class_split(x, y, c, TRAIN_FRACTION, seed)) for c in np.unique(y)]


def image_tasks(name: str, train_per_class: int, test_per_class: int, seed: int) -> list[Task]:
    """One task per class of digits or Fashion-MNIST, images as float32 in [0, 1]."""
    from vaekit.data import load_digits, load_fashion_mnist

    data = load_digits(seed) if name == "digits" else load_fashion_mnist()
    train, test = data.train, data.test
    scale = float(train.levels - 1)
    tx, ty = train.x.numpy()[:, 0] / scale, train.y.numpy()
    sx, sy = test.x.numpy()[:, 0] / scale, test.y.numpy()
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.nonzero(sy == c)[0])[:test_per_class] for c in np.unique(sy)])
    sx, sy = sx[np.sort(keep)], sy[np.sort(keep)]
    tasks = []
    for c in range(int(data.n_classes)):
        idx = rng.permutation(np.nonzero(ty == c)[0])[:train_per_class]
        tasks.append(Task(name, f"class {c}", tx[idx].astype(np.float32), sx.astype(np.float32), (sy != c).astype(int)))
    return tasks


def base_rows(base: str) -> np.ndarray:
    """The real rows a synthetic set is generated from, min-max scaled to [0, 1] per feature."""
    from sklearn import datasets

    if base == "breast_cancer":
        x, y = datasets.load_breast_cancer(return_X_y=True)
        x = x[y == 1]  # the benign rows: real normal data
    elif base == "wine":
        x = datasets.load_wine().data
    elif base == "diabetes":
        x = datasets.load_diabetes(scaled=False).data
    elif base == "digits64":
        x = datasets.load_digits().data  # the 8x8 images as 64 features
    else:
        raise ValueError(f"unknown synthetic base {base!r}; valid: {SYNTHETIC_BASES}")
    lo, hi = x.min(0), x.max(0)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def _mixture(x: np.ndarray, seed: int):  # noqa: ANN202  (sklearn GaussianMixture)
    """A full-covariance Gaussian mixture with 1..5 components, the number chosen by BIC."""
    from sklearn.mixture import GaussianMixture

    fits = [GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(x) for k in range(1, 6)]
    return min(fits, key=lambda gm: gm.bic(x))


def _sample_mixture(gm, n: int, rng: np.random.Generator, means=None, covariances=None) -> np.ndarray:  # noqa: ANN001
    """``n`` draws from a fitted mixture, optionally with replaced means / covariances."""
    means = gm.means_ if means is None else means
    covariances = gm.covariances_ if covariances is None else covariances
    component = rng.choice(len(gm.weights_), size=n, p=gm.weights_)
    out = np.empty((n, means.shape[1]))
    for k in np.unique(component):
        rows = component == k
        out[rows] = rng.multivariate_normal(means[k], covariances[k], size=int(rows.sum()), method="eigh")
    return out


def _gaussian_copula(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws with the empirical marginals of ``x`` and the correlation of its normal scores."""
    from scipy.stats import norm

    ranks = (np.argsort(np.argsort(x, axis=0), axis=0) + 0.5) / len(x)
    scores = norm.ppf(ranks)  # (N, D) normal scores
    corr = np.corrcoef(scores, rowvar=False)
    corr = np.nan_to_num(corr, nan=0.0) + 1e-6 * np.eye(x.shape[1])
    np.fill_diagonal(corr, 1.0)
    u = norm.cdf(rng.multivariate_normal(np.zeros(x.shape[1]), corr, size=n, method="eigh"))
    return np.column_stack([np.quantile(x[:, j], u[:, j]) for j in range(x.shape[1])])


def _independent_marginals(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws whose features are independent, each from a Gaussian KDE (Scott's bandwidth) of its marginal."""
    bandwidth = x.std(0) * len(x) ** (-1.0 / 5.0)
    picks = rng.integers(0, len(x), size=(n, x.shape[1]))
    return x[picks, np.arange(x.shape[1])] + rng.normal(size=(n, x.shape[1])) * bandwidth


def synthetic_task(kind: str, base: str, seed: int) -> Task:
    """One ADBench-style synthetic task: ``kind`` anomalies against normal data generated from ``base``."""
    if kind not in SYNTHETIC_TYPES:
        raise ValueError(f"unknown synthetic anomaly type {kind!r}; valid: {SYNTHETIC_TYPES}")
    x = base_rows(base)
    rng = np.random.default_rng(seed)
    n_normal = len(x)
    n_train = int(round(TRAIN_FRACTION * n_normal))
    n_anomalies = max(1, int(round(ANOMALY_FRACTION / (1 - ANOMALY_FRACTION) * (n_normal - n_train))))
    if kind == "dependency":
        normal = _gaussian_copula(x, n_normal, rng)
        # Clipped to each feature's observed range: only the broken dependence, not a value outside the
        # range (a jittered 0 of an always-blank pixel would be), should tell these anomalies apart.
        anomalies = np.clip(_independent_marginals(x, n_anomalies, rng), x.min(0), x.max(0))
    else:
        gm = _mixture(x, seed)
        normal = _sample_mixture(gm, n_normal, rng)
        if kind == "local":
            anomalies = _sample_mixture(gm, n_anomalies, rng, covariances=LOCAL_ALPHA * gm.covariances_)
        elif kind == "clustered":
            anomalies = _sample_mixture(gm, n_anomalies, rng, means=CLUSTER_ALPHA * gm.means_)
        else:
            lo, hi = normal.min(0), normal.max(0)
            anomalies = rng.uniform(GLOBAL_ALPHA * lo, GLOBAL_ALPHA * hi, size=(n_anomalies, x.shape[1]))
    test = np.concatenate([normal[n_train:], anomalies])
    labels = np.concatenate([np.zeros(n_normal - n_train, dtype=int), np.ones(n_anomalies, dtype=int)])
    return Task(f"{kind}-{base}", "synthetic", normal[:n_train], test, labels)


def tasks_for(dataset: str, seed: int, fashion_train: int, fashion_test: int) -> list[Task]:
    """The tasks of one data set name (see :func:`all_dataset_names`)."""
    if dataset in ("breast_cancer", "wine", "iris"):
        return tabular_tasks(dataset, seed)
    if dataset == "digits":
        return image_tasks(dataset, 10**9, 10**9, seed)
    if dataset == "fashion-mnist":
        return image_tasks(dataset, fashion_train, fashion_test, seed)
    kind, _, base = dataset.partition("-")
    if kind in SYNTHETIC_TYPES and base in SYNTHETIC_BASES:
        return [synthetic_task(kind, base, seed)]
    raise SystemExit(f"unknown data set {dataset!r}; valid: {all_dataset_names()}")
