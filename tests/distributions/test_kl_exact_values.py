"""kl_terms on tiny cases: the closed form, the registry path and the Monte Carlo path, against hand formulas."""

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from vaekit.distributions import diagonal_gaussian, kl_terms


def gauss_kl(m1, s1, m2, s2):
    """KL(N(m1, s1^2) || N(m2, s2^2)) per dimension, written out."""
    return torch.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def mixture_log_density(z, logits, means, stds):
    """log sum_k w_k prod_d N(z_d; m_kd, s_kd) by hand; z (..., D), means/stds (K, D)."""
    log_w = logits - torch.logsumexp(logits, 0)
    z = z[..., None, :]
    log_n = -0.5 * ((z - means) / stds) ** 2 - stds.log() - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_w + log_n.sum(-1), -1)


def test_closed_form_kl_sums_the_last_dimension_of_a_three_dimensional_batch():
    """q and p with batch (2, 3) and 4 latents: total is the sum over the latents only."""
    torch.manual_seed(0)
    m1, m2 = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    s1, s2 = torch.rand(2, 3, 4) + 0.5, torch.rand(2, 3, 4) + 0.5
    q = Independent(Normal(m1, s1), 1)
    p = Independent(Normal(m2, s2), 1)
    kl = kl_terms(q, p)
    expected = gauss_kl(m1, s1, m2, s2)
    assert kl.analytic is True
    torch.testing.assert_close(kl.per_dim, expected)
    assert kl.total.shape == (2, 3)
    torch.testing.assert_close(kl.total, expected.sum(-1))


def test_registry_kl_for_a_pair_without_per_dimension_terms():
    """Two Gaussians over a (2, 3) event: torch's registry gives the KL, summed over both event dimensions."""
    m1, s1 = torch.tensor([[0.0, 1.0, -1.0], [0.5, 0.0, 2.0]]), torch.tensor([[1.0, 0.5, 2.0], [1.5, 1.0, 0.7]])
    m2, s2 = torch.zeros(2, 3), torch.full((2, 3), 1.3)
    q = Independent(Normal(m1[None].expand(5, 2, 3), s1), 2)  # batch (5,), event (2, 3)
    p = Independent(Normal(m2, s2), 2)
    kl = kl_terms(q, p)
    assert kl.analytic is True and kl.per_dim is None
    expected = gauss_kl(m1, s1, m2, s2).sum()
    torch.testing.assert_close(kl.total, expected.expand(5))
    assert abs(float(expected) - 3.0342712) < 1e-5  # the same sum worked out in float64 (numpy)


def test_monte_carlo_kl_is_log_q_minus_log_p_at_each_draw():
    """A Gaussian posterior against a mixture (no closed form): one draw per example gives log q(z) - log p(z)."""
    logits, means = torch.tensor([0.3, -0.2]), torch.tensor([[-1.0, 0.5], [2.0, -0.5]])
    stds = torch.tensor([[0.8, 1.2], [0.6, 1.0]])
    p = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(means, stds), 1))
    mu, logvar = (
        torch.tensor([[0.1, 0.2], [-0.4, 1.0], [1.5, -1.0]]),
        torch.tensor([[0.0, -1.0], [0.5, 0.2], [-0.3, 0.0]]),
    )
    q = diagonal_gaussian(mu, logvar)  # batch 3, 2 latents
    z = torch.tensor([[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5]])
    sd = torch.exp(0.5 * logvar)
    log_q = (-0.5 * ((z - mu) / sd) ** 2 - sd.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    expected = log_q - mixture_log_density(z, logits, means, stds)
    kl = kl_terms(q, p, z)
    assert kl.analytic is False and kl.per_dim is None
    assert kl.total.shape == (3,)
    torch.testing.assert_close(kl.total, expected)
    # Draws (4, 3, 2): the four single-draw estimates of each example are averaged, giving (3,).
    zs = torch.stack([z, z + 0.5, z - 1.0, 2 * z])
    log_q_s = (-0.5 * ((zs - mu) / sd) ** 2 - sd.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    per_draw = log_q_s - mixture_log_density(zs, logits, means, stds)  # (4, 3)
    many = kl_terms(q, p, zs)
    assert many.total.shape == (3,) and many.analytic is False
    torch.testing.assert_close(many.total, per_draw.mean(0))


def test_missing_sample_error_names_both_distributions():
    p = MixtureSameFamily(Categorical(logits=torch.zeros(2)), Independent(Normal(torch.zeros(2, 3), 1.0), 1))
    q = diagonal_gaussian(torch.zeros(4, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"KL\(Independent \|\| MixtureSameFamily\) has no closed form"):
        kl_terms(q, p)
