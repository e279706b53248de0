"""probe_run: which examples it probes (splits, limit, seed) and what it writes where."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaekit.config import RunConfig
from vaekit.data import DataError, load_dataset
from vaekit.data.preprocess import Preprocessing
from vaekit.data.sources import read_examples, split_examples
from vaekit.evaluate.probes import format_probe_report, probe_model, probe_run
from vaekit.runs import LoadedModel, data_arguments


class Identity(nn.Module):
    """A 'model' whose latent mean is its input."""

    data_shape = (2,)

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x, y=None, check=True):
        return Independent(Normal(x.float(), torch.ones_like(x.float())), 1)


def write_data(path, labels=True):
    """Two overlapping classes and one example of a third (in the training split: its probes fit fast)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    y[17] = 2
    x = (rng.normal(size=(60, 2)) + 0.7 * y[:, None]).astype(np.float32)
    if labels:
        np.savez(path, x=x, y=y)
    else:
        np.savez(path, x=x)
    return path


def loaded_run(tmp_path, labels=True):
    """A run over a 60-example file split 36 train / 6 validation / 18 test."""
    config = RunConfig()
    config.data.path = str(write_data(tmp_path / "data.npz", labels))
    config.data.validation, config.data.test = 0.1, 0.3
    (tmp_path / "run" / "model").mkdir(parents=True)
    prep = Preprocessing(binarize="none", data_shape=[2])
    return LoadedModel(Identity(), prep, tmp_path / "run" / "model", tmp_path / "run", config)


def test_probe_run_trains_on_the_train_split_scores_the_test_split_and_writes_both_files(tmp_path):
    loaded = loaded_run(tmp_path)
    out = tmp_path / "new" / "folder"
    report, paths = probe_run(loaded, budgets=(10, None), limit=36, out_dir=out)  # the limit keeps all 36
    dataset = load_dataset(**data_arguments(loaded.config))
    assert (len(dataset.train), len(dataset.validation), len(dataset.test)) == (36, 6, 18)
    expected = probe_model(Identity(), dataset.train.x, dataset.train.y, dataset.test.x, dataset.test.y, (10, None))
    assert report.to_dict() == expected.to_dict()
    assert [r["labels"] for r in report.rows if r["representation"] == "latent means"] == [10, 36]
    assert report.test_examples == 18
    assert paths == [out / "probes.json", out / "probes.png"]
    assert json.loads((out / "probes.json").read_text()) == report.to_dict()
    assert (out / "probes.png").stat().st_size > 1000
    assert not (tmp_path / "run" / "probes.json").exists()


def test_probe_run_scores_the_split_it_is_given(tmp_path):
    report, _ = probe_run(loaded_run(tmp_path), split="validation", budgets=(None,), out_dir=tmp_path / "o")
    assert report.test_examples == 6 and report.split == "validation"


def test_probe_run_limits_the_training_examples_to_a_seeded_draw(tmp_path):
    """At most ``limit`` training examples: the first ``limit`` of a permutation drawn with the seed."""
    loaded = loaded_run(tmp_path)
    dataset = load_dataset(**data_arguments(loaded.config))
    for seed in (None, 3):
        kwargs = {} if seed is None else {"seed": seed}
        report, _ = probe_run(loaded, budgets=(10, None), limit=20, **kwargs)
        pick = torch.from_numpy(np.random.default_rng(seed or 0).permutation(36)[:20])
        x, y = dataset.train.x[pick], dataset.train.y[pick]
        expected = probe_model(Identity(), x, y, dataset.test.x, dataset.test.y, (10, None), seed=seed or 0)
        assert (report.rows, report.clustering) == (expected.rows, expected.clustering)
        assert report.notes == ["the probes train on a seeded draw of 20 of the 36 training examples"]
        assert [r["labels"] for r in report.rows if r["representation"] == "latent means"] == [10, 20]
    assert (tmp_path / "run" / "probes.json").is_file()  # by default, into the run folder


def test_probe_run_on_a_file_trains_and_scores_on_disjoint_parts_of_it(tmp_path):
    """A file has no splits: a seeded fifth of it scores the probes, the rest trains them (never the same
    examples, whose k-NN and linear fits would be scored on what they memorised)."""
    loaded = loaded_run(tmp_path)
    bare = LoadedModel(loaded.model, loaded.preprocessing, loaded.model_dir, None, None)
    report, paths = probe_run(bare, data=loaded.config.data.path, budgets=(None,), limit=None)
    assert report.test_examples == 12 and {r["labels"] for r in report.rows} == {48}
    assert report.split == "held-out" and "on 12 held-out examples" in format_probe_report(report)
    assert paths[0] == loaded.model_dir / "probes.json" and paths[0].is_file()
    whole = read_examples(loaded.config.data.path)[0]
    train, _, test = split_examples(whole, 0.0, 0.2, 0)
    expected = probe_model(Identity(), train.x, train.y, test.x, test.y, (None,))
    assert (report.rows, report.clustering) == (expected.rows, expected.clustering)
    same, _ = probe_run(loaded, data=loaded.config.data.path, split="train", budgets=(None,), out_dir=tmp_path / "o")
    assert same.to_dict() == report.to_dict()  # a run's --split does not apply to a file


def test_probe_run_refuses_to_score_on_the_training_split(tmp_path):
    with pytest.raises(DataError, match="--split test or validation"):
        probe_run(loaded_run(tmp_path), split="train", budgets=(None,))


def test_probe_run_needs_labels(tmp_path):
    loaded = loaded_run(tmp_path, labels=False)
    with pytest.raises(DataError, match="labelled"):
        probe_run(loaded, budgets=(None,))
