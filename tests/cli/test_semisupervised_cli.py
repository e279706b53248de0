"""The semi-supervised workflow from the command line: train M2 on a label budget, sample a class, probe."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vaekit.cli import app

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
