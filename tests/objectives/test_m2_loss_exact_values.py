"""The M2 loss (Kingma et al. 2014) of a hand-made output, every term computed example by example."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily, Normal

from vaekit.models.m2 import M2Output
from vaekit.objectives import M2Objective, m2_loss
from vaekit.objectives.semisupervised import m2_class_bounds
from vaekit.registry import build_model

K, B, D, X = 3, 4, 2, 5
GEN = torch.Generator().manual_seed(0)
MU = torch.randn(K, B, D, generator=GEN, dtype=torch.float64)
Z = torch.randn(K, B, D, generator=GEN, dtype=torch.float64)
X_LOGITS = torch.randn(K, B, X, generator=GEN, dtype=torch.float64)
# q(y|x) per example: example 0 predicts class 2, 1 -> 0, 2 -> 1, 3 -> 2
Y_LOGITS = torch.tensor([[0.0, 0.5, 2.0], [1.5, 0.0, -1.0], [0.2, 1.0, 0.1], [-0.5, 0.0, 0.7]], dtype=torch.float64)
LOG_P_Y = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64).log()
XB = (torch.rand(B, X, generator=GEN) > 0.5).double()


def _output() -> M2Output:
    mixture = MixtureSameFamily(
        Categorical(logits=torch.zeros(2, dtype=torch.float64)),
        Independent(Normal(torch.tensor([[-1.0, 0.0], [1.0, 0.5]], dtype=torch.float64), 1.0), 1),
    )
    return M2Output(
        q_y=Categorical(logits=Y_LOGITS),
        q_z=Independent(Normal(MU, 0.5), 1),
        p_z=mixture,  # no analytic KL: the bound uses the drawn z
        z=Z,
        p_x=Independent(Bernoulli(logits=X_LOGITS), 1),
        log_p_y=LOG_P_Y,
    )


def _bound(k: int, b: int) -> float:
    """-L(x_b, k) = log p(x_b|k, z) - [log q(z|x_b, k) - log p(z)] + log p(k) at the drawn z."""
    out = _output()
    z = Z[k, b]
    log_px = float(Bernoulli(logits=X_LOGITS[k, b]).log_prob(XB[b]).sum())
    log_q = float(Normal(MU[k, b], 0.5).log_prob(z).sum())
    log_p = float(out.p_z.log_prob(z))
    return log_px - (log_q - log_p) + float(LOG_P_Y[k])


def _expected(y: list[int], alpha: float) -> dict[str, float]:
    q = Y_LOGITS.softmax(-1)
    bounds, ce, correct = [], [], 0
    for b, label in enumerate(y):
        if label >= 0:
            bounds.append(_bound(label, b))
            ce.append(-math.log(float(q[b, label])))
            correct += int(int(q[b].argmax()) == label)
        else:
            entropy = -sum(float(q[b, k]) * math.log(float(q[b, k])) for k in range(K))
            bounds.append(sum(float(q[b, k]) * _bound(k, b) for k in range(K)) + entropy)
    labelled = [v for v, label in zip(bounds, y) if label >= 0]
    unlabelled = [v for v, label in zip(bounds, y) if label < 0]
    classification = sum(ce) / max(len(ce), 1)
    return {
        "loss": -sum(bounds) / B + alpha * classification,
        "bound": sum(bounds) / B,
        "labelled_bound": sum(labelled) / max(len(labelled), 1),
        "unlabelled_bound": sum(unlabelled) / max(len(unlabelled), 1),
        "classification": classification,
        "accuracy": correct / max(len(ce), 1),
        "labelled": len(ce) / B,
    }


def test_class_bounds_use_the_drawn_z_for_a_monte_carlo_kl():
    expected = torch.tensor([[_bound(k, b) for b in range(B)] for k in range(K)], dtype=torch.float64)
    torch.testing.assert_close(m2_class_bounds(_output(), XB), expected)


@pytest.mark.parametrize(
    ("y", "alpha"),
    [
        ([2, -1, 0, 2], 0.7),  # three labelled (two predicted right), one unlabelled
        ([-1, -1, 1, -1], 2.5),  # one labelled, three unlabelled
        ([-1, -1, -1, -1], 1.0),  # no labels: no classification term
    ],
)
def test_m2_loss_terms_of_a_hand_made_output(y, alpha):
    result = m2_loss(_output(), XB, torch.tensor(y), alpha)
    expected = _expected(y, alpha)
    assert set(result.terms) == set(expected)
    assert float(result.loss) == pytest.approx(expected["loss"], rel=1e-9)
    for name, value in expected.items():
        assert float(result.terms[name]) == pytest.approx(value, rel=1e-6, abs=1e-12), name  # accuracy is float32


def test_m2_loss_default_alpha_is_one():
    y = torch.tensor([2, -1, 0, 2])
    assert float(m2_loss(_output(), XB, y).loss) == pytest.approx(_expected([2, -1, 0, 2], 1.0)["loss"], rel=1e-9)


def test_m2_objective_passes_its_alpha_and_accepts_any_non_negative_alpha():
    torch.manual_seed(0)
    model = build_model({"type": "m2", "n_classes": 3, "latent_dim": 2, "hidden": [8]}, [5])
    x = (torch.rand(4, 5, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    y = torch.tensor([0, -1, 2, -1])
    torch.manual_seed(3)
    result = M2Objective(alpha=3.0)(model, (x, y), 0)
    torch.manual_seed(3)
    expected = m2_loss(model.enumerate_classes(x), x, y, 3.0)
    torch.testing.assert_close(result.loss, expected.loss)
    assert M2Objective().alpha == 1.0
    assert M2Objective(alpha=0.0).alpha == 0.0 and M2Objective(alpha=0.5).alpha == 0.5
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        M2Objective(alpha=-0.1)
