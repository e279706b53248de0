"""Small trained runs and a detector for the explorer tests (seconds each, shared by the module)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from vaekit.cli import app

TINY = [
    "--set", "train.epochs=3", "--set", "model.hidden=[32]", "--set", "evaluate.k=2",
    "--set", "data.limit=300", "--set", "train.progress=false", "--set", "train.device=cpu",
    "--set", "evaluate.plots=false",
]  # fmt: skip


def train(out, *options: str):
    result = CliRunner().invoke(app, ["train", *TINY, *options, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """An MLP VAE on the built-in digits, 4-D latent (so the map is a PCA)."""
    return train(tmp_path_factory.mktemp("explore") / "digits", "--set", "model.latent_dim=4")


@pytest.fixture(scope="session")
def cvae_run(tmp_path_factory):
    """A class-conditional VAE on digits with a 2-D latent (the map is the latent itself)."""
    options = ["--set", "model.latent_dim=2", "--set", "model.conditional=true"]
    return train(tmp_path_factory.mktemp("explore") / "cvae", *options)


@pytest.fixture(scope="session")
def table(tmp_path_factory):
    """A CSV of two features on very different scales, with a label column."""
    rng = np.random.default_rng(0)
    rows = 120
    kind = np.where(np.arange(rows) % 2 == 0, "low", "high")
    a = rng.normal(size=rows) * 10 + np.where(kind == "low", 0, 30)
    b = rng.normal(size=rows) * 0.1 + 5
    path = tmp_path_factory.mktemp("explore") / "t.csv"
    lines = ["a,b,kind"] + [f"{x:.4f},{y:.4f},{k}" for x, y, k in zip(a, b, kind)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def table_run(tmp_path_factory, table):
    options = ["--set", f"data.path={table}", "--set", "data.label_column=kind", "--set", "model.latent_dim=2"]
    return train(tmp_path_factory.mktemp("explore") / "table", *options)


@pytest.fixture(scope="session")
def detector(tmp_path_factory):
    """A saved anomaly detector on 8x8 images, and a .npy of images to score (the last 5 are inverted)."""
    from sklearn.datasets import load_digits

    from vaekit.anomaly import VAEDetector

    images = load_digits().images[:200].astype(np.float32) / 16.0  # (N, 8, 8) in [0, 1]
    folder = tmp_path_factory.mktemp("explore")
    VAEDetector(epochs=3, n_models=1, latent_dim=3, hidden=[32], seed=0).fit(images[:150]).save(folder / "detector")
    scored = images[150:].copy()
    scored[-5:] = 1.0 - scored[-5:]
    np.save(folder / "scored.npy", scored)
    return folder / "detector", folder / "scored.npy"


@pytest.fixture(scope="session")
def vq_run(tmp_path_factory):
    """A small VQ-VAE on digits (one epoch), without a prior over its codes."""
    from vaekit.config import config_from_dict
    from vaekit.runs import train_run

    model = {"type": "vqvae", "num_codes": 16, "code_dim": 8, "channels": [16, 16], "residual_blocks": 1}
    model["likelihood"] = {"type": "discretized_logistic", "levels": 17}
    config = config_from_dict(
        {
            "data": {"name": "digits", "binarize": "none", "limit": 200},
            "model": model,
            "objective": {"type": "vq"},
            "train": {"epochs": 1, "batch_size": 50, "progress": False},
            "evaluate": {"k": 1, "plots": False},
        }
    )
    out = tmp_path_factory.mktemp("explore") / "vq"
    train_run(config, out, log=lambda line: None)
    return out


TEXT_LINES = ["the cat sat on the mat", "the dog ran to the door", "a bird sang in the tree", "the cat ran to the tree"]


@pytest.fixture(scope="session")
def text_run(tmp_path_factory):
    """A sentence VAE on a tiny file of lines (word tokenizer; the run's test split is drawn from it)."""
    folder = tmp_path_factory.mktemp("explore")
    data = folder / "lines.txt"
    data.write_text("\n".join(TEXT_LINES * 10) + "\n", encoding="utf-8")
    options = [
        "--set", f"data.path={data}", "--set", "train.epochs=2", "--set", "model.hidden=16",
        "--set", "model.embed_dim=8", "--set", "model.latent_dim=3", "--set", "evaluate.k=2",
        "--set", "train.progress=false",
    ]  # fmt: skip
    result = CliRunner().invoke(app, ["train", *options, "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder / "run"
