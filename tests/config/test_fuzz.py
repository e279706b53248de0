"""Property-based fuzzing of the config parser and of `vaekit train --set`: every bad input ends in a named error
(ConfigError from the API; exit code 2 and one line from the CLI) and writes nothing."""

from __future__ import annotations

import contextlib
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.config import RunConfig, config_from_dict, load_config
from vaekit.registry import ConfigError

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SECTIONS = ["seed", "data", "model", "objective", "train", "evaluate"]
KEYS = {
    "data": ["name", "path", "binarize", "image_size", "channels", "label_column", "validation", "test", "limit"],
    "model": ["type", "latent_dim", "hidden", "likelihood", "conditional", "architecture", "num_codes"],
    "objective": ["type", "beta", "k", "free_bits"],
    "train": ["epochs", "batch_size", "lr", "optimizer", "lr_schedule", "grad_clip", "max_steps", "checkpoint_every",
              "patience", "precision", "skip_grad_norm", "weight_decay"],
    "evaluate": ["k", "plots"],
}  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["vae", "elbo", "adam", "cosine", "digits", "1e-3", "nan", "inf", "10min"]),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                      max_size=3), max_leaves=6)  # fmt: skip
section_documents = st.fixed_dictionaries(
    {}, optional={name: st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=4)
                  for name, keys in KEYS.items()},
)  # fmt: skip


@FUZZ
@given(st.dictionaries(st.sampled_from(SECTIONS) | st.text(max_size=8), values, max_size=4))
def test_random_documents_parse_or_raise_config_error(document):
    with contextlib.suppress(ConfigError):
        assert isinstance(config_from_dict(document), RunConfig)


@FUZZ
@given(section_documents)
def test_random_section_contents_parse_or_raise_config_error(document):
    with contextlib.suppress(ConfigError):
        assert isinstance(config_from_dict(document), RunConfig)


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=3))
def test_random_overrides_parse_or_raise_config_error(overrides):
    with contextlib.suppress(ConfigError):
        assert isinstance(load_config(None, overrides), RunConfig)


TINY = ["--set", "data.limit=60", "--set", "train.epochs=1", "--set", "train.max_steps=2", "--set", "evaluate.k=2",
        "--set", "evaluate.plots=false", "--set", "train.progress=false", "--set", "train.device=cpu"]  # fmt: skip
# Values that stay small enough to train in a moment when they are valid.
cli_values = st.one_of(
    st.integers(-3, 12), st.floats(-2, 2) | st.sampled_from([math.nan, math.inf, 0.0]), st.booleans(),
    st.sampled_from(["''", "abc", "[0]", "[-1]", "[4]", "[2, 0]", "{}", "null", "x: [", "1e-3", "90s", "[[1]]"]),
)  # fmt: skip
cli_keys = st.sampled_from([f"{section}.{key}" for section, keys in KEYS.items() for key in keys if key != "path"])


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(key=cli_keys, value=cli_values)
def test_train_with_a_random_setting_succeeds_or_exits_2_with_one_line(tmp_path_factory, key, value):
    out = tmp_path_factory.mktemp("fuzz") / "run"
    text = str(value).lower() if isinstance(value, (bool, float)) else str(value)
    result = CliRunner().invoke(app, ["train", *TINY, "--set", f"{key}={text}", "--out", str(out)])
    if result.exit_code == 0:
        assert (out / "model" / "model.safetensors").is_file()
        return
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (key, text, result.output[-2000:], result.exception)
    assert lines[-1].startswith("error: ") and "Traceback" not in result.output, result.output
    if "non-finite" not in lines[-1]:  # found only once training ran
        assert not out.exists(), f"{key}={text} wrote {sorted(p.name for p in out.iterdir())}"
