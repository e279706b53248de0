"""Probes: near-perfect on linearly structured data, exact on a model whose latents are the labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from vaekit.evaluate.probes import (
    cluster_probe,
    format_probe_report,
    parse_budgets,
    plot_probe_accuracy,
    probe_features,
    probe_model,
)


def test_probes_are_near_perfect_on_linearly_separable_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 20)) * 4  # five well-separated classes in 20 dimensions

    def draw(n):
        y = rng.integers(0, 5, n)
        return centres[y] + rng.normal(size=(n, 20)), y

    train, train_y = draw(2000)
    test, test_y = draw(500)
    report = probe_features({"x": (train, test)}, train_y, test_y, budgets=(50, None), seed=0)
    assert [r["labels"] for r in report.rows] == [50, 2000]
    for row in report.rows:
        assert row["linear_accuracy"] > 0.98 and row["knn_accuracy"] > 0.98
    assert report.clustering[0]["nmi"] > 0.95 and report.clustering[0]["ari"] > 0.95


def test_probes_at_chance_on_noise():
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(600, 5)), rng.normal(size=(400, 5))
    report = probe_features({"noise": (train, test)}, rng.integers(0, 4, 600), rng.integers(0, 4, 400), (None,))
    assert report.rows[0]["linear_accuracy"] < 0.35 and report.clustering[0]["nmi"] < 0.05


class LabelEncoder(nn.Module):
    """A 'model' whose input is the label (one number) and whose latent mean is the label's one-hot."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.n_classes = n_classes
        self.dummy = nn.Parameter(torch.zeros(()))
        self.conditioner = None

    def encode(self, x, y=None, check=True):
        mean = nn.functional.one_hot(x[:, 0].long(), self.n_classes).float() * 3
        return Independent(Normal(mean, torch.ones_like(mean)), 1)


def test_probe_report_on_a_model_whose_latents_are_the_labels(tmp_path):
    gen = torch.Generator().manual_seed(0)
    train_y, test_y = torch.randint(0, 4, (300,), generator=gen), torch.randint(0, 4, (200,), generator=gen)
    report = probe_model(LabelEncoder(4), train_y[:, None].float(), train_y, test_y[:, None].float(), test_y,
                         budgets=(8, 100, None))  # fmt: skip
    latent = [r for r in report.rows if r["representation"] == "latent means"]
    assert [r["labels"] for r in latent] == [8, 100, 300]
    assert all(r["linear_accuracy"] == 1.0 and r["knn_accuracy"] == 1.0 for r in latent)
    clustering = {c["representation"]: c for c in report.clustering}
    assert clustering["latent means"]["nmi"] == pytest.approx(1.0) and clustering["latent means"]["ari"] == 1.0
    assert clustering["latent means"]["dim"] == 4
    # beside the latents: the raw features (the label as one number) and their PCA (1 dimension here)
    assert set(clustering) == {"latent means", "PCA (1)", "raw features"}
    text = format_probe_report(report)
    assert "latent means" in text and "PCA (1)" in text and "200 test examples" in text
    assert plot_probe_accuracy(report, tmp_path / "p.png").stat().st_size > 1000


def test_budget_parsing():
    assert parse_budgets("100, 1000,all") == [100, 1000, None]
    with pytest.raises(ValueError, match="positive integers"):
        parse_budgets("100,-3")


def three_clusters(labels, n_train=60, n_test=30, seed=0):
    """Well-separated clusters, one per value of ``labels`` (any integers)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(labels), 4)) * 6

    def draw(n):
        which = rng.integers(0, len(labels), n)
        return centres[which] + rng.normal(size=(n, 4)), np.asarray(labels)[which]

    return draw(n_train), draw(n_test)


def test_kmeans_has_one_cluster_per_class_whatever_numbers_the_classes_carry():
    """Classes numbered 3, 7, 9 are three classes: k-means with 3 clusters, not 10 (max + 1)."""
    (train, train_y), (test, test_y) = three_clusters([3, 7, 9])
    report = probe_features({"x": (train, test)}, train_y, test_y, budgets=(None,))
    nmi, ari = cluster_probe(test, test_y, 3)
    assert report.clustering[0]["nmi"] == nmi and report.clustering[0]["ari"] == ari
    assert nmi > 0.95 and ari > 0.95


def test_a_budget_above_the_labelled_examples_uses_them_all_and_says_so():
    (train, train_y), (test, test_y) = three_clusters([0, 1, 2])
    report = probe_features({"x": (train, test)}, train_y, test_y, budgets=(30, 500, None))
    assert [r["labels"] for r in report.rows] == [30, 60]
    assert report.notes == ["label budget 500 is above the 60 labelled training examples: it uses all of them"]
    assert report.to_dict()["notes"] == report.notes
    assert "note: label budget 500 is above the 60 labelled training examples" in format_probe_report(report)
    assert probe_features({"x": (train, test)}, train_y, test_y, budgets=(30, None)).notes == []


def test_a_budget_below_the_number_of_classes_is_refused():
    (train, train_y), (test, test_y) = three_clusters([0, 1, 2])
    with pytest.raises(ValueError, match="a label budget of 2 cannot give each of the 3 classes a label"):
        probe_features({"x": (train, test)}, train_y, test_y, budgets=(2, None))


def test_examples_without_a_label_are_left_out_and_counted():
    """-1 (a missing label, as in a semi-supervised data file) is no class: the probes see the labelled rest."""
    (train, train_y), (test, test_y) = three_clusters([0, 1, 2])
    hidden_train, hidden_test = train_y.copy(), test_y.copy()
    hidden_train[:10], hidden_test[:4] = -1, -1
    report = probe_features({"x": (train, test)}, hidden_train, hidden_test, budgets=(6, None))
    expected = probe_features({"x": (train[10:], test[4:])}, train_y[10:], test_y[4:], budgets=(6, None))
    assert (report.rows, report.clustering, report.test_examples) == (
        expected.rows,
        expected.clustering,
        expected.test_examples,
    )
    assert report.notes == ["left out examples without a label (-1): 10 training, 4 scored"]


def test_the_report_names_the_split_it_scored(tmp_path):
    (train, train_y), (test, test_y) = three_clusters([0, 1, 2])
    report = probe_features({"x": (train, test)}, train_y, test_y, budgets=(None,))
    assert "on 30 test examples" in format_probe_report(report)
    report.split = "validation"
    assert "on 30 validation examples" in format_probe_report(report)
    assert report.to_dict()["split"] == "validation"
