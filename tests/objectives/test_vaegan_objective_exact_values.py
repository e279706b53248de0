"""The VAE-GAN objective's three losses and its logged terms, written out from Larsen et al. (2016)
with log-sigmoids, on a tiny conditional model in float64."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import vaekit
from vaekit.objectives.vaegan import VAEGANObjective

BETA = {"type": "linear", "start": 0.0, "end": 1.0, "steps": 4}  # beta(3) = 0.75


def _model():
    torch.manual_seed(0)
    spec = {
        "type": "vaegan",
        "architecture": "mlp",
        "latent_dim": 2,
        "hidden": [6],
        "discriminator_hidden": 5,
        "n_classes": 3,
        "likelihood": "bernoulli",
    }
    model = vaekit.build_model(spec, [4]).double()
    x = torch.tensor([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 0, 0]])
    return model, x, torch.tensor([0, 2, 1])


def _written_out(model, x, y, beta, gamma, gan_weight, pixel_weight):
    x = x.double()
    out = model.vae(x, y)
    z_prior = model.vae.prior.sample(x.shape[0]).double()
    x_rec, x_prior = out.p_x.mean, model.vae.decode(z_prior, y).mean
    real, rec, prior = (model.discriminator(t) for t in (x, x_rec, x_prior))
    mu, scale = out.q_z.base_dist.loc, out.q_z.base_dist.scale
    kl = (0.5 * (mu**2 + scale**2 - 1) - scale.log()).sum(-1).mean()  # KL(q || N(0, I))
    feature = 0.5 * ((rec.features - real.features) ** 2).sum(-1).mean()
    pixel = -out.p_x.log_prob(x).mean()
    ls = F.logsigmoid
    disc = -(ls(real.logits) + ls(-rec.logits) + ls(-prior.logits)).mean()
    gen = -(ls(rec.logits) + ls(prior.logits)).mean()
    encoder = beta * kl + feature + pixel_weight * pixel
    decoder = gamma * feature + pixel_weight * pixel + gan_weight * gen
    terms = {
        "loss": encoder + decoder + disc,
        "kl": kl,
        "feature_reconstruction": feature,
        "reconstruction": pixel,
        "elbo": -(pixel + kl),
        "generator_gan": gen,
        "discriminator": disc,
        "d_real": torch.sigmoid(real.logits).mean(),
        "d_fake": torch.sigmoid(torch.cat([rec.logits, prior.logits])).mean(),
        "beta": torch.tensor(beta, dtype=torch.float64),
    }
    return terms, {"encoder": encoder, "decoder": decoder, "discriminator": disc}


@pytest.mark.parametrize(
    ("arguments", "weights"),
    [
        ({}, (1.0, 1.0, 1.0, 0.0)),
        ({"beta": BETA, "gamma": 2.0, "gan_weight": 0.5, "pixel_weight": 0.3}, (0.75, 2.0, 0.5, 0.3)),
    ],
)
def test_vaegan_losses_and_terms_are_the_written_out_formulas(arguments, weights):
    model, x, y = _model()
    torch.manual_seed(5)
    result = VAEGANObjective(**arguments)(model, (x.double(), y), 3)
    torch.manual_seed(5)
    terms, groups = _written_out(model, x, y, *weights)
    assert set(result.terms) == set(terms) and set(result.group_losses) == set(groups)
    for name, value in terms.items():
        torch.testing.assert_close(result.terms[name], value.detach(), msg=name)
    for name, value in groups.items():
        torch.testing.assert_close(result.group_losses[name], value, msg=name)
    torch.testing.assert_close(result.loss, terms["loss"])
    assert float(terms["kl"].detach()) > 0.01 and float(terms["reconstruction"].detach()) > 0.5


def test_integer_pixels_are_read_as_floats():
    model, x, y = _model()
    model.float()
    torch.manual_seed(5)
    from_integers = VAEGANObjective()(model, (x, y), 0)
    torch.manual_seed(5)
    from_floats = VAEGANObjective()(model, (x.float(), y), 0)
    torch.testing.assert_close(from_integers.loss, from_floats.loss)


def test_vaegan_objective_needs_both_a_vae_and_a_discriminator():
    half = nn.Module()
    half.vae = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="VAEGAN model"):
        VAEGANObjective()(half, torch.zeros(2, 4), 0)
    assert math.isclose(VAEGANObjective().beta(0), 1.0)
