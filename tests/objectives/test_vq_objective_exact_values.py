"""Exact values of the two VQ-VAE objectives on a tiny model: every logged term is its formula."""

from __future__ import annotations

import math

import torch

import vaekit
from vaekit.objectives.vq import CodePriorObjective, VQObjective

SPEC = {
    "type": "vqvae",
    "num_codes": 6,
    "code_dim": 3,
    "channels": [4, 4],
    "residual_blocks": 0,
    "update": "loss",
    "init": "random",
    "likelihood": {"type": "gaussian", "sigma": 0.5},
}


def _model(data_shape=(2, 8, 4)):
    torch.manual_seed(0)
    model = vaekit.build_model(SPEC, list(data_shape))
    return model.eval()


def test_vq_loss_and_terms_are_reconstruction_commitment_codebook_and_bits_per_dim():
    """loss = -log p(x|z_q) + commitment + codebook; bits/dim = (rec + L log K) / (dims log 2)."""
    model = _model()
    x = torch.rand(5, 2, 8, 4, generator=torch.Generator().manual_seed(1))
    result = VQObjective()(model, x, 0)
    with torch.no_grad():
        out = model(x)
    q = out.quantized
    rec = -out.p_x.log_prob(x)  # (B,)
    assert q.commitment.min() > 0 and q.codebook.min() > 0
    loss = rec.mean() + q.commitment.mean() + q.codebook.mean()
    torch.testing.assert_close(result.loss.detach(), loss)
    grid = q.indices.shape[1:]  # (h, w) per example
    assert grid[0] != grid[1] or grid[0] > 1
    positions = grid[0] * grid[1]
    dims = 2 * 8 * 4
    expected = {
        "loss": loss,
        "reconstruction": rec.mean(),
        "mse": ((out.p_x.mean - x) ** 2).mean(),
        "commitment": q.commitment.mean(),
        "codebook": q.codebook.mean(),
        "perplexity": q.perplexity,
        "code_usage": q.usage,
        "bits_per_dim_uniform": (rec.mean() + positions * math.log(6)) / (dims * math.log(2)),
    }
    assert set(result.terms) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(result.terms[name].float(), value.float(), msg=name)


def _prior_and_codes(batch: int):
    model = _model((1, 8, 8))
    torch.manual_seed(3)
    full = model.with_prior(model.new_prior(width=8, layers=1, heads=2)).eval()
    codes = torch.randint(0, 6, (batch, 2, 2), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logp = torch.log_softmax(full.prior.logits(codes, None), -1)  # (B, h, w, K)
    nll = -logp.gather(-1, codes[..., None]).squeeze(-1).sum((1, 2))  # (B,)
    return full, codes, nll


def test_code_prior_loss_is_nats_per_grid_position_for_the_prior_or_the_vqvae_holding_it():
    full, codes, nll = _prior_and_codes(batch=3)
    for model in (full.prior, full):
        result = CodePriorObjective()(model, (codes, None), 0)
        torch.testing.assert_close(result.loss.detach(), nll.mean() / 4)
        torch.testing.assert_close(result.terms["loss"], nll.mean() / 4)
        torch.testing.assert_close(result.terms["nll"], nll.mean())
        torch.testing.assert_close(result.terms["bits_per_code"], nll.mean() / (4 * math.log(2)))
        assert set(result.terms) == {"loss", "nll", "bits_per_code"}


def test_code_prior_loss_of_a_single_grid():
    full, codes, nll = _prior_and_codes(batch=1)
    result = CodePriorObjective()(full.prior, codes, 0)
    torch.testing.assert_close(result.loss.detach(), nll[0] / 4)


def test_vq_bits_per_dim_of_a_single_example():
    model = _model()
    x = torch.rand(1, 2, 8, 4, generator=torch.Generator().manual_seed(4))
    result = VQObjective()(model, x, 0)
    with torch.no_grad():
        out = model(x)
    positions = out.quantized.indices[0].numel()
    rec = -out.p_x.log_prob(x)[0]
    expected = (rec + positions * math.log(6)) / (64 * math.log(2))
    torch.testing.assert_close(result.terms["bits_per_dim_uniform"], expected)
