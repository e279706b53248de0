"""DCI, SAP and explicitness against their definitions computed independently with sklearn, and by hand."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from vaekit.evaluate.disentanglement import (
    dci,
    dci_completeness,
    dci_disentanglement,
    explicitness,
    importance_matrix,
    sap,
)


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two binary factors; codes: f0 (noisy), f1 (noisy), an exact copy of code 0, a constant."""
    rng = np.random.default_rng(seed)
    factors = rng.integers(0, 2, (n, 2))
    c0 = factors[:, 0] + 0.4 * rng.normal(size=n)
    c1 = factors[:, 1] + 0.4 * rng.normal(size=n)
    return np.stack([c0, c1, c0, np.full(n, 2.0)], axis=1), factors


def test_exact_trees_are_sklearns_gradient_boosting_with_the_seed():
    """Ties between the two copies of code 0 are broken by the seed: the importances follow it exactly."""
    (ct, ft), (cs, fs) = _split(80, 0), _split(40, 1)
    for seed in (0, 3):
        models = [GradientBoostingClassifier(random_state=seed).fit(ct, ft[:, j]) for j in range(2)]
        expected = np.stack([m.feature_importances_ for m in models], axis=1)  # (D, K) = (4, 2)
        train = np.array([m.score(ct, ft[:, j]) for j, m in enumerate(models)])
        test = np.array([m.score(cs, fs[:, j]) for j, m in enumerate(models)])
        if seed == 0:  # the default seed
            matrix, acc_train, acc_test = importance_matrix(ct, ft, cs, fs, trees="exact")
            np.testing.assert_allclose(matrix, expected, rtol=1e-12)
            np.testing.assert_allclose(acc_train, train)
            np.testing.assert_allclose(acc_test, test)
            np.testing.assert_allclose(dci(ct, ft, cs, fs, trees="exact")["dci_importance"], expected, rtol=1e-12)
            continue
        result = dci(ct, ft, cs, fs, trees="exact", seed=seed)
        assert set(result) == {
            "dci_disentanglement", "dci_completeness", "dci_informativeness_train", "dci_informativeness_test",
            "dci_importance",
        }  # fmt: skip
        np.testing.assert_allclose(result["dci_importance"], expected, rtol=1e-12)
        assert result["dci_disentanglement"] == pytest.approx(dci_disentanglement(expected), rel=1e-12)
        assert result["dci_completeness"] == pytest.approx(dci_completeness(expected), rel=1e-12)
        assert result["dci_informativeness_train"] == pytest.approx(train.mean(), rel=1e-12)
        assert result["dci_informativeness_test"] == pytest.approx(test.mean(), rel=1e-12)
        assert 0 < expected[2, 0] < expected[0, 0] + expected[2, 0]  # the copy really shares the importance


def test_histogram_trees_have_the_documented_settings_and_normalized_gain_importances():
    (ct, ft), (cs, fs) = _split(40, 2), _split(30, 3)
    matrix, acc_train, acc_test = importance_matrix(ct, ft, cs, fs)
    for j in range(2):
        model = HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_depth=3, max_leaf_nodes=None, min_samples_leaf=1,
            early_stopping=False, random_state=0,
        ).fit(ct, ft[:, j])  # fmt: skip
        assert acc_train[j] == model.score(ct, ft[:, j]) and acc_test[j] == model.score(cs, fs[:, j])
    assert matrix.shape == (4, 2)
    np.testing.assert_allclose(matrix.sum(0), 1.0, rtol=1e-12)
    assert (matrix[3] == 0).all() and (matrix[:3] >= 0).all()  # nothing splits on the constant code
    assert acc_train.min() > 0.95  # leaves of one example: boosting fits the small training set


def test_codes_that_never_split_have_zero_importance():
    ft = np.stack([np.arange(20) % 2, np.arange(20) % 3], axis=1)
    matrix, acc_train, _ = importance_matrix(np.ones((20, 3)), ft, np.ones((10, 3)), ft[:10])
    np.testing.assert_array_equal(matrix, np.zeros((3, 2)))
    np.testing.assert_allclose(acc_train, [0.5, 7 / 20])  # the majority class of each factor


