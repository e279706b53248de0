"""A run whose objective does not apply to its model fails before anything is written, naming both."""

from __future__ import annotations

from typer.testing import CliRunner

from vaekit.cli import app


def test_train_refuses_an_objective_the_model_does_not_support(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--set", "model.type=vqvae", "--set", "objective.type=elbo", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "objective 'elbo' does not apply to model VQVAE" in result.output and "['vq']" in result.output
    assert not out.exists()
