"""KL balancing across latent groups as an option of elbo(), and the hierarchical objective built on elbo()."""

from __future__ import annotations

import torch

from vaekit.distributions import diagonal_gaussian
from vaekit.models import VAEOutput
from vaekit.objectives import HierarchicalELBO, elbo
from vaekit.registry import build_model


def _two_group_output() -> tuple[VAEOutput, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(8, 6, generator=gen), torch.randn(8, 6, generator=gen) * 0.3
    q, p = diagonal_gaussian(mu, logvar), diagonal_gaussian(torch.zeros(8, 6), torch.zeros(8, 6))
    x = torch.rand(8, 3, generator=gen)
    p_x = diagonal_gaussian(torch.zeros(8, 3), torch.zeros(8, 3))
    return VAEOutput(q_z=q, p_z=p, z=q.mean, p_x=p_x, group_sizes=(2, 4)), x


def test_kl_balance_weights_each_group_by_its_kl_per_share_of_dimensions():
    out, x = _two_group_output()
    kl = (0.5 * (out.q_z.base_dist.loc**2 + out.q_z.base_dist.scale**2 - 1) - out.q_z.base_dist.scale.log()).detach()
    groups = torch.stack([kl[:, :2].sum(-1), kl[:, 2:].sum(-1)], -1)  # (B, 2)
    gamma = (groups.mean(0) + 0.01) / torch.tensor([2 / 6, 4 / 6])
    gamma = gamma / gamma.mean()
    reconstruction = -out.p_x.log_prob(x).mean()
    expected = reconstruction + 0.5 * (groups * gamma).sum(-1).mean()
    balanced = elbo(out, x, beta=0.5, kl_balance=True)
    torch.testing.assert_close(balanced.loss, expected)
    plain = elbo(out, x, beta=0.5)
    torch.testing.assert_close(plain.loss, reconstruction + 0.5 * groups.sum(-1).mean())
    assert torch.equal(balanced.terms["elbo"], plain.terms["elbo"])  # the bound itself is not reweighted


def test_free_bits_and_capacity_now_apply_to_the_hierarchical_objective():
    torch.manual_seed(0)
    spec = {"type": "hierarchical", "channels": 8, "latent_channels": 2, "groups_per_scale": [1, 1]}
    model = build_model({**spec, "preprocess_scales": 1, "expansion": 1, "kernel_size": 3}, [1, 8, 8])
    x = (torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    results = {}
    for name, objective in {
        "plain": HierarchicalELBO(kl_balance=False),
        "free_bits": HierarchicalELBO(kl_balance=False, free_bits=5.0),
        "capacity": HierarchicalELBO(kl_balance=False, capacity=0.0, capacity_weight=3.0),
    }.items():
        torch.manual_seed(2)
        results[name] = objective(model, x, 0)
    plain = results["plain"]
    kl_per_dim = plain.vectors["kl_per_dim"]  # (D,) batch means
    rec = plain.terms["reconstruction"]
    torch.testing.assert_close(results["free_bits"].loss, rec + kl_per_dim.clamp_min(5.0).sum())
    torch.testing.assert_close(results["capacity"].loss, rec + 3.0 * plain.terms["kl"])
    assert set(plain.terms) >= {"kl_group_0", "kl_group_1", "beta", "elbo", "active_units"}
