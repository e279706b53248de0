"""``vaekit evaluate RUN --disentanglement`` on factor-labelled data, and its pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.evaluate.disentanglement.pictures import save_mi_heatmap, save_traversal_gif
from vaekit.models import build_vae

runner = CliRunner()
TINY = [
    "--set", "train.epochs=2", "--set", "model.hidden=[16]", "--set", "model.latent_dim=3",
    "--set", "evaluate.k=2", "--set", "train.progress=false", "--set", "evaluate.plots=false",
]  # fmt: skip
QUICK = ["--score-groups", "20", "--points", "300", "--json"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow
def test_a_factorvae_on_an_npz_with_factors_is_measured(tmp_path):
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(600, 2))
    x = (np.repeat(factors, 4, axis=1) + 0.1 * rng.normal(size=(600, 8))).astype(np.float32)
    np.savez(tmp_path / "toy.npz", x=x, factors=factors)
    out = tmp_path / "run"
    spec = ["--set", f"data.path={tmp_path / 'toy.npz'}", "--set", "model.type=factorvae"]
    spec += ["--set", "model.architecture=mlp", "--set", "model.likelihood=gaussian"]
    result = invoke("train", *spec, *TINY, "--set", "model.discriminator_hidden=[8]", "--out", out)
    assert result.exit_code == 0, result.output
    result = invoke("evaluate", out, "--disentanglement", *QUICK, "--trees", "exact")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    for key in ("mig", "factorvae_eval", "betavae_eval", "dci_disentanglement", "sap", "modularity"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert np.array(metrics["mi_matrix"]).shape == (3, 2)
    assert (out / "disentanglement" / "metrics.json").is_file()
    assert (out / "disentanglement" / "mi_heatmap.png").is_file()


def test_data_without_factors_is_one_line_exit_2(tmp_path):
    out = tmp_path / "run"
    assert invoke("train", *TINY, "--set", "data.limit=100", "--out", out).exit_code == 0
    result = invoke("evaluate", out, "--disentanglement", *QUICK)
    assert result.exit_code == 2
    assert "no factor labels" in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_dsprites_run_gets_traversals_and_a_heat_map(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", *TINY, "--set", "data.name=dsprites", "--set", "data.limit=64", "--out", out)
    assert result.exit_code == 0, result.output
    result = invoke("evaluate", out, "--disentanglement", "--score-groups", "4", "--points", "200")
    assert result.exit_code == 0, result.output
    assert "MIG" in result.output and "FactorVAE score" in result.output
    folder = out / "disentanglement"
    with Image.open(folder / "traversal.gif") as gif:
        assert gif.n_frames == 30  # 16 frames out and 14 back
    assert Image.open(folder / "traversal_all.png").size[0] > 300


def test_traversal_gif_moves_only_with_the_latent(tmp_path):
    torch.manual_seed(0)
    model = build_vae([1, 8, 8], latent_dim=2, hidden=(16,))
    path = save_traversal_gif(tmp_path / "t.gif", model, torch.rand(1, 8, 8), [0, 1], frames=5)
    with Image.open(path) as gif:
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("L"), dtype=float))
    assert len(frames) == 8 and np.abs(frames[0] - frames[4]).max() > 0
    np.testing.assert_allclose(frames[1], frames[7])  # the sweep comes back the same way
    with pytest.raises(ValueError, match="image model"):
        save_traversal_gif(tmp_path / "v.gif", build_vae([5], latent_dim=2, hidden=(4,)), torch.rand(5), [0])
    heat = save_mi_heatmap(tmp_path / "mi.png", np.eye(2, 3), ["a", "b", "c"])
    assert Image.open(heat).size[0] > 100
