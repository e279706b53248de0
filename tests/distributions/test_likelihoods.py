"""Likelihood log-probabilities against torch.distributions and hand calculations."""

import math

import pytest
import torch
import torch.nn.functional as F

from vaekit.distributions import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    DiscretizedLogisticLikelihood,
    GaussianLikelihood,
)


def test_bernoulli_matches_binary_cross_entropy():
    torch.manual_seed(0)
    logits, x = torch.randn(4, 1, 3, 3), torch.randint(0, 2, (4, 1, 3, 3)).float()
    lp = BernoulliLikelihood()(logits, 3).log_prob(x)
    expected = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(lp, expected)


def test_gaussian_fixed_learned_and_decoder_variance():
    torch.manual_seed(0)
    x, mu = torch.randn(5, 6), torch.randn(5, 6)
    fixed = GaussianLikelihood(sigma=0.3)(mu, 1).log_prob(x)
    torch.testing.assert_close(fixed, torch.distributions.Normal(mu, 0.3).log_prob(x).sum(-1))
    learned = GaussianLikelihood(variance="learned", sigma=2.0)
    assert any(p.requires_grad for p in learned.parameters())
    torch.testing.assert_close(learned(mu, 1).log_prob(x), torch.distributions.Normal(mu, 2.0).log_prob(x).sum(-1))
    dec = GaussianLikelihood(variance="decoder")
    assert dec.param_shape([6]) == (12,)
    log_sigma = torch.randn(5, 6) * 0.3
    params = torch.cat([mu, log_sigma], dim=1)
    expected = torch.distributions.Normal(mu, log_sigma.exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(dec(params, 1).log_prob(x), expected)
    with pytest.raises(ValueError, match="variance mode"):
        GaussianLikelihood(variance="bogus")


def test_categorical_pixels_and_tokens_with_padding_mask():
    torch.manual_seed(0)
    lik = CategoricalLikelihood(levels=5)
    assert lik.param_shape([2, 3, 3]) == (10, 3, 3)
    params = torch.randn(2, 10, 3, 3)
    x = torch.randint(0, 5, (2, 2, 3, 3))
    logits = params.view(2, 5, 2, 3, 3)  # (B, K, C, H, W): level-major channel stacking
    expected = torch.log_softmax(logits, 1).gather(1, x[:, None]).squeeze(1).sum((1, 2, 3))
    dist = lik(params, 3)
    torch.testing.assert_close(dist.log_prob(x.float() / 4), expected)  # floats in [0, 1] map to levels
    torch.testing.assert_close(dist.log_prob(x), expected)  # integer levels used as they are
    tokens = CategoricalLikelihood(levels=7, ignore_index=0, as_index=True)
    tparams = torch.randn(3, 7 * 4)
    seq = torch.tensor([[3, 2, 0, 0], [1, 1, 1, 0], [6, 5, 4, 3]])
    logp = torch.log_softmax(tparams.view(3, 7, 4), 1)
    manual = torch.stack([sum(logp[b, seq[b, t], t] for t in range(4) if seq[b, t] != 0) for b in range(3)])
    torch.testing.assert_close(tokens(tparams, 1).log_prob(seq), manual)
    assert tokens(tparams, 1).mean.dtype == torch.int64


def test_discretized_logistic_is_normalized_and_matches_cdf_difference():
    lik = DiscretizedLogisticLikelihood(levels=256)
    loc = torch.tensor([[-0.95], [0.0], [0.3], [0.99]])
    log_scale = torch.tensor([[-2.0], [-4.0], [-1.0], [-3.0]])
    params = torch.cat([loc, log_scale], 1)  # (4, 2): one value per example
    values = torch.arange(256).float() / 255
    logp = torch.stack([lik(params, 1).log_prob(v.expand(4, 1)) for v in values])  # (256, 4)
    torch.testing.assert_close(logp.exp().sum(0), torch.ones(4), atol=2e-3, rtol=0)
    # A middle bin: CDF(x + 1/255) - CDF(x - 1/255) of the logistic on [-1, 1].
    x = torch.tensor([[128 / 255]])
    centre = 128 / 255 * 2 - 1
    s = math.exp(-1.0)
    cdf = lambda t: 1 / (1 + math.exp(-(t - 0.3) / s))  # noqa: E731
    expected = math.log(cdf(centre + 1 / 255) - cdf(centre - 1 / 255))
    got = lik(torch.tensor([[0.3, -1.0]]), 1).log_prob(x)
    assert abs(float(got) - expected) < 1e-4


def test_likelihoods_reject_out_of_range_data():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BernoulliLikelihood().check_data(torch.tensor([0.5, 1.5]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DiscretizedLogisticLikelihood().check_data(torch.tensor([-0.1]))
