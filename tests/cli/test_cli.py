"""End-to-end CLI runs on tiny data: train a run folder, then use it; bad input exits 2 with one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from vaekit import load
from vaekit.cli import app
from vaekit.config import load_config
from vaekit.data import load_dataset
from vaekit.runs import evaluation_notice

runner = CliRunner()
TINY = [
    "--set", "train.epochs=3", "--set", "model.hidden=[32]", "--set", "model.latent_dim=3",
    "--set", "evaluate.k=5", "--set", "data.limit=100", "--set", "train.progress=false",
    "--set", "train.device=cpu",
]  # fmt: skip


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The run folder of a tiny training, and what the command printed."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("train", *TINY, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def run(trained):
    return trained[0]


def test_train_writes_a_complete_run_folder(run):
    for name in ("config.yaml", "metrics.json", "metrics.jsonl", "model/config.json", "model/model.safetensors"):
        assert (run / name).is_file(), name
    for name in ("samples", "reconstructions", "interpolation", "traversal", "training_curves", "latent_map"):
        assert (run / f"{name}.png").stat().st_size > 1000, name
    assert (run / "checkpoints").is_dir()
    metrics = json.loads((run / "metrics.json").read_text())
    # bits/dim is the NLL in nats over 64 pixels and ln 2; the k-sample bound sits above the ELBO.
    assert metrics["bits_per_dim"] == pytest.approx(metrics["nll"] / (64 * math.log(2)))
    assert metrics["nll"] <= -metrics["elbo"] + 0.5
    assert 0 <= metrics["active_units"] <= 3 and metrics["examples"] == 100 and metrics["k"] == 5
    config = load_config(run / "config.yaml")  # the resolved config is itself a valid config
    assert config.train.epochs == 3 and config.model["latent_dim"] == 3 and config.train.optimizer is not None
    assert config.model["conditional"] is False and config.objective["type"] == "elbo"
    assert load(run / "model").latent_dim == 3


def test_train_announces_its_final_evaluation(trained):
    """The last step (k importance samples per test example, then the pictures) has no progress bar: a line
    says what it is doing, after the model is saved and before the metrics."""
    output = trained[1]
    notice = "evaluating on the test split (100 examples, k=5 importance samples each), then drawing the pictures..."
    assert notice in output
    assert output.index("model saved in") < output.index(notice) < output.index("bits/dim")
    assert (
        evaluation_notice("test", 1, 1000)
        == "evaluating on the test split (1 example, k=1000 importance samples each)..."
    )


def test_evaluate_reproduces_the_runs_metrics(run):
    result = invoke("evaluate", run, "--k", "5", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    saved = json.loads((run / "metrics.json").read_text())
    assert metrics["nll"] == pytest.approx(saved["nll"], rel=1e-5)
    assert metrics["elbo"] == pytest.approx(saved["elbo"], rel=1e-5)
    table = invoke("evaluate", run, "--k", "5")
    assert "bits/dim" in table.output and "active units" in table.output


def test_generation_commands_write_pngs(run, tmp_path):
    commands = [
        ("sample", "--n", "12", "--temperature", "0.5"),
        ("reconstruct", "--n", "8"),
        ("interpolate", "--pairs", "2", "--steps", "4", "--method", "slerp"),
        ("traverse", "--dims", "0,2", "--steps", "3"),
    ]
    for command, *options in commands:
        out = tmp_path / f"{command}.png"
        result = invoke(command, run, *options, "--out", out)
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 500


def test_encode_gives_the_latent_means_of_the_data(run, tmp_path):
    out = tmp_path / "emb.npy"
    result = invoke("encode", run, "--out", out)
    assert result.exit_code == 0, result.output
    means = np.load(out)
    variances = np.load(tmp_path / "emb_var.npy")
    labels = np.load(tmp_path / "emb_labels.npy")
    test = load_dataset("digits", limit=100).test
    model = load(run / "model")
    q = model.encode(test.x.float() / 16)
    assert means.shape == (100, 3) and np.allclose(means, q.mean.detach().numpy(), atol=1e-5)
    assert np.all(variances > 0) and np.array_equal(labels, test.y.numpy())


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    out = tmp_path / "never"
    cases = [
        (["--set", "train.epoch=3"], "train.epoch"),
        (["--set", "model.latent=3"], "latent"),
        (["--set", "data.name=cifar"], "unknown dataset 'cifar'"),
        (["--set", f"data.path={tmp_path / 'missing.csv'}"], "no such data file"),
    ]
    for options, expected in cases:
        result = invoke("train", *options, "--out", out)
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
        assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("train", "--set", f"data.path={empty}", "--out", out)
    assert result.exit_code == 2 and "contains no images" in result.output and not out.exists()
    assert invoke("sample", tmp_path / "nothing").exit_code == 2
    assert invoke("sample", empty).exit_code == 2


def test_sampling_a_label_needs_a_conditional_model(run, tmp_path):
    result = invoke("sample", run, "--label", "3", "--out", tmp_path / "s.png")
    assert result.exit_code == 2 and "conditional" in result.output


def test_conditional_table_run_encodes_raw_rows(tmp_path):
    rng = np.random.default_rng(0)
    rows = 120
    kind = np.where(np.arange(rows) % 2 == 0, "low", "high")
    a = rng.normal(size=rows) * 10 + np.where(kind == "low", 0, 30)
    b = rng.normal(size=rows) * 0.1 + 5
    table = tmp_path / "t.csv"
    lines = ["a,b,kind"] + [f"{x:.4f},{y:.4f},{k}" for x, y, k in zip(a, b, kind)]
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    options = [*TINY, "--set", f"data.path={table}", "--set", "data.label_column=kind"]
    options += ["--set", "model.conditional=true", "--set", "evaluate.plots=false"]
    result = invoke("train", *options, "--out", out)
    assert result.exit_code == 0, result.output
    assert "on t: " in result.output and json.loads((out / "metrics.json").read_text())["data"] == "t"  # not digits
    config = load_config(out / "config.yaml")
    assert config.model["likelihood"]["type"] == "gaussian" and config.model["conditional"] is True
    # encode reads the raw CSV and applies the standardization saved with the model.
    result = invoke("encode", out, "--data", table, "--out", tmp_path / "e.npz")
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "e.npz")
    model = load(out / "model")
    raw = torch.tensor(np.stack([a, b], 1), dtype=torch.float32)
    standardized = (raw - raw.mean(0)) / raw.std(0, unbiased=False)
    labels = torch.tensor((kind == "low").astype(np.int64))  # classes sorted: high=0, low=1
    expected = model.encode(standardized, labels).mean.detach().numpy()
    assert np.array_equal(saved["labels"], labels.numpy())
    # Statistics come from the training split only, so they differ slightly from the whole table's.
    assert saved["mean"].shape == (rows, 3) and np.corrcoef(saved["mean"].ravel(), expected.ravel())[0, 1] > 0.99
    result = invoke("sample", out, "--label", "2", "--n", "5", "--out", tmp_path / "s.png")
    assert result.exit_code == 2 and "label 2 is out of range: this model's classes are 0..1" in result.output
    result = invoke("sample", out, "--label", "low", "--n", "5", "--out", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    samples = np.load(tmp_path / "s.npy")  # non-image data: values in the table's own units
    assert samples.shape == (5, 2) and abs(samples[:, 1].mean() - 5) < 3


def test_resume_continues_the_run(tmp_path):
    out = tmp_path / "run"
    base = [*TINY, "--set", "evaluate.plots=false", "--out", out]
    assert invoke("train", *base).exit_code == 0
    result = invoke("train", "--resume", *base[:-2], "--set", "train.epochs=5", "--out", out)
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4, 5]


def test_a_refused_resume_names_the_misfit_and_leaves_the_run_as_it_was(tmp_path):
    out = tmp_path / "run"
    base = [*TINY, "--set", "evaluate.plots=false", "--out", out]
    assert invoke("train", *base).exit_code == 0
    config = (out / "config.yaml").read_text()
    result = invoke("train", "--resume", *base[:-2], "--set", "model.hidden=[16]", "--out", out)
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]  # after the "training ..." line
    assert message.startswith("error: ") and "wrong shape" in message and "(32, 3) vs (16, 3)" in message, message
    assert (out / "config.yaml").read_text() == config  # the run can still be resumed as it was
    assert invoke("train", "--resume", *base[:-2], "--set", "train.epochs=4", "--out", out).exit_code == 0
    assert "epochs: 4" in (out / "config.yaml").read_text()


def test_a_model_of_colour_images_reads_a_grey_folder_as_colour(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(12):  # trained on grey pictures and one colour one: an RGB model ("auto" channels)
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(mixed / f"g{i}.png")
    Image.fromarray(rng.integers(0, 256, (10, 9, 3), dtype=np.uint8)).save(mixed / "c.png")
    grey = tmp_path / "grey"
    grey.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(grey / f"{i}.png")
    out = tmp_path / "run"
    options = [*TINY, "--set", f"data.path={mixed}", "--set", "data.image_size=8", "--set", "evaluate.plots=false"]
    result = invoke("train", *options, "--out", out)
    assert result.exit_code == 0, result.output
    assert load(out / "model").data_shape == (3, 8, 8)
    result = invoke("encode", out, "--data", grey, "--out", tmp_path / "z.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "z.npy").shape == (3, 3)


def test_pictures_are_written_in_the_format_their_name_asks_for(run, tmp_path):
    assert invoke("sample", run, "--n", "4", "--out", tmp_path / "s.jpg").exit_code == 0
    assert (tmp_path / "s.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG bytes under a .jpg name
    assert invoke("reconstruct", run, "--n", "4", "--out", tmp_path / "r.pdf").exit_code == 0
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"
    result = invoke("sample", run, "--n", "4", "--out", tmp_path / "s.xyz")
    assert result.exit_code == 2 and result.output.startswith("error: cannot write a .xyz picture")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_the_machine_lacks_is_a_one_line_error(run):
    for command in ("sample", "reconstruct", "evaluate"):
        result = invoke(command, run, "--device", "cuda")
        assert result.exit_code == 2, result.output
        assert result.output.strip() == "error: device 'cuda' was requested but CUDA is not available on this machine"


def test_a_missing_data_file_is_named_as_missing_not_as_an_unknown_dataset(run, tmp_path):
    """--data that is a path to nothing once read "unknown dataset 'x.npy'; built-in datasets: ... (or set
    data.path)"; a bare unknown name still lists the built-in datasets."""
    for command in ("evaluate", "encode", "reconstruct"):
        for data in (tmp_path / "nothing.npy", tmp_path / "folder"):
            result = invoke(command, run, "--data", data)
            assert result.exit_code == 2 and result.output.strip() == f"error: no such data file or folder: {data}"
    result = invoke("evaluate", run, "--data", "nope")
    assert result.exit_code == 2 and "unknown dataset 'nope'; built-in datasets" in result.output