def test_weighted_concentration_by_hand():
    """Only code 0 holds importance (total 1): its weight is 1 and it is fully concentrated."""
    one = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    assert dci_disentanglement(one) == pytest.approx(1.0, abs=1e-9)
    assert dci_completeness(one) == pytest.approx(1.0, abs=1e-9)
    assert dci_disentanglement(np.zeros((3, 2))) == 0.0 and dci_completeness(np.zeros((3, 2))) == 0.0


def _sap_codes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An imbalanced binary factor in a small-scale code (twice), a 3-valued factor in a third code."""
    rng = np.random.default_rng(seed)
    factors = np.stack([(rng.random(n) < 0.25).astype(np.int64), rng.integers(0, 3, n)], axis=1)
    c0 = 0.3 * factors[:, 0] + 0.1 * factors[:, 1] + 0.2 * rng.normal(size=n)
    return np.stack([c0, c0, factors[:, 1] + 0.5 * rng.normal(size=n)], axis=1), factors


def test_sap_is_the_gap_between_the_two_best_single_code_svms():
    """With code 0 duplicated the binary factor's gap is 0 exactly; the brute force fits every (code, factor)."""
    (ct, ft), (cs, fs) = _sap_codes(300, 4), _sap_codes(200, 5)
    scores = np.zeros((3, 2))
    for d in range(3):
        for k in range(2):
            svm = LinearSVC(C=0.01, class_weight="balanced").fit(ct[:, [d]], ft[:, k])
            scores[d, k] = np.mean(svm.predict(cs[:, [d]]) == fs[:, k])
    best = np.sort(scores, axis=0)
    expected = np.mean(best[-1] - best[-2])
    assert best[-1, 0] == best[-2, 0]
    assert sap(ct, ft, cs, fs) == {"sap": pytest.approx(expected, abs=1e-12)}
    assert expected > 0.05


def _explicit_codes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes far from 0 and of very different scales (and a constant one): only standardized they compare."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 2, n), rng.integers(0, 3, n)], axis=1)
    codes = np.stack(
        [
            5.0 + 0.01 * (factors[:, 0] + 0.5 * rng.normal(size=n)),
            -300.0 + 100.0 * rng.normal(size=n),
            40.0 + factors[:, 1] + 0.8 * rng.normal(size=n),
            np.full(n, 7.0),
        ],
        axis=1,
    )
    return codes, factors


def _auc_brute_force(y: np.ndarray, p: np.ndarray) -> float:
    """Binary: AUC of P(class 1); otherwise the mean one-vs-rest AUC over the classes present in y."""
    if p.shape[1] == 2:
        return roc_auc_score(y, p[:, 1])
    return float(np.mean([roc_auc_score(y == c, p[:, c]) for c in range(p.shape[1]) if (y == c).any()]))


def test_explicitness_is_the_auc_of_logistic_regression_on_standardized_codes():
    """Test labels of factor 1 lack class 2 and hold class 1 once: those AUCs cover classes 0 and 1."""
    (ct, ft), (cs, fs) = _explicit_codes(200, 6), _explicit_codes(40, 7)
    keep = np.flatnonzero(fs[:, 1] != 2)
    fs, cs = fs[keep], cs[keep]
    ones = np.flatnonzero(fs[:, 1] == 1)
    fs[ones[1:], 1] = 0
    scaler = StandardScaler().fit(ct)
    train, test = [], []
    for k in range(2):
        model = LogisticRegression().fit(scaler.transform(ct), ft[:, k])
        train.append(_auc_brute_force(ft[:, k], model.predict_proba(scaler.transform(ct))))
        test.append(_auc_brute_force(fs[:, k], model.predict_proba(scaler.transform(cs))))
    result = explicitness(ct, ft, cs, fs)
    assert result == {
        "explicitness_train": pytest.approx(np.mean(train), abs=1e-9),
        "explicitness_test": pytest.approx(np.mean(test), abs=1e-9),
    }
    assert min(train) > 0.75  # the small-scale code carries factor 0 once standardized
