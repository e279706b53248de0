"""Sample quality (Frechet distance) and collapse diagnostics (active units) on trained models."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import train_digits_model as _train
from vaekit.data import load_digits
from vaekit.evaluate import active_units, frechet_distance, posterior_statistics, train_feature_classifier
from vaekit.objectives import ELBOObjective


def test_frechet_distance_ranks_real_above_noise(digits):
    data = load_digits()
    x, y = data.train.float(), data.train.y
    classifier = train_feature_classifier(x, y, epochs=3, seed=0)
    assert hasattr(classifier, "features") and classifier.features(x[:2]).dim() == 2
    real, other = data.test.float()[:200], data.validation.float()[:200]
    assert frechet_distance(classifier, real, real) == pytest.approx(0.0, abs=1e-6)
    torch.manual_seed(0)
    noise = torch.rand(200, 1, 8, 8)
    # More noise mixed into real digits must mean a larger distance.
    distances = [frechet_distance(classifier, real, (1 - w) * other + w * noise) for w in (0.0, 0.25, 0.5, 1.0)]
    assert distances == sorted(distances), distances
    assert distances[0] < 0.2 * distances[2]


def test_active_units_of_a_collapsed_beta_vae_are_few(digits):
    x, _, xt, _ = digits
    model, _ = _train({"type": "vae", "latent_dim": 8, "hidden": [32]}, ELBOObjective(beta=30.0), x)
    means, _ = posterior_statistics(model, xt)
    assert active_units(means)[0] <= 2
