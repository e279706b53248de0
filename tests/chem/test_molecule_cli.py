"""The molecule commands end to end on a small .smi file: train (with the property head), sample, evaluate
--moses, optimize; and bad molecule files as one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("rdkit")
pytest.importorskip("selfies")

from rdkit import Chem, RDLogger  # noqa: E402

from vaekit.chem.corpus import load_moses_split  # noqa: E402
from vaekit.chem.model import MoleculeModel  # noqa: E402
from vaekit.chem.molecules import is_valid  # noqa: E402
from vaekit.cli import app  # noqa: E402
from vaekit.decoding import DecodeOptions  # noqa: E402

runner = CliRunner()
RDLogger.DisableLog("rdApp.*")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("molecules")
    data = folder / "mols.smi"
    data.write_text("\n".join(load_moses_split("test")[:150]) + "\nnot_a_molecule\n", encoding="utf-8")
    out = folder / "run"
    result = invoke(
        "train", "--set", f"data.path={data}", "--set", "train.epochs=2", "--set", "model.hidden=16",
        "--set", "model.embed_dim=8", "--set", "model.latent_dim=4", "--set", "evaluate.k=4", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder, out, result.output


def test_train_writes_a_molecule_run(run):
    folder, out, output = run
    assert "1 invalid SMILES in" in output and "selfies tokenizer" in output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["property_head"]) == {"qed", "logp", "sa"}
    assert metrics["samples"]["validity"] == 1.0  # SELFIES, never decoded to an empty string
    for name in ("samples.smi", "samples.png", "interpolation.png", "reconstructions.smi"):
        assert (out / name).is_file()
    model = MoleculeModel.load(out)
    assert model.properties == ("qed", "logp", "sa") and model.has_head and model.predict(["CCO"]).shape == (1, 3)


def test_every_selfies_sample_is_a_molecule(run):
    # A barely trained model: left alone, about 1 in 100 of its draws would be empty strings.
    model = MoleculeModel.load(run[1])
    for options in (DecodeOptions("sample", temperature=2.0), DecodeOptions("greedy"), DecodeOptions("beam", beam=2)):
        samples = model.sample(1000 if options.method == "sample" else 200, options, seed=3)
        assert all(is_valid(smiles) for smiles in samples)
    raw = model.text.sample(1000, DecodeOptions("sample", temperature=2.0), seed=3)  # the plain text path
    assert not all(is_valid(smiles) for smiles in raw)  # what the molecule options prevent


def test_reconstruct_and_interpolate_decode_molecules_as_sampling_does(run):
    """The shared commands route a molecule run through the molecule decoding rules (never an empty string)."""
    folder, out, _ = run
    result = invoke("reconstruct", out, "--data", folder / "mols.smi", "--n", 150)
    assert result.exit_code == 0, result.output
    decoded = [line.removeprefix("  -> ") for line in result.output.splitlines() if line.startswith("  -> ")]
    assert len(decoded) == 150 and all(is_valid(smiles) for smiles in decoded)
    result = invoke("interpolate", out, "--between", "CCO", "c1ccccc1", "--steps", 6, "--method", "slerp")
    assert result.exit_code == 0, result.output
    points = [line.split(". ", 1)[1] for line in result.output.splitlines()]
    assert len(points) == 6 and all(is_valid(smiles) for smiles in points)
    assert invoke("interpolate", out, "--between", "CCO", "").exit_code == 2


@pytest.mark.slow
def test_sample_evaluate_and_optimize(run):
    folder, out, _ = run
    result = invoke("sample", out, "--n", 30, "--out", folder / "mols.smi")
    assert result.exit_code == 0, result.output
    assert len((folder / "mols.smi").read_text().splitlines()) == 30 and "validity" in result.output
    result = invoke("evaluate", out, "--moses", "--samples", 40, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert "note: unique@1000 is computed on all 40 valid samples" in result.stderr  # SELFIES: all are valid
    assert {"valid", "unique@1000", "novelty", "FCD/Test", "SNN/TestSF", "Frag/Test", "Scaf/Test", "IntDiv"} <= set(
        metrics
    )
    result = invoke("evaluate", out, "--moses", "--samples", 40, "--json", "--decoding", "greedy")
    assert result.exit_code == 0, result.output
    # Greedy decodings of a barely trained model repeat; MOSES's symbol-by-symbol sampling does not.
    assert json.loads(result.stdout)["unique@1000"] < metrics["unique@1000"]
    result = invoke("evaluate", out, "--moses", "--samples", 40, "--decoding", "beam")
    assert result.exit_code != 0 and "--decoding is sample or greedy" in result.output
    result = invoke(
        "optimize", out, "--property", "qed", "--starts", 2, "--steps", 2, "--batch", 3, "--out", folder / "opt"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "opt" / "optimisation.json").read_text())
    assert summary["gradient"]["best"] and summary["bayesian"]["best"] and summary["best_in_training_data"]
    assert (folder / "opt" / "bayesian_trajectory.png").is_file()
    assert "training data" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [("C1CC\nxyz\n", "no valid molecule"), ("", "is empty")],
)
def test_bad_molecule_files_give_one_line_errors(tmp_path, content, message):
    data = tmp_path / "bad.smi"
    data.write_text(content)
    result = invoke("train", "--set", f"data.path={data}", "--out", tmp_path / "run")
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_optimize_refuses_a_property_the_head_does_not_know(run):
    folder, out, _ = run
    result = invoke("optimize", out, "--property", "mw")
    assert result.exit_code == 2 and "not 'mw'" in result.output


def test_a_conditional_molecule_run_samples_at_a_target(tmp_path):
    data = tmp_path / "mols.csv"
    data.write_text("name,smiles\n" + "\n".join(f"m{i},{s}" for i, s in enumerate(load_moses_split("test")[:60])))
    out = tmp_path / "run"
    result = invoke(
        "train", "--set", f"data.path={data}", "--set", "data.tokenizer=smiles", "--set", "model.conditional=true",
        "--set", "train.epochs=1", "--set", "model.hidden=8", "--set", "model.embed_dim=4", "--set",
        "model.latent_dim=2", "--set", "evaluate.k=2", "--set", "evaluate.plots=false", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = MoleculeModel.load(out)
    assert model.conditional
    condition = model.condition({"qed": 0.9}, 4)  # standardized; logP and SA at their training means
    assert torch.allclose(condition[:, 1:], torch.zeros(4, 2), atol=1e-5)
    assert float(condition[0, 0]) == pytest.approx((0.9 - model.mean[0]) / model.std[0], rel=1e-5)
    result = invoke("sample", out, "--n", 5, "--target", "qed=0.9", "--out", tmp_path / "at.smi")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "at.smi").read_text().splitlines()) == 5
    result = invoke("sample", out, "--n", 5, "--target", "qed0.9", "--out", tmp_path / "bad.smi")
    assert result.exit_code == 2 and "name=value" in result.output
    # A SMILES model keeps to the SMILES syntax unless told not to: a barely trained one then writes strings that
    # parse (branches and rings paired), where left free it mostly does not.
    options = DecodeOptions("sample")
    kept = [Chem.MolFromSmiles(s, sanitize=False) is not None for s in model.sample(200, options, seed=4)]
    free = [Chem.MolFromSmiles(s, sanitize=False) is not None for s in model.sample(200, options, 4, syntax=False)]
    assert all(kept) and sum(free) < 0.6 * len(free), (sum(kept), sum(free))
    for flag, parse_all in (("--syntax", True), ("--free", False)):
        result = invoke("sample", out, "--n", 100, "--top-p", 1, flag, "--out", tmp_path / "s.smi")
        assert result.exit_code == 0, result.output
        lines = (tmp_path / "s.smi").read_text().splitlines()
        assert all(Chem.MolFromSmiles(s, sanitize=False) is not None for s in lines) == parse_all


def test_a_kekule_smiles_run_samples_valid_molecules_only(tmp_path):
    """Without aromatic atoms the syntax and valences are all RDKit checks: even a barely trained model's
    samples are all molecules, where left free few are."""
    data = tmp_path / "mols.smi"
    data.write_text("\n".join(load_moses_split("test")[:60]), encoding="utf-8")
    out = tmp_path / "run"
    result = invoke(
        "train", "--set", f"data.path={data}", "--set", "data.tokenizer=kekule_smiles", "--set", "train.epochs=1",
        "--set", "model.hidden=8", "--set", "model.embed_dim=4", "--set", "model.latent_dim=2", "--set",
        "evaluate.k=2", "--set", "evaluate.plots=false", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for flag in ("--syntax", "--free"):
        result = invoke("sample", out, "--n", 200, "--top-p", 1, flag, "--out", tmp_path / f"{flag[2:]}.smi")
        assert result.exit_code == 0, result.output
    kept = (tmp_path / "syntax.smi").read_text().splitlines()
    free = (tmp_path / "free.smi").read_text().splitlines()
    assert len(kept) == 200 and all(map(is_valid, kept))
    assert not set("".join(kept)) & set("cnos")  # Kekulé: no aromatic atom
    assert sum(map(is_valid, free)) < 0.5 * len(free)
