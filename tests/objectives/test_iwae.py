"""The IWAE objective: the same model trained with the importance-weighted bound."""

from __future__ import annotations

import torch

import vaekit
from tests.helpers import SMALL
from tests.helpers import train_digits_model as _train
from vaekit.objectives import IWAEObjective


def test_iwae_objective_trains_and_its_bound_rises_with_k(digits):
    x, _, xt, _ = digits
    model, history = _train({"type": "vae", **SMALL}, IWAEObjective(k=5), x)
    assert history.train[-1]["iwae_bound"] > history.train[0]["iwae_bound"] + 5
    torch.manual_seed(0)
    xb = torch.bernoulli(xt)
    bounds = [float(vaekit.log_likelihood(model, xb, k=k).mean()) for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2]
