"""Label budgets: balanced per class, reproducible, the rest marked missing; labelled examples oversampled."""

from __future__ import annotations

import pytest
import torch

from vaekit.data import DataError
from vaekit.data.labels import (
    UNLABELLED,
    balanced_label_indices,
    keep_labels,
    oversample_labelled,
    renumber_classes,
)


def test_a_budget_keeps_that_many_labels_balanced_per_class():
    y = torch.arange(1000) % 10
    kept = keep_labels(y, 100, seed=0)
    assert int((kept != UNLABELLED).sum()) == 100
    assert torch.bincount(kept[kept >= 0], minlength=10).tolist() == [10] * 10
    known = kept >= 0
    assert torch.equal(kept[known], y[known])  # kept labels are the true ones
    assert torch.equal(kept, keep_labels(y, 100, seed=0))  # reproducible
    assert not torch.equal(kept, keep_labels(y, 100, seed=1))  # and a different draw for another seed


def test_uneven_budgets_and_small_classes():
    y = torch.tensor([0] * 3 + [1] * 50 + [2] * 50)
    counts = torch.bincount(y[balanced_label_indices(y, 30, seed=0)], minlength=3).tolist()
    assert counts[0] == 3 and sum(counts) == 30 and abs(counts[1] - counts[2]) <= 1  # class 0 gives all it has
    y3 = torch.arange(20) % 3
    counts = torch.bincount(y3[balanced_label_indices(y3, 7, seed=2)], minlength=3)
    assert sorted(counts.tolist()) == [2, 2, 3]  # 7 labels over 3 classes: one class gets the extra one
    with pytest.raises(DataError, match="at least that many"):
        keep_labels(y, 200)
    with pytest.raises(DataError, match="at least 1"):
        keep_labels(y, 0)


def test_a_budget_below_the_number_of_classes_is_refused_naming_the_minimum():
    y = torch.arange(100) % 3
    y[:10] = UNLABELLED  # missing labels are no class
    message = "^a label budget of 2 cannot give each of the 3 classes a label; use at least 3$"
    with pytest.raises(DataError, match=message):
        keep_labels(y, 2)
    assert int((keep_labels(y, 3) >= 0).sum()) == 3


def test_oversampling_puts_labelled_examples_in_every_batch():
    y = keep_labels(torch.arange(10_000) % 10, 100, seed=0)
    index = oversample_labelled(y, 0.2)
    share = float((y[index] >= 0).float().mean())
    assert 0.2 <= share < 0.21
    assert int((y[index] < 0).sum()) == 9_900  # every unlabelled example exactly once
    assert torch.equal(torch.unique(index[y[index] >= 0]), torch.nonzero(y >= 0).flatten())
    assert torch.equal(oversample_labelled(y, 0.0), torch.arange(10_000))
    with pytest.raises(DataError, match="share"):
        oversample_labelled(y, 1.0)


def test_a_files_classes_are_renumbered_by_the_models_class_names():
    y = torch.tensor([0, 1, UNLABELLED, 1])  # numbered by the file's own classes
    assert renumber_classes(y, ["b", "c"], ["a", "b", "c"], strict=True).tolist() == [1, 2, UNLABELLED, 2]
    with pytest.raises(DataError, match="^f.csv has class 'd', which the model does not know; its classes: "):
        renumber_classes(y, ["b", "d"], ["a", "b", "c"], strict=True, what="f.csv")
    # A model that neither takes nor predicts labels numbers new classes after its own.
    assert renumber_classes(y, ["d", "b"], ["a", "b", "c"], strict=False).tolist() == [3, 1, UNLABELLED, 1]
    # Integers are class numbers for a model with named classes (Fashion-MNIST's), or with no class names.
    assert renumber_classes(y, ["3", "7"], [f"c{i}" for i in range(10)], strict=True).tolist()[:2] == [3, 7]
    assert renumber_classes(y, ["3", "7"], None, strict=True).tolist() == [3, 7, UNLABELLED, 7]
    assert renumber_classes(y, ["x", "y"], None, strict=True).tolist() == [0, 1, UNLABELLED, 1]  # as it was
