"""Predictor-based disentanglement metrics: DCI, SAP and explicitness (disentanglement_lib's definitions).

Each takes codes and factor labels of a training and a test set (codes (N, D), factors (N, K)).
"""

from __future__ import annotations

import warnings

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

TREES = ("hist", "exact")


def _hist_importances(model: HistGradientBoostingClassifier, n_features: int) -> np.ndarray:
    """Gain-based importances of a fitted histogram-boosting model, averaged over its trees as
    sklearn averages impurity decreases for ``GradientBoostingClassifier.feature_importances_``."""
    # sklearn exposes no importances for histogram boosting; the split gains live in its tree predictors.
    per_tree = []
    for stage in model._predictors:
        for predictor in stage:
            nodes = predictor.nodes
            split = nodes["is_leaf"] == 0
            if split.any():
                per_tree.append(np.bincount(nodes["feature_idx"][split], nodes["gain"][split], n_features))
    if not per_tree:
        return np.zeros(n_features)
    mean = np.mean(per_tree, axis=0)
    return mean / mean.sum()  # sklearn splits a node only on a positive gain, so the sum is > 0


def _fit_trees(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, trees: str, seed: int
) -> tuple[np.ndarray, float, float]:
    """Importances (D,), train and test accuracy of gradient-boosted trees predicting one factor.

    "exact": sklearn's ``GradientBoostingClassifier`` with its defaults (100 trees of depth 3), as
    disentanglement_lib. "hist": ``HistGradientBoostingClassifier`` with the same number, depth and
    learning rate of trees on 255-bin histograms of the codes (far faster with many classes).
    """
    # One OpenMP thread per fit: on a few thousand points the histogram trees' threads mostly wait on each other
    # (a fit took 33 s instead of 0.2 s on a busy 2-core machine); the factors run in n_jobs processes instead.
    with threadpool_limits(limits=1, user_api="openmp"):  # pragma: no mutate (speed only)
        if trees == "exact":
            model = GradientBoostingClassifier(random_state=seed).fit(x_train, y_train)
            importance = np.abs(model.feature_importances_)
        else:
            model = HistGradientBoostingClassifier(
                max_depth=3, min_samples_leaf=1, early_stopping=False,
                max_iter=100, learning_rate=0.1, max_leaf_nodes=None,  # pragma: no mutate (equivalent: defaults)
                random_state=seed,  # pragma: no mutate (equivalent: unused without early stopping or subsampling)
            ).fit(x_train, y_train)  # fmt: skip
            importance = _hist_importances(model, x_train.shape[1])
        return (
            importance,
            float(np.mean(model.predict(x_train) == y_train)),
            float(np.mean(model.predict(x_test) == y_test)),
        )


def importance_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    trees: str = "hist",
    n_jobs: int = 1,  # pragma: no mutate (equivalent: worker count)
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D, K) feature importances of gradient-boosted trees predicting each factor from the codes.

    One classifier per factor (see :func:`_fit_trees` for ``trees``), fitted in ``n_jobs`` processes.

    Returns:
        The importance matrix, and the per-factor train and test accuracies (K,).
    """
    if trees not in TREES:
        raise ValueError(f"unknown trees {trees!r}; valid: {list(TREES)}")
    k = factors_train.shape[1]
    jobs = (
        delayed(_fit_trees)(codes_train, factors_train[:, j], codes_test, factors_test[:, j], trees, seed)
        for j in range(k)
    )
    results = Parallel(n_jobs=min(n_jobs, k))(jobs)  # pragma: no mutate (equivalent: worker count)
    matrix = np.stack([r[0] for r in results], axis=1)
    return matrix, np.array([r[1] for r in results]), np.array([r[2] for r in results])


def _weighted_concentration(matrix: np.ndarray) -> float:
    """Importance-weighted mean over the rows of 1 - entropy (base: the number of columns) of each row's
    importance over the columns; 0 when every importance is 0 (every row is then uniform)."""
    total = matrix.sum()
    if total == 0:
        return 0.0
    per_row = 1.0 - entropy(matrix.T + 1e-11, base=matrix.shape[1])
    return float(np.sum(per_row * matrix.sum(axis=1) / total))


def dci_disentanglement(matrix: np.ndarray) -> float:
    """Importance-weighted mean over codes of 1 - entropy (base K) of the code's importance over factors."""
    return _weighted_concentration(matrix)


