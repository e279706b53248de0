"""The conditional VAE: a VAE with a conditioner on labels or attribute vectors."""

from __future__ import annotations

import torch

import vaekit
from tests.helpers import SMALL
from tests.helpers import train_digits_model as _train
from vaekit.objectives import ELBOObjective


def test_cvae_labels_raise_the_likelihood_of_the_true_class(digits):
    x, y, xt, yt = digits
    model, history = _train({"type": "vae", **SMALL, "n_classes": 10}, ELBOObjective(), x, y, epochs=15)
    assert history.train[-1]["loss"] < history.train[0]["loss"] - 5
    torch.manual_seed(0)
    xb = torch.bernoulli(xt)
    right = vaekit.log_likelihood(model, xb, yt, k=20)
    wrong = vaekit.log_likelihood(model, xb, (yt + 5) % 10, k=20)
    assert float((right - wrong).mean()) > 0.5
    assert float((right > wrong).float().mean()) > 0.7
    samples = model.sample(4, y=torch.tensor(3))
    assert samples.shape == (4, 1, 8, 8)


def test_cvae_on_continuous_attributes_follows_the_attribute(digits):
    x = digits[0]
    ink = x.float().mean((1, 2, 3), keepdim=False)[:, None] / 16  # (N, 1): how much ink, a continuous attribute
    attributes = (ink - ink.mean()) / ink.std()
    model, history = _train({"type": "vae", **SMALL, "n_attributes": 1}, ELBOObjective(), x, attributes, epochs=15)
    assert history.train[-1]["loss"] < history.train[0]["loss"] - 5
    torch.manual_seed(0)
    levels = torch.tensor([-1.5, 0.0, 1.5])
    ink_of_samples = [float(model.sample(200, y=torch.full((200, 1), float(a))).mean()) for a in levels]
    assert ink_of_samples[0] < ink_of_samples[1] < ink_of_samples[2]
