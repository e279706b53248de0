"""Bits/dim of a continuous density fitted to dequantized grey levels are those of the grey levels."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.data import Preprocessing
from vaekit.registry import build_model
from vaekit.runs import evaluate_model, grey_level_bits


def _model(likelihood: str):
    torch.manual_seed(0)
    return build_model({"type": "vae", "latent_dim": 2, "hidden": [8], "likelihood": likelihood}, [1, 4, 4])


def test_dequantized_density_gains_log2_levels_per_dimension_and_keeps_its_nll():
    model = _model("gaussian")
    prep = Preprocessing(binarize="dequantize", levels=17, data_shape=[1, 4, 4])
    x = prep.eval_inputs(torch.randint(0, 17, (6, 1, 4, 4)))
    plain = evaluate_model(model, x, None, k=8, seed=1)
    levels = evaluate_model(model, x, None, k=8, seed=1, preprocessing=prep)
    assert levels["nll"] == pytest.approx(plain["nll"])
    assert levels["bits_per_dim"] == pytest.approx(plain["bits_per_dim"] + math.log2(17))
    assert levels["negative_elbo_bits_per_dim"] == pytest.approx(plain["negative_elbo_bits_per_dim"] + math.log2(17))
    # the grey levels' bits/dim: the NLL in bits per dimension plus the cell volume's log2(levels)
    assert levels["bits_per_dim"] == pytest.approx(plain["nll"] / (16 * math.log(2)) + math.log2(17))


@pytest.mark.parametrize(
    ("likelihood", "binarize"),
    [("gaussian", "none"), ("bernoulli", "dynamic"), ("bernoulli", "fixed"), ("discretized_logistic", "dequantize")],
)
def test_no_offset_where_the_figure_is_already_what_it_says(likelihood, binarize):
    prep = Preprocessing(binarize=binarize, levels=256, data_shape=[1, 4, 4])
    assert grey_level_bits(_model(likelihood), prep) == 0.0


def test_no_offset_without_preprocessing_or_for_float_data():
    model = _model("gaussian")
    assert grey_level_bits(model, None) == 0.0
    assert grey_level_bits(model, Preprocessing(binarize="dequantize", levels=None, data_shape=[1, 4, 4])) == 0.0


def test_train_and_evaluate_report_the_grey_levels_bits(tmp_path):
    out = tmp_path / "run"
    tiny = ["--set", "train.epochs=1", "--set", "model.hidden=[16]", "--set", "model.latent_dim=2",
            "--set", "evaluate.k=3", "--set", "data.limit=60", "--set", "train.progress=false",
            "--set", "evaluate.plots=false", "--set", "data.binarize=dequantize",
            "--set", "model.likelihood=gaussian"]  # fmt: skip
    runner = CliRunner()
    result = runner.invoke(app, ["train", *tiny, "--out", str(out)])
    assert result.exit_code == 0, result.output
    trained = json.loads((out / "metrics.json").read_text())
    # digits: 64 pixels of 17 grey levels
    assert trained["bits_per_dim"] == pytest.approx(trained["nll"] / (64 * math.log(2)) + math.log2(17))
    result = runner.invoke(app, ["evaluate", str(out), "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.output[result.output.index("{") :])
    assert evaluated["bits_per_dim"] == pytest.approx(evaluated["nll"] / (64 * math.log(2)) + math.log2(17))