def test_every_command_group_answers_bad_input_with_exit_2(tmp_path):
    """One error convention: a one-line ``error: ...`` and exit code 2, in every command module."""
    missing = str(tmp_path / "missing")
    for args in (
        ["sample", missing],
        ["evaluate", missing],
        ["train-prior", missing],
        ["anomaly", "score", missing, missing],
        ["anomaly", "fit", missing, "--out", str(tmp_path / "det")],
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_click_usage_errors_are_one_line_exit_2(tmp_path):
    """click's own checks (option ranges, missing values and arguments, unknown commands) follow the same
    convention, not click's usage text and boxed panel; help still works."""
    missing = str(tmp_path / "missing")
    for args, expected in (
        (["sample", missing, "--n", "0"], "'--n'"),
        (["sample", missing, "--top-k"], "'--top-k' requires an argument"),
        (["sample"], "Missing argument"),
        (["--threads", "0", "sample", missing], "'--threads'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (args, result.output)
        assert result.stdout == ""  # the line goes to stderr
    for args in (["--help"], ["sample", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0 and "Usage:" in result.output


def test_config_command_shows_keys_and_overrides():
    result = invoke("config", "--set", "train.epochs=9")
    assert result.exit_code == 0 and "epochs: 9" in result.output
    assert "binarize" in invoke("config", "--keys").output


def test_config_command_refuses_model_keys_that_train_refuses():
    """The model section is free-form YAML; `vaekit config` checks its keys against the builder train would use."""
    result = invoke("config", "--set", "model.latent_dims=4")
    assert result.exit_code == 2 and result.output.startswith(
        "error: model 'vae' got unknown argument(s) ['latent_dims']"
    )
    assert "latent_dim" in result.output and len(result.output.strip().splitlines()) == 1
    assert invoke("config", "--set", "model.type=nope").exit_code == 2
    # The builder is the run kind's default: a text run's sequence VAE takes embed_dim, not image channels.
    assert invoke("config", "--set", "data.name=ptb", "--set", "model.embed_dim=100").exit_code == 0
    result = invoke("config", "--set", "data.name=ptb", "--set", "model.channels=[8]")
    assert result.exit_code == 2 and "model 'sequence_vae'" in result.output
    assert invoke("config", "--set", "model.conditional=true", "--set", "model.latent_dim=4").exit_code == 0


def test_config_command_refuses_objective_keys_that_train_refuses():
    """The objective section is free-form YAML too: `vaekit config` builds it as train would, its type defaulting
    to the run's model builder's own objective."""
    result = invoke("config", "--set", "objective.bta=4")
    assert result.exit_code == 2 and result.output.startswith("error: objective 'elbo' got unknown argument(s) ['bta']")
    assert "beta" in result.output and len(result.output.strip().splitlines()) == 1
    assert invoke("config", "--set", "objective.type=nope").exit_code == 2
    assert invoke("config", "--set", "objective.beta={type: cyclical, perid: 3}").exit_code == 2
    assert invoke("config", "--set", "objective.beta=4").exit_code == 0
    # The default type is the builder's: a WAE's objective takes the MMD weight, not beta.
    assert invoke("config", "--set", "model=wae", "--set", "objective.beta=4").exit_code == 2
    assert invoke("config", "--set", "model=wae", "--set", "objective.weight=2").exit_code == 0
    # A molecule run's default model has a property head, whose objective takes the head's weight.
    assert invoke("config", "--set", "data.name=moses", "--set", "objective.weight=2").exit_code == 0
    assert invoke("config", "--set", "objective.weight=2").exit_code == 2


def test_objective_refusals_name_the_objective_and_the_argument():
    """The vq objective takes no arguments (beta lives in the quantizer), and a word where a number belongs is
    a config error naming the objective, not a bare conversion message."""
    result = invoke("config", "--set", "model=vqvae", "--set", "objective.beta=0.25")
    assert result.exit_code == 2
    assert result.output.strip() == "error: objective 'vq' got unknown argument(s) ['beta']; valid arguments: []"
    result = invoke("config", "--set", "objective.beta=abc")
    assert result.exit_code == 2 and result.output.startswith("error: cannot build objective 'elbo': ")
