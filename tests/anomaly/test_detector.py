"""Tests of the VAE anomaly detector: scores, threshold, save/load, input checks, explanations, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from typer.testing import CliRunner

from vaekit.anomaly import NotFittedError, VAEDetector, save_explanations
from vaekit.anomaly.defaults import default_plan
from vaekit.anomaly.preprocessing import Preprocessor
from vaekit.cli import app

OUTLIER = 7  # row of the planted outlier


def correlated_table(n: int = 200, seed: int = 0) -> np.ndarray:
    """Six features that lie near a 2-dimensional plane, on different scales."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    mixing = rng.normal(size=(2, 6))
    return (z @ mixing + 0.05 * rng.normal(size=(n, 6))) * np.array([1, 10, 100, 1, 0.1, 5]) + 3.0


@pytest.fixture(scope="module")
def table_with_outlier() -> np.ndarray:
    x = correlated_table()
    x[OUTLIER, 2] += 30 * x[:, 2].std()  # obvious in feature 2 alone
    return x


@pytest.fixture(scope="module")
def fitted(table_with_outlier: np.ndarray) -> VAEDetector:
    return VAEDetector(architecture="mlp", contamination=0.2, epochs=25, k=16).fit(table_with_outlier)


def test_planted_outlier_gets_the_highest_score(fitted: VAEDetector, table_with_outlier: np.ndarray) -> None:
    scores = fitted.decision_function(table_with_outlier)
    assert int(np.argmax(scores)) == OUTLIER
    assert int(np.argmax(fitted.decision_scores_)) == OUTLIER
    np.testing.assert_allclose(fitted.score_samples(table_with_outlier), -scores)


def test_every_score_ranks_the_outlier_first(fitted: VAEDetector, table_with_outlier: np.ndarray) -> None:
    for score in ("elbo", "reconstruction_nll", "nll", "reconstruction"):
        assert int(np.argmax(fitted.decision_function(table_with_outlier, score=score))) == OUTLIER, score


def test_threshold_flags_the_contamination_fraction(fitted: VAEDetector, table_with_outlier: np.ndarray) -> None:
    flags = fitted.predict(table_with_outlier)
    assert set(np.unique(flags)) <= {0, 1}
    assert abs(flags.mean() - 0.2) <= 1.0 / len(flags)
    assert flags[OUTLIER] == 1


def test_calibrate_sets_a_validation_quantile(fitted: VAEDetector) -> None:
    validation = correlated_table(400, seed=1)
    detector = clone(fitted)  # same parameters, unfitted
    assert detector.get_params()["contamination"] == 0.2
    fitted_copy = VAEDetector.__new__(VAEDetector)
    fitted_copy.__dict__.update(fitted.__dict__)
    fitted_copy.calibrate(validation, quantile=0.95)
    assert abs(fitted_copy.predict(validation).mean() - 0.05) <= 1.0 / len(validation)
    with pytest.raises(NotFittedError, match="not fitted"):
        detector.predict(validation)


def test_validation_fraction_thresholds_on_held_out_scores() -> None:
    x = correlated_table(120)
    detector = VAEDetector(
        architecture="mlp", validation_fraction=0.25, contamination=0.1, epochs=5, score="elbo", n_samples=4
    ).fit(x)
    assert np.isfinite(detector.threshold_)
    assert detector.decision_scores_.shape == (120,)


def test_save_load_keeps_scores_identical(fitted: VAEDetector, table_with_outlier: np.ndarray, tmp_path) -> None:
    fitted.save(tmp_path / "detector")
    loaded = VAEDetector.load(tmp_path / "detector")
    np.testing.assert_array_equal(
        loaded.decision_function(table_with_outlier), fitted.decision_function(table_with_outlier)
    )
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.score_ == fitted.score_
    assert loaded.get_params() == fitted.get_params()


def test_bad_input_at_scoring_time_is_a_clear_error(fitted: VAEDetector, table_with_outlier: np.ndarray) -> None:
    with pytest.raises(ValueError, match="5 features.*fitted on 6 features"):
        fitted.decision_function(table_with_outlier[:, :5])
    broken = table_with_outlier[:10].copy()
    broken[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fitted.predict(broken)
    with pytest.raises(ValueError, match="NaN"):
        VAEDetector().fit(broken)


def test_explanation_blames_the_planted_feature(fitted: VAEDetector, table_with_outlier: np.ndarray) -> None:
    explanation = fitted.explain(table_with_outlier[OUTLIER : OUTLIER + 1])
    assert explanation.contributions.shape == (1, 6)
    assert int(np.argmax(explanation.contributions[0])) == 2
    assert explanation.top_features(0, 1)[0][0] == "x2"


def test_elbo_contributions_add_up_to_the_score(fitted: VAEDetector, table_with_outlier: np.ndarray) -> None:
    from vaekit.anomaly import ScoreSettings, anomaly_scores, score_contributions

    x = torch.from_numpy(fitted.preprocessor_.transform(table_with_outlier[:20]))
    for score in ("elbo", "reconstruction_nll", "reconstruction"):
        settings = ScoreSettings(score=score, n_samples=8)
        parts, remainder = score_contributions(fitted.model_, x, settings)
        total = parts.flatten(1).sum(1) + remainder
        torch.testing.assert_close(total, anomaly_scores(fitted.model_, x, settings), rtol=1e-4, atol=1e-3)
    settings = ScoreSettings(score="reconstruction")
    assert torch.all(score_contributions(fitted.model_, x, settings)[1] == 0)
    # The reconstruction NLL is the ELBO without its KL: same per-value terms (same draws), no remainder.
    elbo_parts, _ = score_contributions(fitted.model_, x, ScoreSettings(score="elbo", n_samples=8))
    rec_parts, rest = score_contributions(fitted.model_, x, ScoreSettings(score="reconstruction_nll", n_samples=8))
    torch.testing.assert_close(rec_parts, elbo_parts)
    torch.testing.assert_close(rest, torch.zeros_like(rest), rtol=0, atol=1e-3)


def test_dataframe_columns_name_the_features(tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(correlated_table(80), columns=[f"f{j}" for j in range(6)])
    detector = VAEDetector().fit(frame)
    explanation = detector.explain(frame.iloc[:2])
    assert explanation.columns == [f"f{j}" for j in range(6)]
    (path,) = save_explanations(explanation, frame.to_numpy()[:1], tmp_path, labels=[5])
    assert path.name == "anomaly_5.png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="not numeric"):
        detector.fit(frame.assign(colour="red"))


def test_a_table_is_scored_by_column_name_not_position() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(correlated_table(80), columns=[f"f{j}" for j in range(6)])
    detector = VAEDetector().fit(frame)
    moved = frame[["f3", "f1", "f0", "f5", "f4", "f2"]]
    np.testing.assert_array_equal(detector.score_samples(moved), detector.score_samples(frame))
    np.testing.assert_array_equal(detector.score_samples(frame.to_numpy()), detector.score_samples(frame))
    with pytest.raises(ValueError, match=r"missing \['f0'\], unexpected \['g0'\]"):
        detector.score_samples(frame.rename(columns={"f0": "g0"}))


def bar_images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 8x8 images of one horizontal bar at a random row (channels-last, 1 channel)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 8, 8, 1), dtype=np.uint8)
    images[np.arange(n), rng.integers(0, 8, n), :, 0] = 255
    return images


