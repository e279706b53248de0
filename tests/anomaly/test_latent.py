"""Tests of the latent-space score, combined scores and their save/load and scikit-learn conventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from vaekit.anomaly import VAEDetector
from vaekit.anomaly.detector import REFERENCE_FILE, score_parts
from vaekit.anomaly.latent import RobustScale, knn_distance, posterior_means
from vaekit.io import ModelFileError

CENTRES = np.array([[-3.0, 0.0], [3.0, 0.0]])


def two_clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Six features driven by a 2-d latent drawn from two tight clusters; returns (data, mixing)."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(0).normal(size=(2, 6))
    z = CENTRES[rng.integers(0, 2, size=n)] + 0.3 * rng.normal(size=(n, 2))
    return z @ mixing + 0.05 * rng.normal(size=(n, 6)), mixing


@pytest.fixture(scope="module")
def latent_detector() -> VAEDetector:
    x, _ = two_clusters(300, seed=1)
    return VAEDetector(architecture="mlp", score="latent", n_models=1, latent_dim=2, epochs=60, n_neighbors=5).fit(x)


@pytest.fixture(scope="module")
def combined_detector() -> VAEDetector:
    x, _ = two_clusters(200, seed=2)
    return VAEDetector(architecture="mlp", score="elbo+latent", n_models=2, epochs=20, n_samples=4).fit(x)


def test_knn_distance_matches_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    reference, queries = torch.randn(40, 3, generator=gen), torch.randn(7, 3, generator=gen)
    q, r = queries.double().numpy(), reference.double().numpy()
    expected = np.sort(np.linalg.norm(q[:, None] - r[None], axis=2), axis=1)[:, :4]
    got = knn_distance(queries, reference, k=4, batch_size=3)  # several blocks
    np.testing.assert_allclose(got.numpy(), expected.mean(1), rtol=1e-10)


def test_knn_distance_leave_one_out_skips_each_row_itself() -> None:
    reference = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # nearest other point: 1, 1, 2, 4; with k=2 the mean of the two nearest others
    np.testing.assert_allclose(knn_distance(reference, reference, k=1, exclude_self=True).numpy(), [1, 1, 2, 4])
    np.testing.assert_allclose(
        knn_distance(reference, reference, k=2, exclude_self=True, batch_size=3).numpy(), [2, 1.5, 2.5, 5]
    )
    # k larger than the reference: every other row counts
    np.testing.assert_allclose(knn_distance(torch.tensor([[0.0]]), reference, k=10).numpy(), [11 / 4])


def test_robust_scale_uses_median_and_interquartile_range() -> None:
    scores = torch.arange(1.0, 102.0)  # 1..101: median 51, quartiles 26 and 76
    scale = RobustScale.fit(scores)
    assert scale.center == pytest.approx(51.0)
    assert scale.scale == pytest.approx(50.0 / 1.349)
    assert scale(torch.tensor([51.0 + 50.0 / 1.349])).item() == pytest.approx(1.0)
    constant = RobustScale.fit(torch.tensor([2.0] * 10 + [12.0]))  # IQR 0: the standard deviation instead
    assert constant.scale == pytest.approx(float(torch.tensor([2.0] * 10 + [12.0]).std()))


def test_an_example_between_the_latent_clusters_outranks_the_normal_ones(latent_detector: VAEDetector) -> None:
    normal, mixing = two_clusters(100, seed=3)
    between = np.zeros((1, 2)) @ mixing  # on the data's plane, where no training example lies
    scores = latent_detector.decision_function(np.concatenate([normal, between]))
    assert scores[-1] > scores[:-1].max()


def test_training_scores_leave_each_example_out(latent_detector: VAEDetector) -> None:
    detector = clone(latent_detector).set_params(n_neighbors=1)
    x, _ = two_clusters(300, seed=1)
    detector.fit(x)
    encodings = detector.encodings_[0]
    expected = knn_distance(encodings, encodings, k=1, exclude_self=True).numpy()
    np.testing.assert_allclose(detector.decision_scores_, expected, rtol=1e-6)
    assert detector.decision_scores_.min() > 0  # never the zero distance to itself


def test_combined_score_is_the_sum_of_the_scaled_terms(combined_detector: VAEDetector) -> None:
    x, _ = two_clusters(30, seed=4)
    data = torch.from_numpy(combined_detector.preprocessor_.transform(x))
    expected = []
    for i, scales in enumerate(combined_detector.score_scales_):
        elbo = combined_detector._part(i, data, "elbo")
        latent = knn_distance(posterior_means(combined_detector.models_[i], data), combined_detector.encodings_[i])
        expected.append(((elbo - scales["elbo"].center) / scales["elbo"].scale + scales["latent"](latent)).numpy())
    np.testing.assert_allclose(combined_detector.decision_function(x), np.mean(expected, axis=0), rtol=1e-9)


def test_combined_explanation_adds_up_to_the_score(combined_detector: VAEDetector) -> None:
    x, _ = two_clusters(20, seed=5)
    explanation = combined_detector.explain(x)
    total = explanation.contributions.reshape(len(x), -1).sum(1) + explanation.remainder
    np.testing.assert_allclose(total, explanation.scores, rtol=1e-9, atol=1e-9)
    assert explanation.contributions.shape == x.shape


def test_saved_and_loaded_combined_detector_scores_identically(combined_detector: VAEDetector, tmp_path) -> None:
    x, _ = two_clusters(50, seed=6)
    combined_detector.save(tmp_path / "det")
    loaded = VAEDetector.load(tmp_path / "det")
    np.testing.assert_array_equal(loaded.decision_function(x), combined_detector.decision_function(x))
    np.testing.assert_array_equal(loaded.explain(x).contributions, combined_detector.explain(x).contributions)
    assert loaded.get_params() == combined_detector.get_params()
    (tmp_path / "det" / REFERENCE_FILE).unlink()
    with pytest.raises(ModelFileError, match="latent reference"):  # its score needs the encodings
        VAEDetector.load(tmp_path / "det")


def test_a_detector_saved_without_encodings_still_scores_without_the_latent_term(tmp_path) -> None:
    x, _ = two_clusters(40, seed=8)
    detector = VAEDetector(architecture="mlp", n_models=1, epochs=3, n_samples=2).fit(x)
    detector.save(tmp_path / "old")
    (tmp_path / "old" / REFERENCE_FILE).unlink()  # as written before the latent score existed
    loaded = VAEDetector.load(tmp_path / "old")
    np.testing.assert_array_equal(loaded.decision_function(x), detector.decision_function(x))
    with pytest.raises(ValueError, match="latent score is unavailable"):
        loaded.decision_function(x, score="latent")


def test_scikit_learn_conventions_hold(combined_detector: VAEDetector) -> None:
    copy = clone(combined_detector)
    assert copy.get_params() == combined_detector.get_params()
    assert copy.get_params()["score"] == "elbo+latent" and copy.get_params()["n_neighbors"] == 5
    assert not [name for name in vars(copy) if name.endswith("_")]  # clone is unfitted
    fitted = {name for name in vars(combined_detector) if name.endswith("_") and not name.startswith("_")}
    assert {"models_", "encodings_", "score_scales_", "threshold_", "decision_scores_"} <= fitted


def test_validation_split_keeps_training_order_of_decision_scores() -> None:
    x, _ = two_clusters(120, seed=7)
    detector = VAEDetector(architecture="mlp", score="latent", n_models=1, epochs=5, validation_fraction=0.25).fit(x)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    held_out = order[:30].numpy()
    np.testing.assert_allclose(detector.decision_scores_[held_out], detector.decision_function(x[held_out]))
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_function(x[held_out]), 0.9))


def test_score_names_are_checked() -> None:
    assert score_parts("elbo+latent") == ["elbo", "latent"]
    for bad in ("latent+latent", "elbo+distance", ""):
        with pytest.raises(ValueError, match="unknown score"):
            score_parts(bad)
    with pytest.raises(ValueError, match="n_neighbors"):
        VAEDetector(architecture="mlp", n_neighbors=0).fit(np.random.default_rng(0).normal(size=(20, 3)))


def test_auto_in_a_sum_stands_for_the_default_score() -> None:
    x = np.random.default_rng(0).normal(size=(60, 4))
    detector = VAEDetector(architecture="mlp", score="auto+latent", n_models=1, epochs=2, k=4).fit(x)
    assert detector.score_ == "nll+latent"  # tables' default score is the NLL
    assert set(detector.score_scales_[0]) == {"nll", "latent"}
