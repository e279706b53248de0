"""HierarchicalELBO and SpectralPenalty on hand-made outputs and weights: active units, per-group KL,
the spectral term and the power-iteration estimates, against values worked out independently."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import vaekit
from vaekit.distributions import diagonal_gaussian
from vaekit.models import VAEOutput
from vaekit.objectives import HierarchicalELBO
from vaekit.objectives.elbo import elbo
from vaekit.objectives.hierarchical import SpectralPenalty

# Posterior means of 2 examples in 3 dimensions: batch variances (unbiased) 0.5, 0.125 and 0
# (the variances of each example's means, 0 and 0.25, would count differently).
MEANS = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.5, 0.0]], dtype=torch.float64)


class Fixed(nn.Module):
    """A model whose forward output is fixed (one draw per requested sample), holding one linear layer
    with singular values 3 and 1."""

    def __init__(self, means: torch.Tensor = MEANS, group_sizes: tuple[int, ...] = (1, 2)):
        super().__init__()
        self.layer = nn.Linear(2, 2, bias=False).double()
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
        self.means, self.group_sizes = means, group_sizes

    def forward(self, x, y=None, n_samples=1, check=True):
        q = diagonal_gaussian(self.means, torch.zeros_like(self.means))
        p = diagonal_gaussian(torch.zeros_like(self.means), torch.zeros_like(self.means))
        z = self.means.expand(n_samples, *self.means.shape) if n_samples > 1 else self.means
        p_x = diagonal_gaussian(torch.zeros_like(x), torch.zeros_like(x))
        return VAEOutput(q_z=q, p_z=p, z=z, p_x=p_x, group_sizes=self.group_sizes)


X = torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, 1.0, -0.5]], dtype=torch.float64)
# -log N(x; 0, 1) summed per example, batch mean; KL(N(m, 1) || N(0, 1)) = m^2 / 2 per dimension
RECONSTRUCTION = float((0.5 * X**2 + 0.5 * torch.log(torch.tensor(2 * torch.pi, dtype=torch.float64))).sum(1).mean())
KL_PER_DIM = (0.5 * MEANS**2).mean(0)  # (3,): 0.25, 0.0625, 0


def test_terms_active_units_and_per_group_kl_of_a_fixed_output():
    result = HierarchicalELBO(kl_balance=False)(Fixed(), X, 0)
    kl = float(KL_PER_DIM.sum())
    assert float(result.loss) == pytest.approx(RECONSTRUCTION + kl)
    assert float(result.terms["loss"]) == pytest.approx(RECONSTRUCTION + kl)
    assert result.terms["active_units"].dtype == torch.float64
    assert float(result.terms["active_units"]) == 2.0  # variances 0.5 and 0.125 exceed 0.01, 0 does not
    groups = torch.stack([KL_PER_DIM[:1].sum(), KL_PER_DIM[1:].sum()])
    torch.testing.assert_close(result.vectors["kl_per_group"], groups)
    assert float(result.terms["kl_group_1"]) == pytest.approx(float(groups[1]))
    assert "spectral" not in result.terms


def test_active_units_count_variances_strictly_above_the_threshold():
    assert float(HierarchicalELBO(active_threshold=0.125)(Fixed(), X, 0).terms["active_units"]) == 1.0
    assert float(HierarchicalELBO(active_threshold=0.5)(Fixed(), X, 0).terms["active_units"]) == 0.0


def test_active_units_need_two_examples_and_use_every_draw():
    one = HierarchicalELBO()(Fixed(MEANS[:1]), X[:1], 0)
    assert "active_units" not in one.terms
    drawn = HierarchicalELBO(samples=3)(Fixed(), X, 0)
    assert float(drawn.terms["active_units"]) == 2.0


def test_plain_vae_with_several_draws_is_one_group_holding_the_whole_kl():
    result = HierarchicalELBO(samples=3, kl_balance=False)(Fixed(group_sizes=()), X, 0)
    torch.testing.assert_close(result.vectors["kl_per_group"], KL_PER_DIM.sum()[None])
    assert float(result.terms["kl_group_0"]) == pytest.approx(float(KL_PER_DIM.sum()))


def test_spectral_term_adds_weight_times_the_largest_singular_value():
    schedule = {"type": "linear", "start": 0.0, "end": 1.0, "steps": 4}  # weight 0.5 at step 2
    result = HierarchicalELBO(kl_balance=False, spectral_weight=schedule)(Fixed(), X, 2)
    kl = float(KL_PER_DIM.sum())
    assert float(result.terms["spectral"]) == pytest.approx(3.0, rel=1e-6)
    assert float(result.loss.detach()) == pytest.approx(RECONSTRUCTION + kl + 0.5 * 3.0, rel=1e-6)
    assert float(result.terms["loss"]) == pytest.approx(float(result.loss.detach()))
    for off in (0.0, None):
        plain = HierarchicalELBO(kl_balance=False, spectral_weight=off)(Fixed(), X, 2)
        assert "spectral" not in plain.terms
        assert float(plain.loss) == pytest.approx(RECONSTRUCTION + kl)


def test_defaults_free_bits_groups_and_capacity_weight():
    objective = HierarchicalELBO()
    assert objective.spectral.iterations == 1
    assert float(HierarchicalELBO()(Fixed(), X, 0).terms["active_units"]) == 2.0  # threshold 0.01 < 0.125
    capacity = HierarchicalELBO(kl_balance=False, capacity=0.0)(Fixed(), X, 0)
    assert float(capacity.loss) == pytest.approx(RECONSTRUCTION + 1000.0 * float(KL_PER_DIM.sum()))
    grouped = HierarchicalELBO(kl_balance=False, free_bits=1.0, free_bits_groups=1)(Fixed(), X, 0)
    assert float(grouped.loss) == pytest.approx(RECONSTRUCTION + 1.0)  # one group: max(1, 0.3125), not 3 x 1
    penalty = SpectralPenalty()
    assert (penalty.iterations, penalty.initial_iterations) == (1, 10)


# ---------------------------------------------------------------- SpectralPenalty
class Layers(nn.Module):
    """Two 3x2 linear layers (one shape group of two) and a 2x4 one, in float64."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        gen = torch.Generator().manual_seed(5)
        self.a, self.b, self.c = nn.Linear(2, 3), nn.Linear(2, 3), nn.Linear(4, 2)
        with torch.no_grad():
            for layer in (self.a, self.b, self.c):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen) * scale)
        self.double()


