"""Property-based fuzzing of model and checkpoint loading: truncated or corrupted safetensors, random, wrong or
foreign config.json and training.json end in ModelFileError / CheckpointError (ValueErrors) from the API and in
exit code 2 with one line from the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import vaekit
from vaekit import ELBOObjective, build_model
from vaekit.cli import app
from vaekit.io import ModelFileError
from vaekit.train import CheckpointError, fit, read_checkpoint

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 64) | st.just(10**15) | st.floats(-1e3, 1e3) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model folder and a run folder with checkpoints."""
    root = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    model = build_model({"type": "vae", "latent_dim": 2, "hidden": [4]}, [6])
    x = torch.rand(20, 6, generator=torch.Generator().manual_seed(0)).round()
    fit(model, ELBOObjective(), x, epochs=1, batch_size=10, run_dir=root / "run", progress=False)
    model.save(root / "model")
    return root


def _copy(trained, tmp_path_factory, name: str):
    target = tmp_path_factory.mktemp("case") / name
    shutil.copytree(trained / name, target)
    return target


def _damage(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    damaged = bytearray(data[: cut % (len(data) + 1)])
    for position, value in flips:
        if damaged:
            damaged[position % len(damaged)] = value
    return bytes(damaged)


damage = st.tuples(st.integers(0, 10**6), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))


@FUZZ
@given(damage=damage)
def test_damaged_model_weights_load_or_raise_model_file_error(trained, tmp_path_factory, damage):
    folder = _copy(trained, tmp_path_factory, "model")
    weights = folder / "model.safetensors"
    weights.write_bytes(_damage(weights.read_bytes(), *damage))
    try:
        assert isinstance(vaekit.load(folder), torch.nn.Module)  # a flipped weight value is still a model
    except ModelFileError as error:
        assert isinstance(error, ValueError)


@FUZZ
@given(spec=json_values, whole=st.booleans())
def test_random_or_foreign_config_json_loads_or_raises_model_file_error(trained, tmp_path_factory, spec, whole):
    folder = _copy(trained, tmp_path_factory, "model")
    config = folder / "config.json"
    document = json.loads(config.read_text())
    if whole:
        document = spec  # a foreign file altogether
    elif isinstance(spec, dict):
        document["model"] = {**document["model"], **spec}
    else:
        document["model"] = spec
    config.write_text(json.dumps(document))
    try:
        vaekit.load(folder)
    except ModelFileError as error:
        assert isinstance(error, ValueError)


@FUZZ
@given(file=st.sampled_from(["training.safetensors", "training.json", "model.safetensors"]), damage=damage,
       document=st.one_of(st.none(), json_values))  # fmt: skip
def test_damaged_checkpoints_are_refused_with_checkpoint_error(trained, tmp_path_factory, file, damage, document):
    run = _copy(trained, tmp_path_factory, "run")
    path = run / "checkpoints" / "last" / file
    if file == "training.json" and document is not None:
        path.write_text(json.dumps(document))
    else:
        path.write_bytes(_damage(path.read_bytes(), *damage))
    try:
        read_checkpoint(run / "checkpoints" / "last")
        torch.manual_seed(0)
        model = build_model({"type": "vae", "latent_dim": 2, "hidden": [4]}, [6])
        x = torch.rand(20, 6, generator=torch.Generator().manual_seed(0)).round()
        fit(model, ELBOObjective(), x, epochs=2, batch_size=10, run_dir=run, resume=True, progress=False)
    except CheckpointError as error:
        assert isinstance(error, ValueError)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(damage=damage, spec=json_values)
def test_cli_on_a_damaged_model_folder_exits_2_with_one_line(trained, tmp_path_factory, damage, spec):
    folder = _copy(trained, tmp_path_factory, "model")
    weights = folder / "model.safetensors"
    weights.write_bytes(_damage(weights.read_bytes(), *damage))
    if isinstance(spec, dict):
        document = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**document, "model": {**document["model"], **spec}}))
    out = folder.parent / "out.png"
    result = CliRunner().invoke(app, ["sample", str(folder), "--n", "2", "--out", str(out)])
    if result.exit_code == 0:
        return
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.output[-2000:], result.exception)
    assert lines[-1].startswith("error: ") and "Traceback" not in result.output
