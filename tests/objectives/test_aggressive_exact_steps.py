"""Aggressive inference-network training (He et al. 2019) step by step against a written-out reference:
the inner Adam steps on the encoder, the early stop, and the decoder-only loss that follows."""

from __future__ import annotations

import copy

import pytest
import torch

import vaekit
from vaekit.models.output import VAEOutput
from vaekit.objectives import AggressiveELBO, ELBOObjective
from vaekit.objectives.aggressive import _encoder_parameters
from vaekit.objectives.elbo import elbo

BETA = {"type": "linear", "start": 0.2, "end": 1.0, "steps": 10}  # beta(step) = 0.2 + 0.08 step


def _cvae():
    torch.manual_seed(0)
    model = vaekit.build_vae([6], latent_dim=4, hidden=(8,), n_classes=3)
    x = (torch.rand(5, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    y = torch.tensor([0, 2, 1, 2, 0])
    return model, x, y


def _reference(model, x, y, step, *, inner_steps, lr, tolerance, samples, free_bits, groups):
    """He et al.'s aggressive step written out: Adam on the encoder until the loss stops falling,
    then the ELBO at a fresh draw from the moved encoder, with gradient for the decoder only."""
    beta = 0.2 + 0.08 * min(step, 10)
    params = _encoder_parameters(model)
    adam = torch.optim.Adam(params, lr=lr)
    previous, taken = float("inf"), 0
    for _ in range(inner_steps):
        out = model(x, y, n_samples=samples, check=False)
        loss = elbo(out, x, beta=beta, free_bits=free_bits, free_bits_groups=groups).loss
        adam.zero_grad()
        loss.backward(inputs=params)
        adam.step()
        taken += 1
        if previous - float(loss.detach()) < tolerance:
            break
        previous = float(loss.detach())
    with torch.no_grad():
        q_z = model.encode(x, y, check=False)
    z = q_z.rsample((samples,))
    out = VAEOutput(q_z=q_z, p_z=model.prior(), z=z, p_x=model.decode(z, y))
    return elbo(out, x, beta=beta, free_bits=free_bits, free_bits_groups=groups), beta, taken


@pytest.mark.parametrize(
    ("tolerance", "samples", "expected_steps"),
    [(-1e9, 2, 4), (0.05, 1, 2)],  # never stops early / the second loss is not 0.05 lower: stop
)
def test_aggressive_step_matches_the_written_out_inner_loop(tolerance, samples, expected_steps):
    model, x, y = _cvae()
    reference_model = copy.deepcopy(model)
    settings = {"free_bits": 3.0, "free_bits_groups": 2, "samples": samples}
    objective = AggressiveELBO(
        beta=BETA, aggressive_steps=100, inner_steps=4, inner_lr=0.05, tolerance=tolerance, **settings
    )
    torch.manual_seed(7)
    result = objective(model, (x, y), step=3)
    torch.manual_seed(7)
    expected, beta, taken = _reference(
        reference_model, x, y, 3, inner_steps=4, lr=0.05, tolerance=tolerance, groups=2, free_bits=3.0, samples=samples
    )
    assert taken == expected_steps
    for p, q in zip(model.parameters(), reference_model.parameters()):
        torch.testing.assert_close(p, q)
    torch.testing.assert_close(result.loss, expected.loss)
    assert set(result.terms) == set(expected.terms) | {"beta"}
    for name, value in expected.terms.items():
        torch.testing.assert_close(result.terms[name], value, msg=name)
    assert float(result.terms["beta"]) == pytest.approx(beta)
    # The free-bits floor binds (3 nats on each of 2 groups), so the loss shows the grouping and beta.
    torch.testing.assert_close(result.loss, expected.terms["reconstruction"] + beta * 2 * 3.0)


def test_one_adam_step_moves_each_encoder_weight_by_the_inner_learning_rate():
    """Adam's first step is lr * g / (|g| + eps): each weight with a gradient moves by lr."""
    model, x, y = _cvae()
    before = [p.detach().clone() for p in _encoder_parameters(model)]
    AggressiveELBO(aggressive_steps=1, inner_steps=1, inner_lr=0.03)(model, (x, y), step=0)
    moved = torch.cat([(p.detach() - b).abs().flatten() for p, b in zip(_encoder_parameters(model), before)])
    moved = moved[moved > 0]
    assert moved.numel() > 20
    torch.testing.assert_close(moved, torch.full_like(moved, 0.03), rtol=1e-3, atol=1e-6)


def test_after_the_phase_it_is_exactly_the_configured_elbo():
    model, x, y = _cvae()
    settings = {"beta": BETA, "free_bits": 3.0, "free_bits_groups": 2, "samples": 3}
    torch.manual_seed(4)
    result = AggressiveELBO(aggressive_steps=2, **settings)(model, (x, y), step=5)
    torch.manual_seed(4)
    expected = ELBOObjective(**settings)(model, (x, y), 5)
    torch.testing.assert_close(result.loss, expected.loss)
    assert float(result.terms["beta"]) == pytest.approx(0.6)


def test_defaults_and_argument_checks():
    objective = AggressiveELBO()
    assert (objective.aggressive_steps, objective.inner_steps) == (1000, 10)
    assert (objective.inner_lr, objective.tolerance) == (1e-3, 0.01)
    assert (objective.beta(0), objective.free_bits, objective.samples) == (1.0, 0.0, 1)
    assert AggressiveELBO(aggressive_steps=0, inner_steps=1).inner_steps == 1
    for bad in ({"aggressive_steps": -1}, {"inner_steps": 0}):
        with pytest.raises(ValueError, match="aggressive_steps must be >= 0 and inner_steps >= 1"):
            AggressiveELBO(**bad)
