"""The fast paths keep the mathematics: Bernoulli log-probabilities, the encode-once estimator, chunking."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Independent

import vaekit
from vaekit.distributions.likelihoods import IndependentBernoulli
from vaekit.evaluate.likelihood import chunk_sizes, log_likelihood


@pytest.mark.parametrize("grey", [False, True])
def test_fast_bernoulli_log_prob_matches_torch_with_sample_dimensions(grey):
    gen = torch.Generator().manual_seed(0)
    logits = 8 * torch.randn(3, 5, 1, 4, 4, generator=gen)  # (k, B, C, H, W), some saturated
    x = torch.rand(5, 1, 4, 4, generator=gen)  # (B, C, H, W)
    if not grey:
        x = x.round()
    fast = IndependentBernoulli(logits.clone().requires_grad_(), 3)
    reference = Independent(Bernoulli(logits=logits.clone().requires_grad_(), validate_args=False), 3)
    got, want = fast.log_prob(x), reference.log_prob(x)
    assert got.shape == (3, 5)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    got.sum().backward()
    want.sum().backward()
    torch.testing.assert_close(fast.base_dist.logits.grad, reference.base_dist.logits.grad)
    torch.testing.assert_close(fast.mean, reference.mean)


def test_chunks_cover_k_within_the_pair_bound():
    for k, batch, max_pairs in [(1000, 500, 8192), (7, 3, 5), (1, 10, 1), (5000, 100, 100_000), (10, 1, 3)]:
        sizes = chunk_sizes(k, batch, max_pairs)
        assert sum(sizes) == k
        assert max(sizes) - min(sizes) <= 1  # near-equal chunks
        assert max(sizes) * batch <= max(max_pairs, batch)  # at least one sample per pass


def _small_vae() -> vaekit.VAE:
    torch.manual_seed(0)
    return vaekit.build_vae([1, 4, 4], latent_dim=3, hidden=(8,)).eval()


def test_weights_given_posterior_equal_the_public_weights():
    model = _small_vae()
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.4))
    torch.manual_seed(1)
    public = model.log_importance_weights(x, 4)
    torch.manual_seed(1)
    given = model.log_weights_given_posterior(model.encode(x), x, 4)
    assert public.shape == (4, 6)
    torch.testing.assert_close(public, given)


def test_estimator_encodes_each_batch_once_and_matches_unchunked_value():
    model = _small_vae()
    torch.manual_seed(2)
    x = torch.bernoulli(torch.full((10, 1, 4, 4), 0.3))
    calls = []
    encode = model.encode

    def counting_encode(xb, y=None, check=True):
        calls.append(xb.shape[0])
        return encode(xb, y, check)

    model.encode = counting_encode
    torch.manual_seed(3)
    chunked = log_likelihood(model, x, k=400, batch_size=5, max_pairs=100)  # 20 chunks per batch
    assert calls == [5, 5]
    torch.manual_seed(3)
    whole = log_likelihood(model, x, k=400, batch_size=10, max_pairs=10**6)
    # Different random streams, same estimator: the k=400 estimates agree closely.
    torch.testing.assert_close(chunked, whole, atol=0.2, rtol=0)
    torch.testing.assert_close(chunked.mean(), whole.mean(), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="max_pairs"):
        log_likelihood(model, x, k=2, max_pairs=0)