def _power_estimates(model: Layers, steps: int, seed: int = 0) -> torch.Tensor:
    """Power iteration written out per shape group, with initial vectors drawn (u, v) group by group."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for ws in ([model.a.weight, model.b.weight], [model.c.weight]):
        w = torch.stack([m.detach() for m in ws])  # (n, out, in)
        u = torch.randn(w.shape[0], w.shape[1], generator=gen).double()
        v = torch.randn(w.shape[0], w.shape[2], generator=gen).double()
        for _ in range(steps):
            v = w.transpose(1, 2) @ u[..., None]
            v = (v / v.norm(dim=1, keepdim=True).clamp_min(1e-6))[..., 0]
            u = w @ v[..., None]
            u = (u / u.norm(dim=1, keepdim=True).clamp_min(1e-6))[..., 0]
        out.append((u[:, :, None] * w * v[:, None, :]).sum((1, 2)))
    return torch.cat(out)


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_spectral_estimates_are_the_written_out_power_iteration(steps):
    model = Layers()
    torch.manual_seed(123)  # the estimates use their own seeded generator, not the global one
    estimates = SpectralPenalty(iterations=steps, initial_iterations=steps).singular_values(model)
    torch.testing.assert_close(estimates, _power_estimates(model, steps))


def test_spectral_estimates_follow_the_seed_and_converge_to_the_largest_singular_values():
    model = Layers()
    seeded = SpectralPenalty(iterations=0, initial_iterations=0, seed=3).singular_values(model)
    torch.testing.assert_close(seeded, _power_estimates(model, 0, seed=3))
    penalty = SpectralPenalty()
    first = penalty.singular_values(model)
    torch.testing.assert_close(first, _power_estimates(model, 10))
    for _ in range(30):
        estimates = penalty.singular_values(model)
    exact = torch.stack([torch.linalg.matrix_norm(m.weight.detach(), 2) for m in (model.a, model.b, model.c)])
    torch.testing.assert_close(estimates, exact)


def test_tiny_weights_are_not_normalized_past_the_epsilon():
    """With |W^T u| below 1e-6 the vectors are divided by 1e-6, not by their norm."""
    model = Layers(scale=1e-9)
    estimates = SpectralPenalty(iterations=2, initial_iterations=2).singular_values(model)
    torch.testing.assert_close(estimates, _power_estimates(model, 2), rtol=1e-6, atol=0.0)


def test_a_model_without_weights_has_no_estimates():
    assert SpectralPenalty().singular_values(nn.ReLU()).shape == (0,)
    assert float(SpectralPenalty()(nn.ReLU())) == 0.0


def test_several_draws_reach_the_model():
    torch.manual_seed(0)
    model = vaekit.build_vae([5], latent_dim=2, hidden=(4,))
    x = (torch.rand(3, 5, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    torch.manual_seed(9)
    result = HierarchicalELBO(samples=4, kl_balance=False)(model, x, 0)
    torch.manual_seed(9)
    torch.testing.assert_close(result.loss, elbo(model(x, n_samples=4), x).loss)
