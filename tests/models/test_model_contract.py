"""One tester for every registered model: each model class runs on the tiny examples it supplies
(``BaseModel.examples``), once per objective it supports. A model registered later is covered here
without a new test, and a registered model that supplies no example fails."""

from __future__ import annotations

import importlib
import math
import pkgutil

import pytest
import torch

import vaekit
from vaekit.distributions import has_density
from vaekit.evaluate import log_likelihood
from vaekit.io import load
from vaekit.models import BaseModel, ModelExample, ObjectiveMismatchError, SamplingUnavailableError, VAEOutput
from vaekit.objectives import elbo
from vaekit.registry import build, model_builders, registered


def _import_every_module() -> None:
    """Import all of vaekit, so that every model registered anywhere in the package is seen."""
    for module in pkgutil.walk_packages(vaekit.__path__, "vaekit."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


_import_every_module()
MODEL_CLASSES = registered("model")


def _cases() -> list[tuple[str, int, ModelExample]]:
    cases = []
    for name, cls in sorted(MODEL_CLASSES.items()):
        examples = cls.examples() if issubclass(cls, BaseModel) else []
        cases += [(name, i, example) for i, example in enumerate(examples)]
    return cases


CASES = _cases()
CASE_IDS = [f"{name}-{i}-{example.spec['type']}" for name, i, example in CASES]


def _build(example: ModelExample) -> BaseModel:
    torch.manual_seed(0)
    return example.build()


def _objectives(example: ModelExample) -> dict[str, dict]:
    if example.objectives is not None:
        return example.objectives
    return {name: {} for name in _build(example).supported_objectives()}


OBJECTIVE_CASES = [
    (name, i, example, objective, arguments)
    for name, i, example in CASES
    for objective, arguments in _objectives(example).items()
]
OBJECTIVE_IDS = [f"{name}-{i}-{example.spec['type']}-{objective}" for name, i, example, objective, _ in OBJECTIVE_CASES]


def _batch(example: ModelExample) -> object:
    return example.x if example.y is None else (example.x, example.y)


@pytest.mark.parametrize("name", sorted(MODEL_CLASSES))
def test_every_registered_model_obeys_the_base_and_supplies_examples(name):
    cls = MODEL_CLASSES[name]
    assert issubclass(cls, BaseModel), f"model {name!r} ({cls.__name__}) does not subclass vaekit.models.BaseModel"
    assert cls.examples(), (
        f"model {name!r} ({cls.__name__}) supplies no examples: override the classmethod "
        "BaseModel.examples to return a tiny ModelExample, so the contract tests cover it"
    )
    for example in cls.examples():
        assert isinstance(_build(example), cls), f"example {example.spec} of {name!r} builds another class"


def test_every_builder_is_exercised_by_an_example():
    used = {example.spec["type"] for _, _, example in CASES}
    missing = sorted(set(model_builders()) - used)
    assert not missing, f"model builders {missing} appear in no BaseModel.examples(): add a ModelExample for each"


@pytest.mark.parametrize(("name", "index", "example", "objective", "arguments"), OBJECTIVE_CASES, ids=OBJECTIVE_IDS)
def test_loss_is_finite_and_gradients_reach_every_parameter(name, index, example, objective, arguments):
    model = _build(example).train()
    built = build("objective", {"type": objective, **arguments})
    model.check_objective(built)
    torch.manual_seed(1)
    result = built(model, _batch(example), 0)
    assert torch.isfinite(result.loss), f"{objective} loss of {name} is {float(result.loss)}"
    if result.group_losses:  # one optimizer per group, each on the gradient of its own loss
        groups = model.parameter_groups()
        assert set(groups) == set(result.group_losses)
        pairs = [(result.group_losses[group], params) for group, params in groups.items()]
    else:
        pairs = [(result.loss, [p for p in model.parameters() if p.requires_grad])]
    names = {id(p): n for n, p in model.named_parameters()}
    total = 0.0
    for loss, params in pairs:
        grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
        for param, grad in zip(params, grads):
            assert grad is not None, f"{objective} gives no gradient to {names[id(param)]} of {name}"
            assert torch.isfinite(grad).all(), f"{objective} gives a non-finite gradient to {names[id(param)]}"
            total += float(grad.abs().sum())
    assert total > 0


@pytest.mark.parametrize(("name", "index", "example"), CASES, ids=CASE_IDS)
def test_an_objective_that_does_not_apply_fails_naming_both(name, index, example):
    model = _build(example)
    supported = model.supported_objectives()
    others = sorted(set(registered("objective")) - set(supported))
    for other in others:
        with pytest.raises(ObjectiveMismatchError, match=type(model).__name__) as error:
            model.check_objective(other)
        assert repr(other) in str(error.value) and all(repr(s) in str(error.value) for s in supported)


@pytest.mark.parametrize(("name", "index", "example"), CASES, ids=CASE_IDS)
def test_save_then_load_gives_bit_identical_outputs(name, index, example, tmp_path):
    model = _build(example).eval()
    model.save(tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert type(loaded) is type(model)
    outputs = []
    for m in (model, loaded):
        torch.manual_seed(3)
        out = m(example.x, example.y)
        assert isinstance(out, VAEOutput), f"{name}'s forward must return a VAEOutput (or a subclass)"
        outputs.append((out.z, out.p_x.mean, m.reconstruct(example.x, example.y)))
    for before, after in zip(*outputs):
        assert torch.equal(before, after)
    if has_density(model(example.x, example.y).q_z):
        torch.manual_seed(4)
        before = model.log_importance_weights(example.x, 3, example.y)
        torch.manual_seed(4)
        assert torch.equal(before, loaded.log_importance_weights(example.x, 3, example.y))


@pytest.mark.parametrize(("name", "index", "example"), CASES, ids=CASE_IDS)
def test_sample_and_reconstruct_have_the_data_shape(name, index, example):
    model = _build(example).eval()
    assert model.reconstruct(example.x, example.y).shape == example.x.shape
    y = None if example.y is None else example.y[:3]
    try:
        samples = model.sample(3, y=y)
    except SamplingUnavailableError:  # a declared state (a VQ-VAE before its prior is trained)
        return
    assert samples.shape == (3, *example.x.shape[1:])
    assert torch.isfinite(samples.float()).all()


@pytest.mark.parametrize(("name", "index", "example"), CASES, ids=CASE_IDS)
def test_log_likelihood_is_finite_and_at_least_the_elbo(name, index, example):
    model = _build(example).eval()
    torch.manual_seed(5)
    with torch.no_grad():
        out = model(example.x, example.y, n_samples=64)
    if not has_density(out.q_z):
        with pytest.raises(ValueError, match="no density"):
            log_likelihood(model, example.x, example.y, k=4)
        return
    bound = float(elbo(out, example.x).terms["elbo"])  # E_q[log p(x, z) - log q(z|x)], 64 draws
    ll = log_likelihood(model, example.x, example.y, k=256)
    assert torch.isfinite(ll).all()
    assert float(ll.mean()) >= bound - 1e-4 * (1 + abs(bound))


@pytest.mark.parametrize(("name", "index", "example"), CASES, ids=CASE_IDS)
def test_bad_input_raises_a_value_error_naming_the_problem(name, index, example):
    model = _build(example)
    nan = example.x.float().clone()
    nan.view(-1)[0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        model(nan, example.y)
    with pytest.raises(ValueError, match="shape"):
        model(example.x.unsqueeze(1), example.y)
    with pytest.raises(ValueError, match="input must be a torch.Tensor"):
        model.encode(example.x.tolist(), example.y)
    if model.conditioner is not None:
        with pytest.raises(ValueError, match="conditional"):
            model.sample(2)