def test_images_outlier_and_heatmap(tmp_path) -> None:
    images = bar_images(120)
    images[OUTLIER] = 0
    images[OUTLIER, 2:6, 2:6, 0] = 255  # a square instead of a bar
    # The outlier is in the training data: the decoder learns to rebuild it, so only the ELBO's KL term
    # singles it out (the reconstruction NLL alone ranks it 24th here). The ELBO is the image default.
    detector = VAEDetector(epochs=40, batch_size=16, n_samples=4).fit(images)
    assert detector.preprocessor_.data_shape == [1, 8, 8]
    assert int(np.argmax(detector.decision_scores_)) == OUTLIER
    explanation = detector.explain(images[OUTLIER : OUTLIER + 1])
    assert explanation.contributions.shape == (1, 8, 8, 1)
    (path,) = save_explanations(explanation, images[OUTLIER : OUTLIER + 1], tmp_path)
    assert path.suffix == ".png" and path.stat().st_size > 0
    with pytest.raises(ValueError, match="values per image"):
        detector.decision_function(np.zeros((2, 9, 9), dtype=np.uint8))


def test_image_default_plan_trains_about_2500_steps() -> None:
    # 16 steps an epoch; 3 steps an epoch (a small data set still gets ~2,500 steps); the floor of 5 epochs
    for n, expected_epochs in ((1000, 156), (150, 833), (100_000, 5)):
        plan = default_plan("image", [1, 28, 28], n)
        assert plan.epochs == expected_epochs and plan.batch_size == 64 and plan.score == "elbo"
    plan = default_plan("image", [1, 28, 28], 1000)
    assert abs(plan.epochs * 16 - 2500) <= 16


def test_preprocessor_round_trips_through_json() -> None:
    prep = Preprocessor.fit(bar_images(5))
    assert Preprocessor.from_dict(prep.to_dict()) == prep
    assert prep.scale == [255.0] and prep.channels_last


def test_cli_fit_and_score(tmp_path, table_with_outlier: np.ndarray) -> None:
    np.save(tmp_path / "train.npy", table_with_outlier)
    runner = CliRunner()
    result = runner.invoke(app, ["anomaly", "fit", str(tmp_path / "train.npy"), "--out", str(tmp_path / "det")])
    assert result.exit_code == 0, result.output
    assert "2 linear VAE(s) on values+normal_scores" in result.output  # the tables' default
    assert sorted(p.name for p in (tmp_path / "det").glob("member-*")) == ["member-1"]
    result = runner.invoke(app, ["anomaly", "score", str(tmp_path / "det"), str(tmp_path / "train.npy"), "--top", "0"])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "train_scores.csv").read_text().splitlines()
    assert rows[0] == "index,score,anomaly" and len(rows) == 1 + len(table_with_outlier)
    assert max(range(1, len(rows)), key=lambda i: float(rows[i].split(",")[1])) == OUTLIER + 1
    np.save(tmp_path / "narrow.npy", table_with_outlier[:, :4])
    result = runner.invoke(app, ["anomaly", "score", str(tmp_path / "det"), str(tmp_path / "narrow.npy")])
    assert result.exit_code != 0 and "fitted on 6 features" in result.output


def test_cli_trains_an_mlp_ensemble_on_request(tmp_path, table_with_outlier: np.ndarray) -> None:
    np.save(tmp_path / "train.npy", table_with_outlier)
    runner = CliRunner()
    args = ["anomaly", "fit", str(tmp_path / "train.npy"), "--out", str(tmp_path / "det"), "--epochs", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and "--architecture mlp" in result.output  # epochs do not apply to linear VAEs
    result = runner.invoke(app, [*args, "--architecture", "mlp"])
    assert result.exit_code == 0, result.output
    assert "5 mlp VAE(s) on values" in result.output  # 200 rows: the default ensemble
    assert sorted(p.name for p in (tmp_path / "det").glob("member-*")) == [f"member-{i}" for i in range(1, 5)]
