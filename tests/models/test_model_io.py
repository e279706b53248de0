"""The VAE's interface, input checking, and safe save/load."""

import json
import os
import stat

import pytest
import torch

import vaekit
from vaekit.io import ModelFileError
from vaekit.models import build_vae
from vaekit.registry import ConfigError

BUILDS = [
    dict(data_shape=[1, 8, 8], architecture="conv", channels=(4, 8), hidden=(16,), n_classes=3),
    dict(data_shape=[1, 9, 7], architecture="conv", channels=(4,), hidden=(16,), likelihood="discretized_logistic"),
    dict(data_shape=[6], hidden=(8, 8), likelihood={"type": "gaussian", "variance": "learned"}, prior="mixture"),
    dict(data_shape=[1, 4, 4], hidden=(8,), likelihood={"type": "categorical", "levels": 17}, prior="vamp"),
    dict(data_shape=[5], hidden=(8,), n_attributes=2, likelihood={"type": "gaussian", "variance": "decoder"}),
]


def _inputs(spec):
    torch.manual_seed(0)
    x = torch.rand(4, *spec["data_shape"])
    y = None
    if spec.get("n_classes"):
        y = torch.tensor([0, 1, 2, 1])
    elif spec.get("n_attributes"):
        y = torch.randn(4, spec["n_attributes"])
    return x, y


@pytest.mark.parametrize("spec", BUILDS)
def test_shapes_and_save_load_bit_identical(spec, tmp_path):
    torch.manual_seed(0)
    model = build_vae(latent_dim=3, **spec)
    x, y = _inputs(spec)
    out = model(x, y, n_samples=2)
    assert out.z.shape == (2, 4, 3)
    assert out.p_x.log_prob(x).shape == (2, 4)
    assert model.reconstruct(x, y).shape == x.shape
    model.save(tmp_path / "m")
    loaded = vaekit.load(tmp_path / "m")
    assert type(loaded) is type(model)
    model.eval()
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    torch.manual_seed(5)
    first = model(x, y).p_x.mean
    torch.manual_seed(5)
    second = loaded(x, y).p_x.mean
    assert torch.equal(first, second)
    ys = None if y is None else y[:1]
    torch.manual_seed(7)
    s1 = model.sample(3, y=ys)
    torch.manual_seed(7)
    assert torch.equal(s1, loaded.sample(3, y=ys))
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["vaekit_version"] == vaekit.__version__


def test_load_errors_name_the_problem(tmp_path):
    model = build_vae([5], latent_dim=2, hidden=(8,))
    with pytest.raises(ModelFileError, match="not a folder"):
        vaekit.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no config.json"):
        vaekit.load(tmp_path / "empty")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"architectures": ["BertModel"]}')
    with pytest.raises(ModelFileError, match="not a vaekit model config"):
        vaekit.load(foreign)
    (foreign / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        vaekit.load(foreign)

    good = model.save(tmp_path / "good")
    doc = json.loads((good / "config.json").read_text())

    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "config.json").write_text(json.dumps({**doc, "format_version": 99, "vaekit_version": "9.0"}))
    with pytest.raises(ModelFileError, match="format 99 by vaekit 9.0"):
        vaekit.load(newer)

    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    doc_big = json.loads(json.dumps(doc))
    doc_big["model"]["encoder"]["hidden"] = [16]
    (mismatch / "config.json").write_text(json.dumps(doc_big))
    (mismatch / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="do not fit its config.*wrong shape"):
        vaekit.load(mismatch)

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "config.json").write_text(json.dumps(doc))
    (corrupt / "model.safetensors").write_bytes(b"\x80\x04 this is a pickle, not safetensors")
    with pytest.raises(ModelFileError, match="not a readable safetensors"):
        vaekit.load(corrupt)

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    doc_unknown = json.loads(json.dumps(doc))
    doc_unknown["model"]["prior"]["type"] = "nonexistent"
    (unknown / "config.json").write_text(json.dumps(doc_unknown))
    with pytest.raises(ModelFileError, match="unknown prior 'nonexistent'; valid priors"):
        vaekit.load(unknown)


def test_save_leaves_no_temporary_files(tmp_path):
    build_vae([5], latent_dim=2, hidden=(8,)).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (torch.rand(3, 7), None, r"shape \(3, 7\).*expects \(batch, 6\)"),
        (torch.rand(6), None, r"shape \(6,\)"),
        (torch.tensor([[0.1, float("nan"), 0, 0, 0, 0]]), None, "NaN"),
        (torch.ones(2, 6, dtype=torch.int64), None, "dtype torch.int64"),
        (torch.full((2, 6), 2.0), None, r"\[0, 1\]"),
        ([[0.0] * 6], None, "torch.Tensor"),
        (torch.rand(2, 6), torch.tensor([0, 1]), "not conditional"),
    ],
)
def test_bad_input_raises_value_error(x, y, message):
    model = build_vae([6], latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match=message):
        model(x, y)


def test_conditional_input_checks():
    model = build_vae([6], latent_dim=2, hidden=(8,), n_classes=3)
    with pytest.raises(ValueError, match="pass the condition"):
        model(torch.rand(2, 6))
    with pytest.raises(ValueError, match=r"labels must lie in 0..2"):
        model(torch.rand(2, 6), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"integer tensor of shape \(2,\)"):
        model(torch.rand(2, 6), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="pass y"):
        model.sample(2)


def test_registry_errors_list_valid_choices():
    with pytest.raises(ConfigError, match=r"unknown likelihood 'poisson'; valid likelihoods: \[.*'bernoulli'"):
        vaekit.build("likelihood", {"type": "poisson"})
    with pytest.raises(ConfigError, match=r"unknown argument\(s\) \['levles'\]; valid arguments: \['levels'"):
        vaekit.build("likelihood", {"type": "categorical", "levles": 3})
    with pytest.raises(ConfigError, match="valid models"):
        vaekit.build_model({"type": "nope"}, [4])
    with pytest.raises(ValueError, match="unknown architecture"):
        build_vae([4], architecture="rnn-ish")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_files_and_checkpoints_get_the_umask_permissions_not_private_ones(tmp_path):
    """Written through temporary files and renames, they still get a new file's mode (0644 under umask 022)."""
    from vaekit.train.checkpoint import write_checkpoint

    model = build_vae([1, 4, 4], latent_dim=2, hidden=[4])
    previous = os.umask(0o022)
    try:
        model.save(tmp_path / "model")
        write_checkpoint(tmp_path / "checkpoints" / "last", model, {"step": 0}, {})
    finally:
        os.umask(previous)
    for path in [*(tmp_path / "model").iterdir(), *(tmp_path / "checkpoints" / "last").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE((tmp_path / "checkpoints" / "last").stat().st_mode) == 0o755
