"""Free bits and KL balancing in elbo() on hand-made outputs: several draws, grouped floors, one
latent group, and the errors for a KL without a per-dimension form."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily, Normal

from vaekit.models.output import VAEOutput
from vaekit.objectives.elbo import elbo

MU = torch.tensor([[0.2, 2.0, 0.1, 0.3], [0.2, 2.0, 0.1, 0.3]])  # (B=2, D=4)
X = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])


def _mixture_prior():
    means = torch.tensor([[-1.0, 0.0, 0.5, 0.0], [1.0, 0.0, 0.0, -0.5]])
    return MixtureSameFamily(Categorical(logits=torch.zeros(2)), Independent(Normal(means, 1.0), 1))


def _output(prior, draws: int | None = None, group_sizes=()) -> VAEOutput:
    """q(z|x) = N(MU, 1); z = the means (repeated ``draws`` times); p(x|z) = Bernoulli(1/2) on 3 values."""
    q_z = Independent(Normal(MU, torch.ones_like(MU)), 1)
    z = MU if draws is None else MU.expand(draws, *MU.shape)
    logits = torch.zeros(*z.shape[:-1], 3)
    return VAEOutput(q_z=q_z, p_z=prior, z=z, p_x=Independent(Bernoulli(logits=logits), 1), group_sizes=group_sizes)


def test_free_bits_floor_of_a_monte_carlo_kl_counts_latent_dimensions_with_several_draws():
    """Per-dimension floors of a KL known only in total: floor x D (D = 4, not the batch size 2)."""
    result = elbo(_output(_mixture_prior(), draws=3), X, beta=0.5, free_bits=10.0)
    assert float(result.terms["kl"]) < 40.0
    torch.testing.assert_close(result.loss - result.terms["reconstruction"], torch.tensor(0.5 * 4 * 10.0))


def test_free_bits_groups_reach_the_floor_of_each_group():
    """KL per dimension mu^2 / 2 = (0.02, 2, 0.005, 0.045); two groups: max(1, 2.02) + max(1, 0.05)."""
    normal = Independent(Normal(torch.zeros(4), torch.ones(4)), 1)
    grouped = elbo(_output(normal), X, beta=2.0, free_bits=1.0, free_bits_groups=2)
    torch.testing.assert_close(grouped.loss - grouped.terms["reconstruction"], torch.tensor(2.0 * 3.02))
    per_dimension = elbo(_output(normal), X, beta=2.0, free_bits=1.0)
    torch.testing.assert_close(per_dimension.loss - per_dimension.terms["reconstruction"], torch.tensor(2.0 * 5.0))


def test_kl_balance_with_one_group_is_the_plain_kl_whatever_the_kl():
    result = elbo(_output(_mixture_prior(), group_sizes=(4,)), X, beta=0.5, kl_balance=True)
    torch.testing.assert_close(result.loss, result.terms["reconstruction"] + 0.5 * result.terms["kl"])


def test_a_kl_without_a_per_dimension_form_cannot_be_balanced_or_floored_per_group():
    with pytest.raises(
        ValueError, match=r"^KL balancing needs a KL per latent dimension \(diagonal Gaussian posterior and prior\)$"
    ):
        elbo(_output(_mixture_prior(), group_sizes=(1, 3)), X, kl_balance=True)
    with pytest.raises(ValueError, match=r"^free bits per dimension need a KL that factorizes \(a Gaussian prior\)$"):
        elbo(_output(_mixture_prior()), X, free_bits=1.0, free_bits_groups=2)
