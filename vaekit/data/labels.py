"""Class labels: numbering a file's label values as classes 0..K-1, the "missing" marker, and label budgets for
semi-supervised learning (which examples keep their label).

A training set with a label budget keeps every example; those whose label is hidden carry
:data:`UNLABELLED` (-1) in y, so the one training loop passes them through unchanged and the
objective (e.g. M2's) decides how to use each kind.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from vaekit.data.errors import DataError

UNLABELLED = -1


def number_classes(values: np.ndarray, missing: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Class numbers 0..K-1 for label values, given in sorted order, and the values as the class names.

    Numbers sort as numbers (3 before 103), anything else as text, so labels {7, 8, 9} become 0, 1, 2 named
    "7", "8", "9".

    Args:
        values: (N,) label values of any kind.
        missing: a value that marks a missing label (e.g. :data:`UNLABELLED`): it stays :data:`UNLABELLED`
            and is no class.

    Returns:
        (N,) int64 class numbers and the K class names.
    """
    values = np.asarray(values)
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        values = values.astype(str)
    known = np.ones(len(values), dtype=bool) if missing is None else values != missing
    classes, numbers = np.unique(values[known], return_inverse=True)
    out = np.full(len(values), UNLABELLED, dtype=np.int64)
    out[known] = numbers.reshape(-1)
    return out, [str(c) for c in classes]


def _integer(name: str) -> int | None:
    try:
        return int(name)
    except ValueError:
        return None


def renumber_classes(
    y: Tensor, names: list[str], known: list[str] | None, strict: bool, what: str = "the data"
) -> Tensor:
    """Labels numbered by one file's class ``names`` renumbered by the class names a model was trained with.

    A name the model knows takes the model's number. An integer name is taken as a class number when the
    model's classes are not named by integers (e.g. 0..9 for Fashion-MNIST's named classes) or when the model
    has no class names (it was trained on those numbers). A folder or table read for a model without class
    names keeps its own numbering. Missing labels (:data:`UNLABELLED`) stay missing.

    Args:
        y: (N,) class numbers into ``names``, or :data:`UNLABELLED`.
        names: the file's class names.
        known: the model's class names, or None.
        strict: refuse a class the model does not know (a model that takes or predicts labels); otherwise
            such classes are numbered after the model's, in the file's order.
        what: the data, for the error message.

    Raises:
        DataError: with ``strict``, a class the model does not know (named, with the model's classes).
    """
    integers = [_integer(n) for n in names]
    if known is None:
        if any(i is None for i in integers):
            return y
        lookup = dict(enumerate(integers))
    else:
        index = {name: i for i, name in enumerate(known)}
        numbers_named = all(_integer(n) is not None for n in known)
        lookup, extra = {}, len(known)
        for i, (name, number) in enumerate(zip(names, integers)):
            if name in index:
                lookup[i] = index[name]
            elif number is not None and not numbers_named and 0 <= number < len(known):
                lookup[i] = number
            elif strict:
                shown = known if len(known) <= 12 else [*known[:12], "..."]
                raise DataError(f"{what} has class {name!r}, which the model does not know; its classes: {shown}")
            else:
                lookup[i], extra = extra, extra + 1
    table = torch.tensor([lookup[i] for i in range(len(names))], dtype=torch.int64)
    out = y.clone()
    present = y >= 0
    out[present] = table[y[present]]
    return out


def check_label_budget(n_labels: int, n_classes: int) -> None:
    """Refuse a label budget below the number of classes: some class would get no label at all.

    Raises:
        DataError: ``n_labels`` below ``n_classes`` (the minimum named).
    """
    if n_labels < n_classes:
        raise DataError(
            f"a label budget of {n_labels} cannot give each of the {n_classes} classes a label; "
            f"use at least {n_classes}"
        )


def balanced_label_indices(y: Tensor, n_labels: int, seed: int = 0) -> Tensor:
    """Indices of ``n_labels`` examples drawn at random with the classes as balanced as possible.

    Each class gets ``n_labels // K`` examples and the first ``n_labels % K`` classes (in a random order)
    one more; a class with too few examples gives all it has and the rest is drawn from the others.

    Raises:
        DataError: a budget below 1 or below the number of classes, or fewer labelled examples than ``n_labels``.
    """
    if n_labels < 1:
        raise DataError(f"a label budget must be at least 1, got {n_labels}")
    y_np = y.cpu().numpy()
    known = np.flatnonzero(y_np >= 0)
    classes = np.unique(y_np[known])
    check_label_budget(n_labels, len(classes))
    if len(known) < n_labels:
        raise DataError(f"a budget of {n_labels} labels needs at least that many labelled examples; got {len(known)}")
    rng = np.random.default_rng(seed)
    pools = {c: rng.permutation(known[y_np[known] == c]) for c in classes}
    quota = {c: n_labels // len(classes) for c in classes}
    for c in rng.permutation(classes)[: n_labels % len(classes)]:
        quota[c] += 1
    chosen = [pools[c][: quota[c]] for c in classes]
    short = n_labels - sum(len(p) for p in chosen)
    if short:  # small classes gave all they had: fill from what is left of the others
        rest = rng.permutation(np.concatenate([pools[c][quota[c] :] for c in classes]))
        chosen.append(rest[:short])
    return torch.from_numpy(np.sort(np.concatenate(chosen))).long()


def keep_labels(y: Tensor, n_labels: int, seed: int = 0) -> Tensor:
    """A copy of ``y`` that keeps ``n_labels`` labels, balanced per class, and marks the rest :data:`UNLABELLED`."""
    kept = balanced_label_indices(y, n_labels, seed)
    out = torch.full_like(y, UNLABELLED)
    out[kept] = y[kept]
    return out


def oversample_labelled(y: Tensor, share: float) -> Tensor:
    """Indices of an epoch in which the labelled examples are repeated to make up about ``share`` of it.

    With 100 labels among 60,000 examples a random batch would hold a label only now and then; repeating the
    labelled examples puts some in every batch, as the separate labelled batches of Kingma et al. (2014) do.
    Unlabelled examples each appear once. ``share`` of 0 (or no labelled example) leaves the epoch as it is.
    """
    if not 0 <= share < 1:
        raise DataError(f"the labelled share of an epoch must lie in [0, 1), got {share}")
    labelled = torch.nonzero(y >= 0).flatten()
    unlabelled = torch.nonzero(y < 0).flatten()
    if share == 0 or len(labelled) == 0 or len(unlabelled) == 0:
        return torch.arange(len(y))
    wanted = share / (1 - share) * len(unlabelled)  # labelled copies so that they are `share` of the epoch
    repeats = max(1, math.ceil(wanted / len(labelled)))
    return torch.cat([unlabelled, labelled.repeat(repeats)])  # the training loop shuffles every epoch
