"""The disentanglement metrics on synthetic codes with known structure."""

import numpy as np
import pytest
import torch

from vaekit.data import LabelledExamples
from vaekit.evaluate.disentanglement import (
    betavae_score,
    dci,
    dci_completeness,
    dci_disentanglement,
    disentanglement_metrics,
    explicitness,
    factorvae_score,
    importance_matrix,
    mig,
    modularity,
    sap,
)

N_VALUES = 8


def _factors(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, N_VALUES, size=(n, k))


def _perfect(factors: np.ndarray, seed: int, noise: float = 0.05) -> np.ndarray:
    """Each latent is one factor (centred, scaled), plus small noise."""
    rng = np.random.default_rng(seed)
    return (factors - N_VALUES / 2) / 2 + noise * rng.normal(size=factors.shape)


def _rotation(k: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(k, k)))
    return q


@pytest.fixture(scope="module")
def codes():
    train, test = _factors(4000, 3, 0), _factors(2000, 3, 1)
    perfect = _perfect(train, 2), _perfect(test, 3)
    r = _rotation(3, 4)
    rotated = perfect[0] @ r, perfect[1] @ r
    # Factor 0 spread over two latents (two noisy copies), factors 1 and 2 as before.
    spread = tuple(np.concatenate([c[:, :1], c], axis=1) + 0.05 * np.random.default_rng(5).normal(size=(len(c), 4))
                   for c in perfect)  # fmt: skip
    return {"factors": (train, test), "perfect": perfect, "rotated": rotated, "spread": spread}


def test_mig_is_near_one_for_a_disentangled_code_and_low_for_a_rotation(codes):
    train = codes["factors"][0]
    assert mig(codes["perfect"][0], train)["mig"] > 0.9
    assert mig(codes["rotated"][0], train)["mig"] < 0.3


def test_spreading_a_factor_over_two_latents_lowers_mig_not_informativeness(codes):
    (train, test), perfect, spread = codes["factors"], codes["perfect"], codes["spread"]
    per_factor = mig(spread[0], train)["mig_per_factor"]
    assert per_factor[0] < 0.15 and min(per_factor[1:]) > 0.9
    assert mig(spread[0], train)["mig"] < mig(perfect[0], train)["mig"] - 0.25
    a = dci(perfect[0], train, perfect[1], test)
    b = dci(spread[0], train, spread[1], test)
    assert b["dci_informativeness_test"] == pytest.approx(a["dci_informativeness_test"], abs=0.02)
    assert explicitness(spread[0], train, spread[1], test)["explicitness_test"] == pytest.approx(
        explicitness(perfect[0], train, perfect[1], test)["explicitness_test"], abs=0.01
    )


def test_dci_is_near_one_for_a_disentangled_code_and_lower_for_a_rotation(codes):
    (train, test), perfect, rotated = codes["factors"], codes["perfect"], codes["rotated"]
    good = dci(perfect[0], train, perfect[1], test)
    assert good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9
    assert good["dci_informativeness_test"] > 0.95
    bad = dci(rotated[0], train, rotated[1], test)
    assert bad["dci_disentanglement"] < 0.6 and bad["dci_completeness"] < 0.6


def test_dci_from_an_importance_matrix():
    # A diagonal matrix is perfectly disentangled and complete; a uniform one is neither.
    assert dci_disentanglement(np.eye(3)) == pytest.approx(1.0, abs=1e-6)
    assert dci_completeness(np.eye(3)) == pytest.approx(1.0, abs=1e-6)
    assert dci_disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-6)
    # One code used for two factors: that code's disentanglement is 1 - log_3(2).
    m = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert dci_disentanglement(m) == pytest.approx(2 / 3 * (1 - np.log(2) / np.log(3)) + 1 / 3, abs=1e-6)
    assert dci_completeness(m) == pytest.approx(1.0, abs=1e-6)  # each factor lives in one code
    # 3 codes x 2 factors: code 0 serves both factors; factor 0 is spread over codes 0 and 1.
    wide = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    assert dci_disentanglement(wide) == pytest.approx(1 / 3, abs=1e-6)
    assert dci_completeness(wide) == pytest.approx(2 / 3 * (1 - np.log(2) / np.log(3)) + 1 / 3, abs=1e-6)


