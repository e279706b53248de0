"""Tests of the per-value variance calibration of the anomaly detector's Gaussian likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from vaekit.anomaly import VAEDetector
from vaekit.anomaly.calibration import calibrate_value_variance, has_per_value_sigma
from vaekit.distributions import GaussianLikelihood
from vaekit.registry import build_model


def test_per_value_sigma_likelihood_matches_torch() -> None:
    torch.manual_seed(0)
    lik = GaussianLikelihood(sigma=0.5, shape=[2, 3])
    x, mu = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    torch.testing.assert_close(lik(mu, 2).log_prob(x), torch.distributions.Normal(mu, 0.5).log_prob(x).sum((1, 2)))
    sigma = torch.rand(2, 3) + 0.1
    lik.set_sigma(sigma)
    expected = torch.distributions.Normal(mu, sigma).log_prob(x).sum((1, 2))
    torch.testing.assert_close(lik(mu, 2).log_prob(x), expected)
    with pytest.raises(ValueError, match="positive"):
        lik.set_sigma(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="variance='fixed'"):
        GaussianLikelihood(variance="learned", shape=[3])


def _deterministic_model(dim: int = 6):
    torch.manual_seed(0)
    spec = {"type": "vae", "latent_dim": 2, "hidden": [8], "posterior": "deterministic"}
    return build_model({**spec, "likelihood": {"type": "gaussian", "sigma": 0.1, "shape": [dim]}}, [dim])


def test_calibrated_variance_is_the_mean_squared_residual_plus_floor() -> None:
    model = _deterministic_model()
    assert has_per_value_sigma(model)
    x = torch.randn(50, 6) * torch.tensor([0.1, 1, 2, 0.5, 3, 1])
    with torch.no_grad():
        residual = ((model.reconstruct(x) - x) ** 2).mean(0)  # the posterior is a point: no sampling noise
    variance = calibrate_value_variance(model, x, floor=0.01, keep_scale=False, batch_size=16)
    torch.testing.assert_close(variance, residual + 0.01)
    torch.testing.assert_close((2 * model.likelihood.log_sigma).exp(), residual + 0.01)


def test_keep_scale_keeps_the_trained_geometric_mean_and_the_shape() -> None:
    model = _deterministic_model()
    x = torch.randn(50, 6) * torch.tensor([0.1, 1, 2, 0.5, 3, 1])
    raw = calibrate_value_variance(_deterministic_model(), x, floor=0.01, keep_scale=False)
    variance = calibrate_value_variance(model, x, floor=0.01)
    torch.testing.assert_close(variance.log().mean(), torch.tensor(2 * np.log(0.1), dtype=torch.float32))
    ratio = variance / raw
    torch.testing.assert_close(ratio, ratio[0].expand_as(ratio))  # only the overall scale changed


def test_calibration_refuses_other_likelihoods() -> None:
    model = build_model({"type": "vae", "latent_dim": 2, "hidden": [8]}, [4])  # Bernoulli
    assert not has_per_value_sigma(model)
    with pytest.raises(ValueError, match="per-value"):
        calibrate_value_variance(model, torch.rand(5, 4))


def noisy_corner_images(n: int, seed: int) -> np.ndarray:
    """8x8 images in [0, 1]: a bar at a random row plus a 3x3 corner of pure noise (unpredictable)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 8, 8), dtype=np.float32)
    images[np.arange(n), rng.integers(3, 8, n), :] = 1.0
    images[:, :3, :3] = rng.uniform(0, 1, (n, 3, 3))
    return images


@pytest.mark.slow
def test_calibration_finds_a_small_defect_that_noisy_pixels_hide() -> None:
    """An anomaly in a pixel that is always dark in normal data is hidden, for one shared sigma, by the
    large errors of the noisy corner; per-value sigmas weigh it by how unusual it is for that pixel."""
    train = noisy_corner_images(300, seed=0)
    normal = noisy_corner_images(40, seed=1)
    anomalous = noisy_corner_images(40, seed=2)
    anomalous[:, 0, 6] = 0.6  # a faint dot where normal images are always empty
    test = np.concatenate([normal, anomalous])
    labels = np.r_[np.zeros(40), np.ones(40)]
    auc = {}
    for calibrate in (False, True):
        detector = VAEDetector(epochs=60, batch_size=32, n_samples=4, calibrate_variance=calibrate, n_models=1)
        detector.fit(train)
        auc[calibrate] = roc_auc_score(labels, detector.decision_function(test))
    assert auc[True] > 0.95
    assert auc[True] > auc[False] + 0.1


def test_calibrated_image_detector_saves_and_loads(tmp_path) -> None:
    train = noisy_corner_images(100, seed=0)
    detector = VAEDetector(epochs=5, batch_size=32, n_samples=2).fit(train)
    sigma = detector.model_.likelihood.log_sigma
    assert sigma.shape == (1, 8, 8) and sigma.std() > 0  # one calibrated sigma per pixel
    detector.save(tmp_path / "det")
    loaded = VAEDetector.load(tmp_path / "det")
    torch.testing.assert_close(loaded.model_.likelihood.log_sigma, sigma)
    np.testing.assert_array_equal(loaded.decision_function(train[:10]), detector.decision_function(train[:10]))


def test_cli_switches_calibration_off(tmp_path) -> None:
    from typer.testing import CliRunner

    from vaekit.cli import app

    np.save(tmp_path / "train.npy", noisy_corner_images(40, seed=0))
    runner = CliRunner()
    for flag, per_pixel in (("--calibrate-variance", True), ("--no-calibrate-variance", False)):
        out = tmp_path / flag
        args = ["anomaly", "fit", str(tmp_path / "train.npy"), "--out", str(out), "--epochs", "2", flag]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert (VAEDetector.load(out).model_.likelihood.log_sigma.dim() > 0) == per_pixel
