"""Probes on tiny data whose answers are known: hand-placed neighbours, tied k-means optima, reference fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.distributions import Independent, Normal

from vaekit.data.labels import balanced_label_indices
from vaekit.evaluate.probes import (
    _min_class_count,
    cluster_probe,
    knn_probe,
    linear_probe,
    parse_budgets,
    probe_features,
    probe_model,
)

GRID = np.logspace(-3, 2, 6)  # the documented grid of inverse regularizations, 1e-3 .. 1e2


def reference_linear_probe(train, train_y, test, test_y, folds):
    """The linear probe by another route: standardize, grid-search C by stratified k-fold accuracy, refit."""
    scaler = StandardScaler().fit(train)
    search = GridSearchCV(LogisticRegression(max_iter=2000), {"C": GRID.tolist()}, cv=StratifiedKFold(folds))
    search.fit(scaler.transform(train), train_y)
    accuracy = float((search.predict(scaler.transform(test)) == test_y).mean())
    return accuracy, float(search.best_params_["C"])


def noisy_classes(rng, n, n_classes, scales):
    """Overlapping Gaussian classes whose features have very different scales (so standardizing matters)."""
    y = rng.integers(0, n_classes, n)
    x = (rng.normal(size=(n, len(scales))) + 0.8 * y[:, None] * (np.arange(len(scales)) % 2 == 0)) * scales
    return x, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_probe_chooses_c_by_five_fold_cv_on_standardized_features(n_classes):
    rng = np.random.default_rng(n_classes)
    scales = np.array([1e-3, 1.0, 1e3, 0.1])
    train, train_y = noisy_classes(rng, 60, n_classes, scales)
    test, test_y = noisy_classes(rng, 40, n_classes, scales)
    assert _min_class_count(train_y) >= 6  # five folds, not fewer
    accuracy, c = linear_probe(train, train_y, test, test_y)
    expected_accuracy, expected_c = reference_linear_probe(train, train_y, test, test_y, folds=5)
    assert c == pytest.approx(expected_c, rel=1e-9) and accuracy == pytest.approx(expected_accuracy)
    assert min(abs(np.log10(c) - np.log10(GRID))) < 1e-9  # a point of the grid


def test_linear_probe_is_invariant_to_feature_scale_and_offset():
    """The features are standardized first, so rescaling or shifting a feature changes nothing."""
    rng = np.random.default_rng(7)
    train, train_y = noisy_classes(rng, 50, 2, np.ones(3))
    test, test_y = noisy_classes(rng, 30, 2, np.ones(3))
    scale, shift = np.array([1e-4, 1.0, 300.0]), np.array([5.0, -2.0, 1e3])
    assert linear_probe(train * scale + shift, train_y, test * scale + shift, test_y) == pytest.approx(
        linear_probe(train, train_y, test, test_y), rel=1e-9
    )


def test_linear_probe_with_two_examples_of_a_class_cross_validates_on_two_folds():
    rng = np.random.default_rng(3)
    train, train_y = noisy_classes(rng, 40, 3, np.array([1.0, 10.0, 0.01]))
    train_y[train_y == 2] = 1
    train_y[:2] = 2  # class 2 has exactly two examples
    test, test_y = noisy_classes(rng, 30, 3, np.array([1.0, 10.0, 0.01]))
    assert _min_class_count(train_y) == 2
    accuracy, c = linear_probe(train, train_y, test, test_y)
    expected_accuracy, expected_c = reference_linear_probe(train, train_y, test, test_y, folds=2)
    assert c == pytest.approx(expected_c, rel=1e-9) and accuracy == pytest.approx(expected_accuracy)
    assert c != pytest.approx(1.0)  # the cross-validated choice, not the default C


def test_linear_probe_with_a_single_example_of_a_class_fits_the_default_c():
    rng = np.random.default_rng(4)
    train, train_y = noisy_classes(rng, 30, 2, np.array([1.0, 5.0]))
    train_y[0] = 2  # one example of class 2: nothing to cross-validate on
    test, test_y = noisy_classes(rng, 20, 2, np.array([1.0, 5.0]))
    accuracy, c = linear_probe(train, train_y, test, test_y)
    scaler = StandardScaler().fit(train)
    reference = LogisticRegression(max_iter=2000).fit(scaler.transform(train), train_y)
    assert c == 1.0
    assert accuracy == pytest.approx(float((reference.predict(scaler.transform(test)) == test_y).mean()))


def knn_line():
    """1-D labelled points around two test points, placed so that 1, 5 and 6 neighbours vote differently.

    Around 0: class 0 at distance 1, class 1 at 2, 3, 4, class 0 at 5, 6 (1-NN: 0; 5-NN: 1; 6-NN: a 3-3 tie).
    Around 150 every vote is class 0 but a 6-NN tie. Each class has six examples, so k = 5 is not capped.
    """
    c0, c1 = [1.0, 5.0, 6.0, 100.0, 101.0, 102.0], [2.0, 3.0, 4.0, 200.0, 201.0, 202.0]
    train = np.array(c0 + c1)[:, None]
    train_y = np.array([0] * 6 + [1] * 6)
    test, test_y = np.array([[0.0], [150.0]]), np.array([1, 0])
    return train, train_y, test, test_y


def test_knn_probe_votes_among_the_five_nearest_by_default():
    train, train_y, test, test_y = knn_line()
    assert knn_probe(train, train_y, test, test_y) == 1.0
    assert knn_probe(train, train_y, test, test_y, k=1) == 0.5


def test_knn_probe_caps_k_at_the_smallest_class():
    """One example of class 1 at distance 1, class 0 beyond: k is capped to 1, so the point is class 1."""
    train = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    train_y = np.array([1, 0, 0, 0, 0, 0])
    assert knn_probe(train, train_y, np.array([[0.0]]), np.array([1])) == 1.0
    # two of class 1: two neighbours, both class 1 (five would be outvoted 2 to 3)
    train_y2 = np.array([1, 1, 0, 0, 0, 0])
    assert knn_probe(train, train_y2, np.array([[0.0]]), np.array([1])) == 1.0


def test_min_class_count_counts_only_present_classes():
    assert _min_class_count(np.array([], dtype=np.int64)) == 0
    assert _min_class_count(np.array([2, 2, 5, 5, 5])) == 2  # classes 0, 1, 3, 4 absent
    assert _min_class_count(np.array([0, 1, 1, 1])) == 1


def circle(n):
    angle = np.arange(n) * 2 * np.pi / n
    return np.c_[np.cos(angle), np.sin(angle)]


ARC_LABELS = np.array([0, 1, 0, 1, 1, 1, 1, 0, 0])  # arbitrary labels, so each split scores differently


def arc_split_scores(n):
    """(NMI, ARI) of every split of a regular n-gon into two arcs of n // 2 and n - n // 2 points."""
    scores = set()
    for start in range(n):
        part = np.zeros(n, dtype=int)
        part[(start + np.arange(n // 2)) % n] = 1
        scores.add(
            (
                round(normalized_mutual_info_score(ARC_LABELS, part), 12),
                round(adjusted_rand_score(ARC_LABELS, part), 12),
            )
        )
    return scores


def test_cluster_probe_on_a_regular_polygon_returns_one_of_its_tied_optimal_splits():
    """Two means on a regular 9-gon: the nine arc splits (4 | 5) are equally optimal; the seed picks one."""
    x = circle(9)
    optimal = arc_split_scores(9)
    results = [cluster_probe(x, ARC_LABELS, 2, seed=s) for s in (0, 1, 2)]
    for nmi, ari in results:
        assert (round(nmi, 12), round(ari, 12)) in optimal
    assert len(set(results)) == 3  # three seeds, three different splits: the seed reaches k-means
    assert cluster_probe(x, ARC_LABELS, 2) == results[0]  # the default seed is 0
    assert cluster_probe(x, ARC_LABELS, 2, seed=1) == results[1]  # the same seed, the same split


TRAP = np.array(
    [[1.7, 0.5], [1.6, 1.1], [-0.3, -7.0], [-0.4, -7.1], [-0.3, -6.9], [-0.3, -7.1], [1.1, -6.4], [0.9, -6.4],
     [1.7, -6.6], [1.3, -5.5], [2.4, 1.3], [2.6, 2.4], [3.3, 1.5]]
)  # fmt: skip
TRAP_Y = np.repeat(np.arange(4), [2, 4, 4, 3])


def test_cluster_probe_restarts_recover_clusters_a_single_kmeans_run_misses():
    """Four small clusters on which one k-means++ run (seed 0) ends in a local optimum; ten restarts do not."""
    from sklearn.cluster import KMeans

    single = KMeans(4, n_init=1, random_state=0).fit_predict(TRAP)
    assert normalized_mutual_info_score(TRAP_Y, single) < 0.95
    assert cluster_probe(TRAP, TRAP_Y, 4) == (pytest.approx(1.0), 1.0)


def test_budget_parsing_accepts_positive_integers_and_all_only():
    assert parse_budgets("1,all, 7") == [1, None, 7]
    for bad in ("0", "abc", "-2", "1.5"):
        with pytest.raises(ValueError, match="positive integers"):
            parse_budgets(bad)
    with pytest.raises(ValueError, match="^give at least one label budget$"):
        parse_budgets(" , ")


def test_probe_features_reads_float_labels_as_classes_and_caps_budgets_at_the_training_set():
    train, train_y, test, test_y = knn_line()
    as_int = probe_features({"line": (train, test)}, train_y, test_y, budgets=(4, 12, 50, None))
    as_float = probe_features({"line": (train, test)}, train_y.astype(float), test_y.astype(float), (4, 12, 50, None))
    assert [r["labels"] for r in as_int.rows] == [4, 12]  # 12, 50 and all are the same 12 labels
    assert as_float.to_dict() == as_int.to_dict()


def test_probe_features_knn_uses_five_neighbours_unless_told():
    train, train_y, test, test_y = knn_line()
    default = probe_features({"line": (train, test)}, train_y, test_y, budgets=(None,))
    one = probe_features({"line": (train, test)}, train_y, test_y, budgets=(None,), knn_k=1)
    assert default.rows[0]["knn_accuracy"] == 1.0 and one.rows[0]["knn_accuracy"] == 0.5
    assert default.test_examples == 2 and default.to_dict()["test_examples"] == 2


def test_probe_features_rows_are_the_probes_of_the_seeded_balanced_draw():
    """At a budget the probes see exactly balanced_label_indices(y, n, seed); k-means runs with the same seed."""
    rng = np.random.default_rng(5)
    train, train_y = noisy_classes(rng, 40, 2, np.ones(2))
    test = circle(9)
    for seed in (None, 1, 2):
        kwargs = {} if seed is None else {"seed": seed}
        report = probe_features({"r": (train, test)}, train_y, ARC_LABELS, budgets=(6,), knn_k=3, **kwargs)
        index = balanced_label_indices(torch.from_numpy(train_y), 6, seed or 0).numpy()
        accuracy, c = linear_probe(train[index], train_y[index], test, ARC_LABELS)
        knn = knn_probe(train[index], train_y[index], test, ARC_LABELS, k=3)
        row = report.rows[0]
        assert (row["linear_accuracy"], row["linear_C"], row["knn_accuracy"]) == (accuracy, c, knn)
        nmi, ari = cluster_probe(test, ARC_LABELS, 2, seed=seed or 0)
        assert report.clustering == [{"representation": "r", "dim": 2, "nmi": nmi, "ari": ari}]


class FirstCoordinates(nn.Module):
    """A 'model' whose latent mean is the first ``dim`` coordinates of its input."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, x, y=None, check=True):
        mean = x[:, : self.dim].float()
        return Independent(Normal(mean, torch.ones_like(mean)), 1)


def test_probe_model_pca_has_the_latent_dimension_but_no_more_than_the_examples():
    rng = np.random.default_rng(6)
    x, y = torch.from_numpy(rng.normal(size=(20, 5))), torch.from_numpy(rng.integers(0, 2, 20))
    report = probe_model(FirstCoordinates(2), x, y, x[:8], y[:8], budgets=(None,))
    assert {c["representation"]: c["dim"] for c in report.clustering} == {
        "latent means": 2,
        "PCA (2)": 2,
        "raw features": 5,
    }
    few = probe_model(FirstCoordinates(5), x[:3], torch.tensor([0, 1, 1]), x[3:9], y[3:9], budgets=(None,))
    assert {c["representation"]: c["dim"] for c in few.clustering}["PCA (3)"] == 3  # three training examples


def test_probe_model_passes_its_seed_to_the_probes():
    x = torch.from_numpy(circle(9)).float()
    y = torch.from_numpy(ARC_LABELS)
    scores = set()
    for seed in (None, 1, 2, 3, 4):
        kwargs = {} if seed is None else {"seed": seed}
        report = probe_model(FirstCoordinates(2), x, y, x, y, budgets=(None,), baselines=False, **kwargs)
        nmi, ari = cluster_probe(x.double().numpy(), ARC_LABELS, 2, seed=seed or 0)
        scores.add(nmi)
        assert report.clustering[0]["nmi"] == nmi and report.clustering[0]["ari"] == ari
    assert len(scores) == 2  # the seeds pick different (equally optimal) splits of the polygon
