"""Learned priors (mixture of Gaussians, VampPrior) with every model that takes a prior."""

from __future__ import annotations

import math

import pytest
import torch

import vaekit
from tests.helpers import train_digits_model as _train
from vaekit.objectives import IWAEObjective, VAEGANObjective, WAEObjective


@pytest.mark.parametrize("prior", ["mixture", "vamp"])
@pytest.mark.parametrize("model_type", ["vae", "wae", "vaegan"])
def test_learned_priors_train_and_evaluate_with_every_model(digits, prior, model_type):
    x, _, xt, _ = digits
    spec = {"type": model_type, "latent_dim": 4, "hidden": [32], "prior": prior}
    objectives = {
        "vae": IWAEObjective(k=3),
        "wae": WAEObjective(),
        "vaegan": VAEGANObjective(pixel_weight=1.0),
    }
    if model_type == "vaegan":
        spec.update(architecture="mlp", discriminator_hidden=32)
    if model_type == "wae":
        spec["posterior"] = "gaussian"
    model, history = _train(spec, objectives[model_type], x[:200], epochs=4)
    assert all(math.isfinite(v) for e in history.train for v in e.values())
    torch.manual_seed(0)
    ll = vaekit.log_likelihood(model, torch.bernoulli(xt[:20]), k=10)
    assert torch.isfinite(ll).all()
    assert model.sample(5).shape == (5, 1, 8, 8)
