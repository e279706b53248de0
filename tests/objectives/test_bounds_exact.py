"""Exact values of the bounds on cases small enough to compute by hand, so that a wrong equation fails.

Orderings of Monte Carlo numbers (IWAE >= ELBO, rising with k) can hold by chance under a wrong formula;
these tests pin the formulas themselves.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily, Normal

from vaekit.models.output import VAEOutput
from vaekit.objectives.elbo import elbo, free_bits_kl, iwae_bound, log_mean_exp


def test_log_mean_exp_is_the_log_of_the_mean_of_the_exponentials():
    t = torch.tensor([[0.0, 1.0], [2.0, -1.0], [math.log(3.0), 0.5]])  # (k=3, B=2)
    expected = torch.log(t.exp().mean(0))
    torch.testing.assert_close(log_mean_exp(t, 0), expected)
    # along the other axis too, and stable where exp overflows
    torch.testing.assert_close(log_mean_exp(t, 1), torch.log(t.exp().mean(1)))
    big = torch.tensor([1000.0, 1000.0 + math.log(3.0)])
    assert float(log_mean_exp(big)) == pytest.approx(1000.0 + math.log(2.0), abs=1e-4)


def test_iwae_bound_of_known_weights():
    # Two examples, k = 2: weights (1, 3) and (e^-2, e^-2).
    log_w = torch.tensor([[0.0, -2.0], [math.log(3.0), -2.0]])
    per_example = torch.tensor([math.log(2.0), -2.0])  # log mean(1, 3) = log 2; log mean(e^-2, e^-2) = -2
    result = iwae_bound(log_w)
    assert float(result.terms["iwae_bound"]) == pytest.approx(float(per_example.mean()), abs=1e-6)
    assert float(result.loss) == pytest.approx(-float(per_example.mean()), abs=1e-6)
    # The bound is not the ELBO (the plain mean of the log weights): log 2 - (0 + log 3) / 2 = 0.144 on example 1.
    assert float(result.terms["iwae_bound"]) - float(log_w.mean()) == pytest.approx(
        (math.log(2.0) - math.log(3.0) / 2) / 2, abs=1e-6
    )


def test_iwae_bound_with_one_sample_is_the_mean_log_weight():
    log_w = torch.tensor([[-3.0, 1.5, 0.25]])
    assert float(iwae_bound(log_w).terms["iwae_bound"]) == pytest.approx(float(log_w.mean()), abs=1e-6)


def test_free_bits_floor_per_dimension_and_per_group():
    kl = torch.tensor([[0.1, 2.0, 0.0, 0.6], [0.3, 2.0, 0.2, 0.2]])  # batch means: 0.2, 2.0, 0.1, 0.4
    assert float(free_bits_kl(kl, 0.5)) == pytest.approx(0.5 + 2.0 + 0.5 + 0.5)
    # groups of two: (0.2 + 2.0, 0.1 + 0.4) -> max(1, 2.2) + max(1, 0.5)
    assert float(free_bits_kl(kl, 1.0, groups=2)) == pytest.approx(2.2 + 1.0)
    with pytest.raises(ValueError, match="equal groups"):
        free_bits_kl(kl, 1.0, groups=3)


def _hand_made_output(prior: torch.distributions.Distribution) -> tuple[VAEOutput, torch.Tensor]:
    """q(z|x) = N(0.5, 1) per dimension, one draw z, and p(x|z) Bernoulli(logits 0) on 3 values."""
    q_z = Independent(Normal(torch.full((2, 2), 0.5), torch.ones(2, 2)), 1)
    z = torch.tensor([[0.1, -0.2], [1.0, 0.3]])
    p_x = Independent(Bernoulli(logits=torch.zeros(2, 3)), 1)
    return VAEOutput(q_z=q_z, p_z=prior, z=z, p_x=p_x), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])


def test_elbo_terms_of_a_hand_made_output():
    out, x = _hand_made_output(Independent(Normal(torch.zeros(2), torch.ones(2)), 1))
    result = elbo(out, x)
    reconstruction = 3 * math.log(2.0)  # -log Bernoulli(1/2) per value
    kl = 2 * 0.5 * 0.5**2  # KL(N(0.5, 1) || N(0, 1)) = mu^2 / 2 per dimension
    assert float(result.terms["reconstruction"]) == pytest.approx(reconstruction, abs=1e-5)
    assert float(result.terms["kl"]) == pytest.approx(kl, abs=1e-5)
    assert float(result.terms["elbo"]) == pytest.approx(-(reconstruction + kl), abs=1e-5)
    assert float(result.terms["loss"]) == pytest.approx(reconstruction + kl, abs=1e-5)
    # capacity with the default weight 1000: |KL - C| = |0.25 - 1|
    capped = elbo(out, x, capacity=1.0)
    assert float(capped.loss) == pytest.approx(reconstruction + 1000 * 0.75, abs=1e-3)


def test_free_bits_groups_need_a_factorizing_kl():
    mixture = MixtureSameFamily(
        Categorical(logits=torch.zeros(2)), Independent(Normal(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), 1.0), 1)
    )
    out, x = _hand_made_output(mixture)
    with pytest.raises(ValueError, match="free bits per dimension need a KL that factorizes"):
        elbo(out, x, free_bits=0.5, free_bits_groups=2)
    # Only the total is known: charged at least floor x dimensions (per dimension), or the floor (one group).
    per_dimension = elbo(out, x, free_bits=10.0)
    assert float(per_dimension.loss - per_dimension.terms["reconstruction"]) == pytest.approx(20.0, abs=1e-5)
    one_group = elbo(out, x, free_bits=10.0, free_bits_groups=1)
    assert float(one_group.loss - one_group.terms["reconstruction"]) == pytest.approx(10.0, abs=1e-5)


def test_iwae_loss_term_is_the_loss():
    result = iwae_bound(torch.tensor([[0.0, -1.0], [1.0, 2.0]]))
    assert float(result.terms["loss"]) == float(result.loss)
