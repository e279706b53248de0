"""Run configs: defaults, YAML round trips, --set overrides, and errors that name the key."""

from __future__ import annotations

import pytest

from vaekit.config import (
    FEATURE_LIKELIHOOD,
    RunConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    describe_options,
    load_config,
    model_spec,
    objective_spec,
    parse_override,
    read_yaml,
)
from vaekit.registry import ConfigError
from vaekit.runs import fit_arguments


def test_defaults_and_yaml_round_trip(tmp_path):
    config = load_config()
    assert config.data.name == "digits" and config.data.binarize == "dynamic" and config.seed == 0
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert load_config(path) == config


def test_overrides_parse_values_as_yaml():
    config = load_config(None, ["train.epochs=7", "train.lr=1e-2", "model.hidden=[64, 32]", "data.image_size=16"])
    assert config.train.epochs == 7 and config.train.lr == 0.01
    assert config.model["hidden"] == [64, 32] and config.data.image_size == 16
    # An integer for a float key is stored as a float.
    assert isinstance(load_config(None, ["train.lr=1"]).train.lr, float)


def test_unknown_key_names_it_and_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"train\.epoch;.*'epochs'.*'batch_size'"):
        load_config(None, ["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"section\(s\) \['trian'\].*'train'"):
        load_config(None, ["trian.epochs=3"])


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.epochs must be int, got 'many'"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(ConfigError, match=r"model\.conditional must be bool"):
        load_config(None, ["model.conditional=3"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.epochs")


def test_model_shorthand_starts_from_the_new_builders_defaults():
    document = apply_overrides({"model": {"type": "vae", "latent_dim": 20, "conditional": True}}, ["model=wae"])
    assert document["model"] == {"type": "wae", "conditional": True}
    same = apply_overrides({"model": {"latent_dim": 20}}, ["model=vae"])
    assert same["model"] == {"latent_dim": 20, "type": "vae"}


def test_nested_override_of_a_named_part():
    config = load_config(None, ["model.likelihood=gaussian", "model.likelihood.variance=learned"])
    assert config.model["likelihood"] == {"type": "gaussian", "variance": "learned"}
    # Without a likelihood set, the builder's default one is the starting point.
    config = load_config(None, ["model.likelihood.sigma=0.5"])
    assert config.model["likelihood"] == {"type": "bernoulli", "sigma": 0.5}


def test_model_spec_resolves_for_the_data():
    spec = model_spec(load_config(None, ["model.conditional=true"]), n_classes=10, image_data=True)
    assert spec["n_classes"] == 10 and spec["type"] == "vae" and "conditional" not in spec
    features = model_spec(load_config(), n_classes=None, image_data=False)
    assert features["likelihood"] == FEATURE_LIKELIHOOD
    chosen = model_spec(load_config(None, ["model.likelihood=bernoulli"]), None, image_data=False)
    assert chosen["likelihood"] == "bernoulli"
    with pytest.raises(ConfigError, match="no labels"):
        model_spec(load_config(None, ["model.conditional=true"]), n_classes=None, image_data=True)


def test_bad_yaml_files(tmp_path):
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="no such config file"):
        read_yaml(tmp_path / "missing.yaml")


def test_fit_arguments_fill_defaults_and_every_train_option_is_a_fit_argument():
    import dataclasses
    import inspect

    from vaekit.train import fit

    kwargs, resolved = fit_arguments(TrainConfig(epochs=3))
    assert kwargs == {"epochs": 3, "batch_size": 50, "lr": 1e-3}
    assert resolved.optimizer == "adam" and resolved.grad_clip is None and resolved.precision == "fp32"
    options = {f.name for f in dataclasses.fields(TrainConfig)}
    assert options <= set(inspect.signature(fit).parameters)  # the config mirrors fit; nothing to check at run time


def test_every_typed_key_has_help():
    text = describe_options()
    for key in ("binarize:", "image_size:", "batch_size:", "patience:", "k:"):
        line = next(line for line in text.splitlines() if line.strip().startswith(key))
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 5
    assert isinstance(config_from_dict({"model": "vae"}), RunConfig)


@pytest.mark.parametrize(
    ("model", "objective"), [("vae", "elbo"), ("vqvae", "vq"), ("wae", "wae"), ("vaegan", "vaegan")]
)
def test_objective_defaults_to_the_models_own(model, objective):
    assert objective_spec(load_config(overrides=[f"model={model}"]))["type"] == objective
    chosen = load_config(overrides=[f"model={model}", "objective.type=iwae"])
    assert objective_spec(chosen)["type"] == "iwae"
