"""The semi-supervised workflow from the command line: train M2 on a label budget, sample a class, probe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.io import load
from vaekit.runs import load_data_for, open_model

runner = CliRunner()
TINY = [
    "--set", "train.epochs=2", "--set", "model.hidden=[32]", "--set", "model.latent_dim=3",
    "--set", "evaluate.k=5", "--set", "data.limit=200", "--set", "train.progress=false",
    "--set", "evaluate.plots=false",
]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def m2_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("m2") / "run"
    result = invoke("train", "--set", "model=m2", *TINY, "--set", "data.labels=30", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_m2_trains_on_a_label_budget_and_reports_its_accuracy(m2_run):
    metrics = json.loads((m2_run / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["examples"] == 200
    assert "classification accuracy" in invoke("evaluate", m2_run, "--k", "5").output


def test_sample_a_chosen_class(m2_run, tmp_path):
    result = invoke("sample", m2_run, "--label", "3", "--n", "8", "--out", tmp_path / "three.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "three.png").stat().st_size > 500


@pytest.mark.slow
def test_probe_writes_a_table_and_a_plot(m2_run):
    result = invoke("evaluate", m2_run, "--probe", "--probe-labels", "20,all", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {r["labels"] for r in report["rows"]} == {20, 200}
    assert {c["representation"] for c in report["clustering"]} == {"latent means", "PCA (3)", "raw features"}
    assert (m2_run / "probes.png").is_file() and (m2_run / "probes.json").is_file()


def test_a_label_budget_needs_a_semi_supervised_model(tmp_path):
    result = invoke("train", *TINY, "--set", "data.labels=30", "--out", tmp_path / "vae")
    assert result.exit_code == 2
    assert "semi-supervised model" in result.output and not (tmp_path / "vae").exists()


def test_a_label_budget_below_the_number_of_classes_is_refused(tmp_path):
    result = invoke("train", "--set", "model=m2", *TINY, "--set", "data.labels=5", "--out", tmp_path / "m2")
    assert result.exit_code == 2 and not (tmp_path / "m2").exists()
    assert "a label budget of 5 cannot give each of the 10 classes a label; use at least 10" in result.output


def write_clusters(path, kinds, rows=40, seed=0):
    """A table of three far-apart clusters a, b, c in 4 features, holding the classes ``kinds``."""
    rng = np.random.default_rng(seed)
    centres = {"a": 0.0, "b": 8.0, "c": 16.0}
    lines = ["f0,f1,f2,f3,kind"]
    for kind in kinds:
        for row in centres[kind] + rng.normal(size=(rows, 4)):
            lines.append(",".join(f"{v:.4f}" for v in row) + f",{kind}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_data_holding_some_classes_is_scored_with_the_models_class_numbers(tmp_path):
    options = ["--set", f"data.path={write_clusters(tmp_path / 'abc.csv', 'abc')}", "--set", "data.label_column=kind"]
    options += [*TINY, "--set", "train.epochs=40", "--set", "model=m2"]
    result = invoke("train", *options, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    loaded = open_model(tmp_path / "run")
    assert loaded.preprocessing.class_names == ["a", "b", "c"]
    assert load_data_for(loaded, str(write_clusters(tmp_path / "bc.csv", "bc", seed=1))).y.unique().tolist() == [1, 2]
    result = invoke("evaluate", tmp_path / "run", "--data", tmp_path / "bc.csv", "--k", "5", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] > 0.9  # scored as classes 0 and 1 (a and b), it was near 0
    write_clusters(tmp_path / "ad.csv", "ab").write_text((tmp_path / "ad.csv").read_text().replace(",b", ",d"))
    result = invoke("evaluate", tmp_path / "run", "--data", tmp_path / "ad.csv", "--k", "5")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "has class 'd', which the model does not know; its classes: ['a', 'b', 'c']" in result.output


def test_array_labels_7_8_9_are_three_classes_named_by_their_values(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    high = digits.target >= 7
    np.savez(tmp_path / "789.npz", x=digits.images[high].astype(np.uint8), y=digits.target[high])
    data = ["--set", f"data.path={tmp_path / '789.npz'}", "--set", "model=m2"]
    result = invoke("train", *data, *TINY, "--set", "data.labels=30", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert load(tmp_path / "run" / "model").n_classes == 3  # not 10, with seven classes never seen
    assert open_model(tmp_path / "run").preprocessing.class_names == ["7", "8", "9"]
    nines = digits.target == 9
    np.savez(tmp_path / "9.npz", x=digits.images[nines].astype(np.uint8), y=digits.target[nines])
    assert set(load_data_for(open_model(tmp_path / "run"), str(tmp_path / "9.npz")).y.tolist()) == {2}
    result = invoke("sample", tmp_path / "run", "--label", "8", "--n", "4", "--out", tmp_path / "eight.png")
    assert result.exit_code == 0, result.output
