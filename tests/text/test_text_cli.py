"""The text commands end to end on a tiny text file: train, sample, reconstruct, interpolate, encode."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from vaekit.cli import app

runner = CliRunner()
LINES = ["the cat sat on the mat", "the dog ran to the door", "", "a bird sang in the tree", "the cat ran to the tree"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    data = folder / "lines.txt"
    data.write_text("\n".join(LINES * 6) + "\n", encoding="utf-8")
    out = folder / "run"
    result = invoke(
        "train", "--set", f"data.path={data}", "--set", "train.epochs=2", "--set", "model.hidden=16",
        "--set", "model.embed_dim=8", "--set", "model.latent_dim=2", "--set", "evaluate.k=4", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder, out, result.output


def test_train_writes_a_text_run(run):
    folder, out, output = run
    assert "6 empty line(s) skipped" in output and "word tokenizer" in output
    assert (
        "evaluating on the test split (" in output and "k=4 importance samples each), then writing examples" in output
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["nll"] > 0 and metrics["perplexity"] > 1 and metrics["data_report"]["empty"] == 6
    # per real token (end token counted), not per padded position
    tokens = metrics["tokens_per_example"]
    assert metrics["bits_per_token"] == pytest.approx(metrics["nll"] / (tokens * math.log(2)))
    assert metrics["perplexity"] == pytest.approx(2 ** metrics["bits_per_token"])
    assert metrics["bits_per_dim"] is None and metrics["negative_elbo_bits_per_dim"] is None
    for name in ("samples.txt", "reconstructions.txt", "homotopy.txt", "config.yaml"):
        assert (out / name).is_file()
    assert len((out / "samples.txt").read_text().splitlines()) == 10


def test_sample_reconstruct_interpolate_and_encode_print_text(run):
    folder, out, _ = run
    words = {w for line in LINES for w in line.split()} | {"<unk>"}  # two epochs: barely trained
    for options in ([], ["--top-k", "3", "--temperature", "0.8"], ["--top-p", "0.9"], ["--beam", "3"]):
        result = invoke("sample", out, "--n", "4", *options)
        assert result.exit_code == 0, result.output
        printed = result.output.splitlines()
        assert len(printed) == 4 and all(set(line.split()) <= words for line in printed)
    result = invoke("reconstruct", out, "--text", "the cat sat on the mat", "--text", "a zebra sat")
    assert result.exit_code == 0 and "the cat sat on the mat\n  -> " in result.output
    assert "1 token(s) outside the vocabulary read as <unk>" in result.output
    result = invoke(
        "interpolate", out, "--between", "the cat sat on the mat", "a bird sang in the tree", "--steps", "5"
    )
    assert result.exit_code == 0 and [line[:3] for line in result.output.splitlines()] == [
        "0. ",
        "1. ",
        "2. ",
        "3. ",
        "4. ",
    ]
    result = invoke("evaluate", out, "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["perplexity"] > 1
    result = invoke("encode", out, "--data", folder / "lines.txt", "--out", folder / "z.npy")
    assert result.exit_code == 0, result.output
    z = np.load(folder / "z.npy")  # one row per line of the file: the 6 empty lines are rows of NaN
    assert z.shape == (30, 2) and "(6 empty: NaN rows)" in result.output
    empty = np.array([line == "" for line in LINES * 6])
    assert np.isnan(z[empty]).all() and np.isfinite(z[~empty]).all()
    assert np.array_equal(z[0], z[5]) and not np.array_equal(z[0], z[1])  # the same sentence, the same row
    result = invoke("encode", out, "--split", "train", "--out", folder / "own.npy")  # the run's own lines
    assert result.exit_code == 0, result.output
    own = np.load(folder / "own.npy")  # the training split: the 24 lines less those held out
    assert 0 < len(own) < 24 and f"{len(own)} lines -> 2 latent dimensions" in result.output
    result = invoke("traverse", out)
    assert result.exit_code == 2 and "interpolate --between" in result.output
    result = invoke("sample", out, "--n", "3", "--out", folder / "s.txt")
    assert result.exit_code == 0 and (folder / "s.txt").read_text().splitlines() == result.output.splitlines()[:3]
    result = invoke("sample", out, "--beam", "3", "--top-k", "2")
    assert result.exit_code == 2 and "--beam finds the most likely strings" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"\x00\x01binary", "binary file"), (b"\n\n", "no non-empty line")],
)
def test_bad_text_files_give_one_line_errors(run, content, message):
    folder, out, _ = run
    bad = folder / "bad.txt"
    bad.write_bytes(content)
    result = invoke("encode", out, "--data", bad)
    assert result.exit_code == 2 and message in result.output
    result = invoke("train", "--set", f"data.path={bad}", "--out", folder / "never")
    assert result.exit_code == 2 and message in result.output and not (folder / "never").exists()


def test_interpolate_needs_two_sentences_and_long_lines_can_be_refused(run):
    folder, out, _ = run
    result = invoke("interpolate", out, "--steps", "3")
    assert result.exit_code == 2 and "--between" in result.output
    long = folder / "long.txt"
    long.write_text("a b c d e f g h\na b\n" * 5, encoding="utf-8")
    result = invoke(
        "train", "--set", f"data.path={long}", "--set", "data.max_length=4", "--set", "data.long_lines=refuse",
        "--out", folder / "refused",
    )  # fmt: skip
    assert result.exit_code == 2 and "has 9 tokens" in result.output


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("model.latent_dim=0", "model.latent_dim must be at least 1"),
        ("objective.type=vq", "objective 'vq' does not apply to model"),
        ("train.lr=-1", "train:"),
        ("data.max_length=-5", "data.max_length must be at least 2"),
        ("data.max_length=0", "data.max_length must be at least 2"),
        ("data.tokenizer={type: word, max_vocab: 4}", "max_vocab counts the 4 special tokens"),
    ],
)
def test_bad_settings_are_refused_before_a_text_run_writes_anything(run, setting, message):
    folder, _, _ = run
    out = folder / f"never-{setting.split('=')[0]}"
    result = invoke("train", "--set", f"data.path={folder / 'lines.txt'}", "--set", setting, "--out", out)
    assert result.exit_code == 2, result.output
    assert message in result.output and not out.exists()
