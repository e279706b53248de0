"""The VAE-GAN: parameter groups, the three-way loss, training with three optimizers, saving."""

from __future__ import annotations

import math

import pytest
import torch

import vaekit
from vaekit.data import DynamicBinarize
from vaekit.models import VAEGAN
from vaekit.objectives import VAEGANObjective
from vaekit.train import fit


def _small_vaegan():
    torch.manual_seed(0)
    return vaekit.build_model(
        {
            "type": "vaegan",
            "latent_dim": 4,
            "hidden": [32],
            "channels": [8, 16],
            "discriminator_channels": [8, 16],
            "discriminator_hidden": 32,
        },
        [1, 8, 8],
    )


def test_vaegan_parameter_groups_partition_the_model():
    model = _small_vaegan()
    groups = model.parameter_groups()
    assert set(groups) == {"encoder", "decoder", "discriminator"}
    ids = [id(p) for params in groups.values() for p in params]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}


def test_vaegan_losses_follow_the_three_way_weighting():
    model = _small_vaegan()
    with torch.no_grad():  # a discriminator that cannot tell: logits 0, so every GAN term is log 2
        model.discriminator.head.weight.zero_()
        model.discriminator.head.bias.zero_()
    x = torch.rand(8, 1, 8, 8).round()
    objective = VAEGANObjective(beta=2.0, gamma=0.5, gan_weight=3.0, pixel_weight=0.25)
    result = objective(model, (x, None), 0)
    t, g = result.terms, result.group_losses
    assert float(t["discriminator"]) == pytest.approx(3 * math.log(2), rel=1e-6)
    assert float(t["generator_gan"]) == pytest.approx(2 * math.log(2), rel=1e-6)
    feature, kl, pixel = t["feature_reconstruction"], t["kl"], t["reconstruction"]
    torch.testing.assert_close(g["encoder"].detach(), 2.0 * kl + feature + 0.25 * pixel)
    torch.testing.assert_close(g["decoder"].detach(), 0.5 * feature + 0.25 * pixel + 3.0 * t["generator_gan"])
    torch.testing.assert_close(g["discriminator"].detach(), t["discriminator"])
    # The feature loss is half the squared distance of the discriminator's features.
    torch.manual_seed(1)
    out = model.vae(x)
    torch.manual_seed(1)
    again = objective(model, (x, None), 0)
    f_real, f_rec = model.discriminator(x).features, model.discriminator(out.p_x.mean).features
    expected = 0.5 * (f_rec - f_real).pow(2).sum(-1).mean()
    torch.testing.assert_close(again.terms["feature_reconstruction"], expected.detach(), rtol=1e-4, atol=1e-5)


def test_vaegan_trains_with_three_optimizers_in_the_one_loop(digits):
    x = digits[0]
    model = _small_vaegan()
    before = {name: [p.detach().clone() for p in ps] for name, ps in model.parameter_groups().items()}
    history = fit(
        model, VAEGANObjective(pixel_weight=1.0), x, epochs=6, batch_size=50, lr=2e-3, transform=DynamicBinarize(17)
    )
    for name, params in model.parameter_groups().items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], params)), name
    assert history.train[-1]["reconstruction"] < history.train[0]["reconstruction"] - 3
    assert 0.0 < history.train[-1]["d_real"] < 1.0


def test_vaegan_saves_and_loads(tmp_path):
    model = _small_vaegan().eval()
    model.save(tmp_path / "m")
    loaded = vaekit.load(tmp_path / "m")
    assert isinstance(loaded, VAEGAN)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(model.reconstruct(x), loaded.reconstruct(x))
    torch.testing.assert_close(model.discriminator(x).logits, loaded.discriminator(x).logits)
