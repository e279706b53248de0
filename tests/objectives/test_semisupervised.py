"""The M2 bound against a direct computation that enumerates the class of each example."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.objectives import M2Objective, m2_loss
from vaekit.registry import build, build_model


def tiny_m2(seed: int = 0):
    torch.manual_seed(seed)
    return build_model({"type": "m2", "n_classes": 3, "latent_dim": 2, "hidden": [8]}, [5])


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over the last dimension, written out."""
    return (0.5 * (mu**2 + sigma**2 - 1) - sigma.log()).sum(-1)


def direct_bounds(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """-L(x, y) for each class y and example, one example and one class at a time, at the draws z (K, B, D)."""
    k, b = z.shape[0], x.shape[0]
    out = torch.empty(k, b)
    for cls in range(k):
        for i in range(b):
            label = torch.tensor([cls])
            q = model.encode(x[i : i + 1], label)
            p_x = model.decode(z[cls, i : i + 1], label)
            kl = gaussian_kl(q.base_dist.loc, q.base_dist.scale)
            out[cls, i] = p_x.log_prob(x[i : i + 1])[0] - kl[0] - math.log(k)
    return out


def test_m2_bound_matches_an_enumeration_of_the_classes():
    model = tiny_m2()
    x = torch.rand(6, 5).round()
    y = torch.tensor([0, -1, 2, -1, 1, -1])
    alpha = 0.7
    with torch.no_grad():
        output = model.enumerate_classes(x)
        loss = m2_loss(output, x, y, alpha=alpha)
        bounds = direct_bounds(model, x, output.z)
        q = torch.softmax(model.classify(x).logits, -1)  # (B, K)
    expected_bound, cross_entropy = [], []
    for i in range(6):
        if y[i] >= 0:  # labelled: the bound at the observed class
            expected_bound.append(bounds[y[i], i])
            cross_entropy.append(-q[i, y[i]].log())
        else:  # unlabelled: marginalise y under q(y|x), plus the entropy of q(y|x)
            entropy = -(q[i] * q[i].log()).sum()
            expected_bound.append(sum(q[i, c] * bounds[c, i] for c in range(3)) + entropy)
    expected_bound = torch.stack(expected_bound)
    expected_loss = -expected_bound.mean() + alpha * torch.stack(cross_entropy).mean()
    assert loss.loss.item() == pytest.approx(expected_loss.item(), rel=1e-5)
    assert loss.terms["bound"].item() == pytest.approx(expected_bound.mean().item(), rel=1e-5)
    assert loss.terms["labelled_bound"].item() == pytest.approx(expected_bound[y >= 0].mean().item(), rel=1e-5)
    assert loss.terms["unlabelled_bound"].item() == pytest.approx(expected_bound[y < 0].mean().item(), rel=1e-5)
    assert loss.terms["labelled"].item() == pytest.approx(0.5)


def test_unlabelled_bound_is_tightest_when_q_is_the_posterior_over_classes():
    # -U(x) = sum_y q(y) l_y + H(q) <= log sum_y exp(l_y), with equality at q(y) = softmax(l)_y.
    model = tiny_m2()
    x = torch.rand(4, 5).round()
    with torch.no_grad():
        output = model.enumerate_classes(x)
        bounds = direct_bounds(model, x, output.z)  # (K, B)
        unlabelled = torch.full((4,), -1)
        loose = m2_loss(output, x, unlabelled, alpha=0.0).terms["bound"]
        output.q_y = torch.distributions.Categorical(logits=bounds.T)
        tight = m2_loss(output, x, unlabelled, alpha=0.0).terms["bound"]
    assert tight.item() == pytest.approx(torch.logsumexp(bounds, 0).mean().item(), rel=1e-5)
    assert loose.item() < tight.item()


def test_a_batch_without_labels_has_a_finite_loss_and_no_classification_term():
    model = tiny_m2()
    x = torch.rand(4, 5).round()
    result = build("objective", {"type": "m2", "alpha": 5.0})(model, (x, torch.full((4,), -1)), 0)
    assert torch.isfinite(result.loss)
    assert result.terms["classification"].item() == 0.0 and result.terms["labelled"].item() == 0.0
    result.loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_the_m2_objective_needs_labels_and_an_m2_model():
    x = torch.rand(4, 5).round()
    with pytest.raises(ValueError, match="needs labels"):
        M2Objective()(tiny_m2(), x, 0)
    vae = build_model({"type": "vae", "latent_dim": 2, "hidden": [8]}, [5])
    with pytest.raises(ValueError, match="does not apply"):
        vae.check_objective(M2Objective())
    with pytest.raises(ValueError, match="alpha"):
        M2Objective(alpha=-1)