def test_histogram_trees_give_the_importances_of_exact_boosting():
    # The check behind the "hist" default: on the same codes both give the same DCI figures.
    train, test = _factors(600, 3, 7), _factors(300, 3, 8)
    r = np.eye(3) * 0.7 + 0.3 * _rotation(3, 9)
    x_train, x_test = _perfect(train, 10, 0.3) @ r, _perfect(test, 11, 0.3) @ r
    exact, _, acc_exact = importance_matrix(x_train, train, x_test, test, trees="exact")
    hist, _, acc_hist = importance_matrix(x_train, train, x_test, test, trees="hist")
    assert dci_disentanglement(hist) == pytest.approx(dci_disentanglement(exact), abs=0.05)
    assert dci_completeness(hist) == pytest.approx(dci_completeness(exact), abs=0.05)
    assert acc_hist.mean() == pytest.approx(acc_exact.mean(), abs=0.05)
    with pytest.raises(ValueError, match="trees"):
        importance_matrix(x_train, train, x_test, test, trees="forest")


def test_sap_and_modularity(codes):
    # SAP's predictor is a linear SVM on one code: binary factors are what it can read exactly.
    train, test = _factors(2000, 3, 20) % 2, _factors(1000, 3, 21) % 2
    good = sap(_perfect(train, 22), train, _perfect(test, 23), test)["sap"]
    r = _rotation(3, 4)
    bad = sap(_perfect(train, 22) @ r, train, _perfect(test, 23) @ r, test)["sap"]
    # Best code exact (accuracy 1), the others at chance (0.5): the gap is 0.5, the most a balanced binary factor gives.
    assert good == pytest.approx(0.5, abs=0.03) and bad < good - 0.2
    (train, test), perfect, rotated = codes["factors"], codes["perfect"], codes["rotated"]
    assert sap(rotated[0], train, rotated[1], test)["sap"] < sap(perfect[0], train, perfect[1], test)["sap"]
    # Modularity from a mutual-information matrix: one factor per code is 1; equal use of all is 0.
    assert modularity(np.diag([1.0, 2.0, 0.5])) == pytest.approx(1.0)
    assert modularity(np.ones((3, 3))) == pytest.approx(0.0)
    assert modularity(np.array([[1.0, 0.5], [0.0, 0.0]])) == pytest.approx((1 - 0.25) / 2)


def _ground_truth(n: int = 6000) -> LabelledExamples:
    factors = _factors(n, 3, 12)
    return LabelledExamples(torch.from_numpy(factors).float(), factors, ["a", "b", "c"])


def _noisy(transform: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)

    def represent(x: torch.Tensor) -> np.ndarray:
        return ((x.numpy() - N_VALUES / 2) / 2 + 0.05 * rng.normal(size=x.shape)) @ transform

    return represent


def test_intervention_scores_are_near_one_for_a_disentangled_code_and_lower_for_a_rotation():
    data = _ground_truth()
    rng = np.random.default_rng(0)
    good = factorvae_score(data, _noisy(np.eye(3), 0), rng, n_train=300, n_eval=150, n_variance=2000)
    assert good["factorvae_eval"] > 0.95 and good["factorvae_active"] == 3
    bad = factorvae_score(data, _noisy(_rotation(3, 4), 0), rng, n_train=300, n_eval=150, n_variance=2000)
    assert bad["factorvae_eval"] < good["factorvae_eval"] - 0.2
    assert betavae_score(data, _noisy(np.eye(3), 1), rng, n_train=300, n_eval=150)["betavae_eval"] > 0.95
    # A collapsed code (constant) is pruned: no active dimension, score 0.
    dead = factorvae_score(data, lambda x: np.zeros((len(x), 3)), rng, n_train=10, n_eval=10, n_variance=100)
    assert dead["factorvae_eval"] == 0.0


def test_the_suite_reports_every_metric():
    data = _ground_truth()
    result = disentanglement_metrics(
        data, _noisy(np.eye(3), 2), n_train=1500, n_test=500, score_train=100, score_eval=50
    )
    for key in ("betavae_eval", "factorvae_eval", "mig", "dci_disentanglement", "modularity", "explicitness_test"):
        assert key in result and result[key] > 0.8, key
    assert result["sap"] > 0.05
    assert np.array(result["mi_matrix"]).shape == (3, 3)
    assert np.argmax(np.array(result["mi_matrix"]), axis=0).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown disentanglement metrics"):
        disentanglement_metrics(data, _noisy(np.eye(3), 2), metrics=["nope"])
