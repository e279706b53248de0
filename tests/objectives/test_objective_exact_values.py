"""The configured objectives (ELBO, IWAE, property ELBO) against the functions they wrap, evaluated on the
same draws: their defaults, the per-step schedules, the batch forms they accept and the terms they report."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vaekit.models import build_vae
from vaekit.objectives import ELBOObjective, IWAEObjective, elbo, iwae_bound
from vaekit.objectives.objective import split_batch
from vaekit.objectives.property import PropertyELBO
from vaekit.registry import build_model


def _model_and_batch(seed: int = 0, batch: int = 5):
    torch.manual_seed(seed)
    model = build_vae([6], latent_dim=3, hidden=(8,))
    x = torch.rand(batch, 6).round()
    return model, x


def test_split_batch_takes_x_and_an_optional_y():
    x, y, extra = torch.zeros(2, 3), torch.ones(2), torch.full((2,), 7.0)
    assert split_batch(x)[0] is x and split_batch(x)[1] is None
    assert split_batch((x,))[0] is x and split_batch((x,))[1] is None
    first, second = split_batch((x, y))
    assert first is x and second is y
    first, second = split_batch([x, y, extra])
    assert first is x and second is y


def test_elbo_objective_is_elbo_with_its_settings_on_the_same_draws():
    """Three samples per example, a linear beta schedule read at the given step."""
    model, x = _model_and_batch()
    objective = ELBOObjective(beta={"type": "linear", "start": 0.5, "end": 2.5, "steps": 4}, samples=3)
    torch.manual_seed(1)
    result = objective(model, x, 2)
    torch.manual_seed(1)
    out = model(x, n_samples=3)
    assert out.z.shape == (3, 5, 3)
    expected = elbo(out, x, beta=1.5)
    torch.testing.assert_close(result.loss, expected.loss)
    torch.testing.assert_close(result.terms["beta"], torch.tensor(1.5))
    assert result.terms["beta"].dtype == result.loss.dtype


def test_elbo_objective_defaults_capacity_weight_1000():
    model, x = _model_and_batch()
    torch.manual_seed(1)
    out = model(x)
    result = ELBOObjective(capacity=5.0).bound(out, x, 0)
    expected = result.terms["reconstruction"] + 1000.0 * (result.terms["kl"] - 5.0).abs()
    torch.testing.assert_close(result.loss, expected)


def test_kl_balance_is_off_by_default_and_the_bound_argument_overrides_it():
    """A model whose latents form two groups (2 + 1 dimensions): balancing changes the loss."""
    model, x = _model_and_batch()
    torch.manual_seed(1)
    out = dataclasses.replace(model(x), group_sizes=(2, 1))
    plain, balanced = elbo(out, x), elbo(out, x, kl_balance=True)
    assert abs(float((plain.loss - balanced.loss).detach())) > 1e-3
    torch.testing.assert_close(ELBOObjective().bound(out, x, 0).loss, plain.loss)
    torch.testing.assert_close(ELBOObjective(kl_balance=True).bound(out, x, 0).loss, balanced.loss)
    torch.testing.assert_close(ELBOObjective(kl_balance=True).bound(out, x, 0, kl_balance=False).loss, plain.loss)
    torch.testing.assert_close(ELBOObjective().bound(out, x, 0, kl_balance=True).loss, balanced.loss)


def test_iwae_objective_defaults_to_five_samples_and_accepts_one():
    model, x = _model_and_batch()
    for objective, k in ((IWAEObjective(), 5), (IWAEObjective(k=1), 1), (IWAEObjective(k=2), 2)):
        torch.manual_seed(3)
        result = objective(model, x, 0)
        torch.manual_seed(3)
        expected = iwae_bound(model.log_importance_weights(x, k))
        torch.testing.assert_close(result.loss, expected.loss)
    for bad in (0, -2):
        with pytest.raises(ValueError):
            IWAEObjective(k=bad)


def test_objectives_leave_input_validation_to_the_training_loop():
    """The loop checks the data once; an objective evaluates whatever batch it is given (here x outside the
    Bernoulli support, which ``model.check_input`` would reject)."""
    model, _ = _model_and_batch()
    x = torch.full((4, 6), 1.5)
    with pytest.raises(ValueError):
        model(x)
    for objective in (ELBOObjective(), PropertyELBO()):
        torch.manual_seed(1)
        result = objective(model, x, 0)
        torch.manual_seed(1)
        torch.testing.assert_close(result.loss, elbo(model(x, check=False), x).loss)


def _property_model():
    base = {"type": "property_sequence_vae", "vocab_size": 6, "latent_dim": 2, "embed_dim": 4, "hidden": 8}
    base.update(pad_index=0, end_index=2, n_properties=2, head_hidden=[4])
    torch.manual_seed(0)
    model = build_model(base, [6])
    x = torch.tensor([[3, 4, 5, 2, 0, 0], [4, 4, 2, 0, 0, 0], [5, 3, 3, 4, 3, 2], [1, 2, 0, 0, 0, 0]])
    y = torch.tensor([[0.5, -1.0], [1.0, 0.0], [-0.3, 2.0], [0.0, 0.1]], dtype=torch.float64)
    return model, x, y


def test_property_elbo_adds_the_weighted_squared_error_at_the_posterior_draws():
    model, x, y = _property_model()
    objective = PropertyELBO(weight=3.0, samples=2, beta={"type": "linear", "start": 0.0, "end": 1.0, "steps": 4})
    torch.manual_seed(1)
    result = objective(model, (x, y), 1)
    torch.manual_seed(1)
    out = model(x, y, n_samples=2, check=False)
    assert out.z.shape == (2, 4, 2)
    bound = elbo(out, x, beta=0.25)
    error = (model.predict_properties(out.z) - y.float()).pow(2).mean()  # (2, 4, 2) - (4, 2)
    torch.testing.assert_close(result.loss, bound.loss + 3.0 * error)
    assert result.loss.dtype == torch.float32  # float64 targets do not change the loss's precision
    torch.testing.assert_close(result.terms["loss"], result.loss.detach())
    torch.testing.assert_close(result.terms["property_mse"], error.detach())
    torch.testing.assert_close(result.terms["beta"], torch.tensor(0.25))
    # Default weight 1; without properties the objective is the ELBO.
    torch.manual_seed(1)
    default = PropertyELBO(samples=2)(model, (x, y), 0)
    torch.manual_seed(1)
    out = model(x, y, n_samples=2, check=False)
    error = (model.predict_properties(out.z) - y.float()).pow(2).mean()
    torch.testing.assert_close(default.loss, elbo(out, x).loss + error)
    torch.manual_seed(1)
    plain = PropertyELBO(weight=3.0)(model, x, 0)
    torch.manual_seed(1)
    torch.testing.assert_close(plain.loss, elbo(model(x, check=False), x).loss)
    assert "property_mse" not in plain.terms