def dci_completeness(matrix: np.ndarray) -> float:
    """Importance-weighted mean over factors of 1 - entropy (base D) of the factor's importance over codes."""
    return _weighted_concentration(matrix.T)


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    trees: str = "hist",
    n_jobs: int = 1,  # pragma: no mutate (equivalent: worker count)
    seed: int = 0,
) -> dict[str, float | list[list[float]]]:
    """DCI (Eastwood & Williams 2018) with gradient-boosted trees.

    Returns:
        ``disentanglement``, ``completeness``, ``informativeness_train`` / ``informativeness_test``
        (mean accuracy of the trees over factors, as disentanglement_lib reports it) and the
        importance matrix.
    """
    matrix, train_acc, test_acc = importance_matrix(
        codes_train, factors_train, codes_test, factors_test, trees, n_jobs, seed
    )
    return {
        "dci_disentanglement": dci_disentanglement(matrix),
        "dci_completeness": dci_completeness(matrix),
        "dci_informativeness_train": float(train_acc.mean()),
        "dci_informativeness_test": float(test_acc.mean()),
        "dci_importance": matrix.tolist(),
    }


def sap(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray
) -> dict[str, float]:
    """Separated attribute predictability (Kumar et al. 2018) for discrete factors.

    Score[d, k] = test accuracy of a linear SVM (C = 0.01, balanced classes) predicting factor k
    from code d alone; SAP is the mean over factors of the gap between the two best codes.
    """
    d, k = codes_train.shape[1], factors_train.shape[1]
    scores = np.zeros((d, k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # pragma: no mutate (warning filter)
        for i in range(d):
            for j in range(k):
                classifier = LinearSVC(C=0.01, class_weight="balanced")
                classifier.fit(codes_train[:, i : i + 1], factors_train[:, j])
                scores[i, j] = np.mean(classifier.predict(codes_test[:, i : i + 1]) == factors_test[:, j])
    top = np.sort(scores, axis=0)
    return {"sap": float(np.mean(top[-1] - top[-2]))}


def _auc(y: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    """Macro ROC AUC of class probabilities against one-hot labels (only classes present in y count)."""
    onehot = label_binarize(y, classes=classes)
    if len(classes) == 2:
        onehot = np.concatenate([1 - onehot, onehot], axis=1)
    present = onehot.sum(0) > 0
    average = "macro"  # pragma: no mutate (equivalent: roc_auc_score's default)
    return float(roc_auc_score(onehot[:, present], probabilities[:, present], average=average))


def explicitness(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray
) -> dict[str, float]:
    """Explicitness (Ridgeway & Mozer 2018): macro ROC AUC of a logistic regression from all codes
    (standardized with the training codes' mean and sd) to each factor, averaged over factors."""
    mean, sd = codes_train.mean(0), codes_train.std(0)
    constant = sd == 0
    sd[constant] = 1.0  # pragma: no mutate (equivalent: a constant code is 0 after centring, its weight 0)
    codes_train, codes_test = (codes_train - mean) / sd, (codes_test - mean) / sd
    train, test = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # pragma: no mutate (warning filter)
        for j in range(factors_train.shape[1]):
            model = LogisticRegression().fit(codes_train, factors_train[:, j])
            train.append(_auc(factors_train[:, j], model.predict_proba(codes_train), model.classes_))
            test.append(_auc(factors_test[:, j], model.predict_proba(codes_test), model.classes_))
    return {"explicitness_train": float(np.mean(train)), "explicitness_test": float(np.mean(test))}
