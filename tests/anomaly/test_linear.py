"""Tests of the closed-form linear-Gaussian VAE, the normal-score input and the detector's linear default."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.covariance import oas
from sklearn.metrics import roc_auc_score

from vaekit.anomaly import ScoreSettings, VAEDetector, anomaly_scores
from vaekit.anomaly import normal_scores as normal_scores_module
from vaekit.anomaly.linear import fit_linear_vae, marginal_covariance, oas_shrinkage
from vaekit.anomaly.normal_scores import NormalScores

from .test_latent import two_clusters


def correlated(n: int, d: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) @ torch.randn(d, d, generator=g) + 3.0


@pytest.mark.parametrize(("n", "d"), [(8, 6), (40, 5), (500, 3)])
def test_oas_shrinkage_matches_scikit_learn(n: int, d: int) -> None:
    x = correlated(n, d, seed=n).double().numpy()
    centred = x - x.mean(0)
    _, expected = oas(centred, assume_centered=True)
    assert oas_shrinkage(centred.T @ centred / n, n) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_the_exact_nll_and_elbo_are_the_shrunk_gaussian_log_density() -> None:
    x = correlated(30)
    model = fit_linear_vae(x)
    reference = x.double().numpy()
    covariance, _ = oas(reference - reference.mean(0), assume_centered=True)
    torch.testing.assert_close(marginal_covariance(model), torch.from_numpy(covariance), rtol=1e-5, atol=1e-6)
    gaussian = torch.distributions.MultivariateNormal(torch.from_numpy(reference.mean(0)), torch.from_numpy(covariance))
    expected = -gaussian.log_prob(x.double())
    for score, draws in (("nll", 1), ("nll", 9), ("elbo", 1), ("elbo", 5)):
        settings = ScoreSettings(score=score, k=draws, n_samples=draws, seed=draws)
        got = anomaly_scores(model, x, settings).double()
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)  # every draw gives log p(x)


def test_the_encoder_is_the_exact_posterior() -> None:
    x = correlated(50)
    model = fit_linear_vae(x, latent_dim=3)
    w = model.decoder.net[-1].weight.double()  # (D, k)
    mu = model.decoder.net[-1].bias.double()
    sigma2 = float(model.likelihood.log_sigma.double().exp() ** 2)
    precision = torch.eye(3, dtype=torch.float64) + w.T @ w / sigma2
    covariance = torch.linalg.inv(precision)
    mean = (x.double() - mu) @ w @ covariance.T / sigma2
    q = model.encode(x)
    torch.testing.assert_close(q.mean.double(), mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.diag_embed(q.variance[0].double()), covariance, rtol=1e-4, atol=1e-6)


def test_fewer_latents_keep_the_top_directions_and_share_the_rest() -> None:
    x = correlated(200, d=6)
    full = torch.linalg.eigvalsh(marginal_covariance(fit_linear_vae(x))).flip(0)
    reduced = torch.linalg.eigvalsh(marginal_covariance(fit_linear_vae(x, latent_dim=2))).flip(0)
    torch.testing.assert_close(reduced[:2], full[:2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(reduced[2:], full[2:].mean().expand(4), rtol=1e-5, atol=1e-6)


def test_bad_linear_fits_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        fit_linear_vae(correlated(10), latent_dim=6)
    with pytest.raises(ValueError, match="at least 2"):
        fit_linear_vae(correlated(1))


def test_normal_scores_rank_ties_at_their_middle_and_gaps_at_the_jump() -> None:
    transform = NormalScores.fit(torch.tensor([[0.0], [0.0], [0.0], [1.0]]))
    got = transform(torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64))[:, 0]
    expected = torch.special.ndtri(torch.tensor([1.5 / 4, 3 / 4, 3.5 / 4], dtype=torch.float64))
    torch.testing.assert_close(got, expected)


def test_normal_scores_are_monotone_and_continue_past_the_range() -> None:
    x = correlated(100, d=3)
    transform = NormalScores.fit(x)
    grid = torch.linspace(-40, 40, 801, dtype=torch.float64).unsqueeze(1).expand(-1, 3)
    scores = transform(grid)
    assert bool((scores.diff(dim=0) >= 0).all())
    top = x.double().max(0).values
    beyond = transform(torch.stack([top + 1.0, top + 3.0]))
    torch.testing.assert_close(beyond[1] - beyond[0], torch.full((3,), 2.0, dtype=torch.float64))
    assert transform(x).shape == x.shape and transform(x).dtype == x.dtype
    with pytest.raises(ValueError, match="3 columns"):
        transform(torch.zeros(2, 4))


def test_normal_scores_round_trip_and_cap_their_knots(monkeypatch) -> None:
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)).exp()  # skewed, all distinct
    exact = NormalScores.fit(x)
    assert NormalScores.from_dict(exact.to_dict()) == exact
    torch.testing.assert_close(NormalScores.from_dict(exact.to_dict())(x), exact(x))
    monkeypatch.setattr(normal_scores_module, "MAX_KNOTS", 50)
    capped = NormalScores.fit(x)
    assert max(len(v) for v in capped.values) <= 50 and sum(capped.counts[0]) == 1000
    rank_error = torch.special.ndtr(capped(x).double()) - torch.special.ndtr(exact(x).double())
    assert float(rank_error.abs().max()) < 1.5 / 50  # ranks within about one of the 50 bins


def copula_table(n: int, seed: int, independent: bool = False) -> np.ndarray:
    """Six correlated normal scores, three pushed through skewed or piled-up marginals; ``independent``: the
    same marginals without the correlation (the benchmark's dependency anomalies)."""
    rng = np.random.default_rng(seed)
    correlation = np.full((6, 6), 0.9) + 0.1 * np.eye(6)
    z = rng.normal(size=(n, 6)) if independent else rng.multivariate_normal(np.zeros(6), correlation, size=n)
    return np.column_stack([np.exp(z[:, 0]), np.maximum(z[:, 1], 0.0), z[:, 2] ** 3, z[:, 3:]])


@pytest.fixture(scope="module")
def linear_detector() -> VAEDetector:
    return VAEDetector(contamination=0.05).fit(copula_table(400, seed=0))


def test_tables_default_to_two_linear_vaes(linear_detector: VAEDetector) -> None:
    assert linear_detector.architecture_ == "linear"
    assert linear_detector.inputs_ == ["values", "normal_scores"]
    assert linear_detector.histories_ == [None, None] and len(linear_detector.member_scales_) == 2
    assert linear_detector.score_ == "nll"


def test_broken_dependence_outranks_normal_rows(linear_detector: VAEDetector) -> None:
    test = np.concatenate([copula_table(300, seed=1), copula_table(100, seed=2, independent=True)])
    labels = np.r_[np.zeros(300), np.ones(100)]
    auc = roc_auc_score(labels, linear_detector.decision_function(test))
    values_only = VAEDetector(inputs="values").fit(copula_table(400, seed=0))
    assert auc > 0.93  # 0.955 when written
    assert auc > roc_auc_score(labels, values_only.decision_function(test)) + 0.02  # what the ranks add (0.911 alone)


def test_linear_detector_finds_and_explains_a_planted_outlier(tmp_path) -> None:
    x = copula_table(300, seed=3)
    x[11, 3] = 8.0  # far out in the normal column alone
    detector = VAEDetector().fit(x)
    scores = detector.decision_function(x)
    assert int(np.argmax(scores)) == 11 and int(np.argmax(detector.decision_scores_)) == 11
    explanation = detector.explain(x[[11, 12]])
    assert int(np.argmax(explanation.contributions[0])) == 3
    np.testing.assert_allclose(explanation.contributions.sum(1) + explanation.remainder, explanation.scores)
    np.testing.assert_allclose(explanation.scores, scores[[11, 12]], rtol=1e-5, atol=1e-5)
    loaded = VAEDetector.load(detector.save(tmp_path / "det"))
    np.testing.assert_array_equal(loaded.decision_function(x), scores)
    assert loaded.inputs_ == detector.inputs_ and loaded.architecture_ == "linear"
    assert loaded.normal_scores_ == detector.normal_scores_


def test_linear_detector_keeps_the_estimator_conventions(linear_detector: VAEDetector) -> None:
    copy = clone(linear_detector)
    assert copy.get_params() == linear_detector.get_params()
    assert not [name for name in vars(copy) if name.endswith("_")]
    fitted = {name for name in vars(linear_detector) if name.endswith("_") and not name.startswith("_")}
    assert {"models_", "inputs_", "normal_scores_", "member_scales_", "threshold_", "decision_scores_"} <= fitted


def test_mlp_only_arguments_and_foreign_scores_are_refused(linear_detector: VAEDetector) -> None:
    x = copula_table(50, seed=4)
    with pytest.raises(ValueError, match="epochs, lr only apply to architecture='mlp'"):
        VAEDetector(epochs=3, lr=1e-3).fit(x)
    with pytest.raises(ValueError, match="unknown inputs"):
        VAEDetector(inputs="values+ranks").fit(x)
    with pytest.raises(ValueError, match="unknown architecture"):
        VAEDetector(architecture="conv").fit(x)
    with pytest.raises(ValueError, match="own score"):
        linear_detector.decision_function(x, score="elbo")


def test_linear_latent_score_flags_a_point_between_clusters() -> None:
    x, mixing = two_clusters(300, seed=5)
    detector = VAEDetector(score="latent", inputs="values", latent_dim=2).fit(x)
    between = np.zeros((1, 2)) @ mixing
    scores = detector.decision_function(np.concatenate([between, x[:50]]))
    assert int(np.argmax(scores)) == 0


def test_a_saved_linear_vae_loads_with_its_noise(tmp_path) -> None:
    import vaekit

    model = fit_linear_vae(correlated(40, seed=2) * 2.0)
    reloaded = vaekit.load(vaekit.save_model(model, tmp_path / "m"))
    assert reloaded.config() == model.config()
    torch.testing.assert_close(marginal_covariance(reloaded), marginal_covariance(model))
