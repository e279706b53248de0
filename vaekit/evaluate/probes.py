"""Representation probes for any model: how much of the class structure its latent means hold.

At each label budget a cross-validated logistic regression (the linear probe) and a k-nearest-neighbour
classifier are fitted on that many training labels (balanced per class) and scored on the test split; k-means
with one cluster per class is scored against the test labels by NMI and ARI. The same probes run on the raw
features and on a PCA of the latent dimension, so the figures say what the model adds. scikit-learn does the
fitting: its estimators are the reference implementations of these probes.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaekit.data.labels import balanced_label_indices, check_label_budget

DEFAULT_BUDGETS: tuple[int | None, ...] = (100, 1000, None)  # None: every training label
HELD_OUT = 0.2  # the share of a data file (which has no splits) that scores the probes


@dataclass
class ProbeReport:
    """Probe figures of one or more representations.

    Attributes:
        rows: one per (representation, label budget): ``representation``, ``labels`` (the number used),
            ``linear_accuracy``, ``knn_accuracy``, ``linear_C`` (the regularization cross-validation chose).
        clustering: one per representation: ``representation``, ``dim``, ``nmi``, ``ari`` (k-means on the test
            split, K = number of classes).
        test_examples: size of the split the accuracies are measured on.
        split: the name of that split ("test" unless a run is probed on another).
        notes: what the figures left out or changed, one line each (a budget above the labelled training
            examples, examples without a label, a training set cut to a size limit).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    clustering: list[dict[str, Any]] = field(default_factory=list)
    test_examples: int = 0
    split: str = "test"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionaries."""
        return {
            "rows": self.rows,
            "clustering": self.clustering,
            "test_examples": self.test_examples,
            "split": self.split,
            "notes": self.notes,
        }


def linear_probe(
    train: np.ndarray,
    train_y: np.ndarray,
    test: np.ndarray,
    test_y: np.ndarray,
    seed: int = 0,  # pragma: no mutate (equivalent: lbfgs and unshuffled folds ignore the seed)
) -> tuple[float, float]:
    """Test accuracy of a logistic regression whose inverse regularization C is chosen by stratified
    cross-validation on the training labels (features standardized first). Returns (accuracy, chosen C)."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(5, _min_class_count(train_y))
    if folds >= 2:
        model = LogisticRegressionCV(
            Cs=np.logspace(-3, 2, 6).tolist(),
            cv=folds,
            scoring="accuracy",  # pinned: scikit-learn 1.11 changes the default to the log loss
            max_iter=500,  # pragma: no mutate (iteration cap; these fits converge well before it)
            random_state=seed,  # pragma: no mutate (equivalent: lbfgs and unshuffled folds ignore it)
        )
    else:  # one example of some class: nothing to cross-validate on
        model = LogisticRegression(
            max_iter=500,  # pragma: no mutate (iteration cap; these fits converge well before it)
        )
    with warnings.catch_warnings():  # scikit-learn's notices of future default changes, not about this fit
        warnings.simplefilter("ignore", FutureWarning)  # pragma: no mutate (warning filter)
        pipeline = make_pipeline(StandardScaler(), model).fit(train, train_y)
    chosen = float(model.C_[0]) if hasattr(model, "C_") else float(model.C)
    return float((pipeline.predict(test) == test_y).mean()), chosen


def knn_probe(train: np.ndarray, train_y: np.ndarray, test: np.ndarray, test_y: np.ndarray, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour classifier (Euclidean). ``k`` is capped at the smallest class's
    number of labelled examples, so that with few labels per class a test point's own class can still hold the
    majority of its neighbours."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=max(1, min(k, _min_class_count(train_y)))).fit(train, train_y)
    return float((knn.predict(test) == test_y).mean())


def cluster_probe(features: np.ndarray, labels: np.ndarray, n_clusters: int, seed: int = 0) -> tuple[float, float]:
    """k-means with ``n_clusters`` clusters (10 restarts), scored against ``labels``: (NMI, ARI)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    assigned = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(features)
    return float(normalized_mutual_info_score(labels, assigned)), float(adjusted_rand_score(labels, assigned))


def probe_features(
    representations: dict[str, tuple[np.ndarray, np.ndarray]],
    train_y: np.ndarray,
    test_y: np.ndarray,
    budgets: Sequence[int | None] = DEFAULT_BUDGETS,
    seed: int = 0,
    knn_k: int = 5,
) -> ProbeReport:
    """Run every probe on named representations.

    Args:
        representations: name -> (train features (N, D), test features (M, D)).
        train_y: (N,) training labels; the probes at a budget see a class-balanced subset of them. Examples
            labelled :data:`~vaekit.data.labels.UNLABELLED` (-1) are left out (and a note says so), here and
            in ``test_y``.
        test_y: (M,) test labels.
        budgets: numbers of training labels (None: all of them); one larger than the labelled training
            examples counts as all, and a note says so.
        seed: seed of the label draws and k-means (the linear probe's fit and folds are deterministic).
        knn_k: neighbours of the k-NN probe.

    Raises:
        ValueError: no labelled training or test example, or a budget below the number of classes (some class
            would have no label, and no probe could predict it).
    """
    train_y = np.asarray(train_y, dtype=np.int64)
    test_y = np.asarray(test_y, dtype=np.int64)  # pragma: no mutate (equivalent: test labels are only compared)
    notes = []
    known_train, known_test = train_y >= 0, test_y >= 0
    if not (known_train.all() and known_test.all()):
        notes.append(
            f"left out examples without a label (-1): {int((~known_train).sum())} training, "
            f"{int((~known_test).sum())} scored"
        )
        representations = {name: (a[known_train], b[known_test]) for name, (a, b) in representations.items()}
        train_y, test_y = train_y[known_train], test_y[known_test]
    if len(train_y) == 0 or len(test_y) == 0:
        raise ValueError("the probes need labelled examples in both the training and the scored data")
    n_labelled, n_classes = len(train_y), len(np.unique(train_y))
    sizes = set()
    for budget in budgets:
        n = n_labelled if budget is None else int(budget)
        check_label_budget(n, n_classes)
        if n > n_labelled:
            notes.append(f"label budget {n} is above the {n_labelled} labelled training examples: it uses all of them")
        sizes.add(min(n, n_labelled))
    report = ProbeReport(test_examples=len(test_y), notes=notes)
    picks = {n: balanced_label_indices(torch.from_numpy(train_y), n, seed).numpy() for n in sorted(sizes)}
    n_clusters = len(np.unique(test_y))  # one cluster per class present, whatever numbers the classes carry
    for name, (train, test) in representations.items():
        for n, index in picks.items():
            accuracy, c = linear_probe(train[index], train_y[index], test, test_y)  # its fit needs no seed
            knn = knn_probe(train[index], train_y[index], test, test_y, knn_k)
            report.rows.append(
                {"representation": name, "labels": n, "linear_accuracy": accuracy, "knn_accuracy": knn, "linear_C": c}
            )
        nmi, ari = cluster_probe(test, test_y, n_clusters=n_clusters, seed=seed)
        report.clustering.append({"representation": name, "dim": int(train.shape[1]), "nmi": nmi, "ari": ari})
    return report


@torch.no_grad()
def latent_means(model: nn.Module, x: Tensor, batch_size: int = 1000) -> np.ndarray:
    """The posterior means E_q[z|x] of all of ``x``, (N, D) as float64.

    Raises:
        ValueError: a conditional model whose encoder needs the label (the label would leak into the probe).
    """
    if getattr(model, "conditioner", None) is not None and not hasattr(model, "classify"):
        raise ValueError("probes need an encoder that sees x alone; this conditional model's encoder takes the label")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        means = [model.encode(x[i : i + batch_size].to(device)).mean.cpu() for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(means).flatten(1).double().numpy()


def probe_model(
    model: nn.Module,
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    budgets: Sequence[int | None] = DEFAULT_BUDGETS,
    seed: int = 0,
    baselines: bool = True,
) -> ProbeReport:
    """Probe ``model``'s latent means, and (``baselines``) the raw features and a PCA of the latent dimension.

    Args:
        model: any model with ``encode(x)`` returning a distribution with a ``mean``.
        train_x, test_x: model inputs of the two splits.
        train_y, test_y: their labels.
        budgets: numbers of training labels (None: all).
        seed: seed of label draws, cross-validation, PCA and k-means.
        baselines: also probe the raw features and their PCA.
    """
    train_z, test_z = latent_means(model, train_x), latent_means(model, test_x)
    representations = {"latent means": (train_z, test_z)}
    if baselines:
        from sklearn.decomposition import PCA

        raw_train = train_x.float().flatten(1).double().numpy()
        raw_test = test_x.float().flatten(1).double().numpy()
        dim = min(train_z.shape[1], raw_train.shape[1], raw_train.shape[0])
        pca = PCA(  # unsupervised: every training example
            n_components=dim,
            random_state=seed,  # pragma: no mutate (numerically invisible: seeds only randomized SVD's start)
        ).fit(raw_train)
        representations[f"PCA ({dim})"] = (pca.transform(raw_train), pca.transform(raw_test))
        representations["raw features"] = (raw_train, raw_test)
    return probe_features(representations, train_y.numpy(), test_y.numpy(), budgets, seed)


def format_probe_report(report: ProbeReport) -> str:  # pragma: no mutate block (report layout)
    """The report as two aligned tables: accuracies by label budget, then clustering."""
    lines = [
        f"{'representation':<16} {'labels':>7} {'linear probe':>13} {'k-NN (k<=5)':>11}",
        f"{'-' * 16} {'-' * 7} {'-' * 13} {'-' * 11}",
    ]
    for r in report.rows:
        lines.append(
            f"{r['representation']:<16} {r['labels']:>7} {r['linear_accuracy']:>13.4f} {r['knn_accuracy']:>11.4f}"
        )
    lines += [
        "",
        f"{'representation':<16} {'dim':>5} {'k-means NMI':>12} {'ARI':>7}",
        f"{'-' * 16} {'-' * 5} {'-' * 12} {'-' * 7}",
    ]
    for c in report.clustering:
        lines.append(f"{c['representation']:<16} {c['dim']:>5} {c['nmi']:>12.4f} {c['ari']:>7.4f}")
    lines.append(f"(accuracies and clustering on {report.test_examples} {report.split} examples)")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def plot_probe_accuracy(report: ProbeReport, path: str | Path) -> Path:  # pragma: no mutate block (plotting)
    """Test accuracy against the number of labels, one line per representation and probe (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vaekit.io import atomic_write_bytes

    fig, ax = plt.subplots(figsize=(6, 4))
    names = list(dict.fromkeys(r["representation"] for r in report.rows))
    for i, name in enumerate(names):
        rows = [r for r in report.rows if r["representation"] == name]
        n = [r["labels"] for r in rows]
        color = f"C{i}"
        ax.plot(n, [r["linear_accuracy"] for r in rows], "o-", color=color, label=f"{name}: linear")
        ax.plot(n, [r["knn_accuracy"] for r in rows], "s--", color=color, label=f"{name}: k-NN")
    ax.set_xscale("log")
    ax.set_xlabel("number of labels")
    ax.set_ylabel(f"accuracy on {report.test_examples} {report.split} examples")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


@torch.no_grad()
def classifier_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Accuracy of a model's own classifier ``model.classify(x)`` (e.g. M2's q(y|x)) on the labelled examples:
    those labelled :data:`~vaekit.data.labels.UNLABELLED` (-1) are not counted (NaN when none is labelled)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    labelled = y >= 0
    try:
        correct = sum(
            int(
                (
                    (model.classify(x[i : i + batch_size].to(device)).probs.argmax(-1).cpu() == y[i : i + batch_size])
                    & labelled[i : i + batch_size]
                ).sum()
            )
            for i in range(0, len(x), batch_size)
        )
    finally:
        model.train(was_training)
    n_labelled = int(labelled.sum())
    return correct / n_labelled if n_labelled else float("nan")


def _min_class_count(y: np.ndarray) -> int:
    counts = np.bincount(y)
    return int(counts[counts > 0].min()) if len(y) else 0


def parse_budgets(text: str) -> list[int | None]:
    """``"100,1000,all"`` -> [100, 1000, None].

    Raises:
        ValueError: an entry that is neither a positive integer nor ``all``.
    """
    budgets: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "all":
            budgets.append(None)
        elif part.isdigit() and int(part) > 0:
            budgets.append(int(part))
        else:
            raise ValueError(f"label budgets are positive integers or 'all', comma-separated; got {part!r}")
    if not budgets:
        raise ValueError("give at least one label budget")
    return budgets


def probe_run(
    loaded: Any,
    data: str | None = None,
    split: str = "test",
    budgets: Sequence[int | None] = DEFAULT_BUDGETS,
    limit: int | None = 10_000,  # pragma: no mutate (default size cap, a time budget)
    seed: int = 0,
    out_dir: str | Path | None = None,
) -> tuple[ProbeReport, list[Path]]:
    """Probe an opened run (:func:`vaekit.runs.open_model`): train the probes on its training split (at most
    ``limit`` examples), score them on ``split``; write ``probes.json`` and ``probes.png`` into ``out_dir``
    (default: the run folder, or the model folder).

    A file or folder given as ``data`` has no splits (it is read whole): a seeded :data:`HELD_OUT` share of it
    scores the probes, which train on the rest, so that no probe is scored on the examples it was fitted to.

    Raises:
        DataError: data without labels, or not of the model's shape; ``split`` "train" of a dataset (the probes
            would be scored on their own training examples).
    """
    from vaekit.data import DataError
    from vaekit.data.sources import split_examples
    from vaekit.runs import check_fits, load_data_for, write_json

    if data is not None and Path(data).exists():
        train, _, test = split_examples(load_data_for(loaded, data), 0.0, HELD_OUT, seed)
        split = "held-out"
    elif split == "train":
        raise DataError("the probes train on the training split: score them on another (--split test or validation)")
    else:
        train, test = load_data_for(loaded, data, "train"), load_data_for(loaded, data, split)
    for examples in (train, test):
        check_fits(loaded, examples)
        if examples.y is None:
            raise DataError(  # pragma: no mutate (message text)
                "probes need labelled data; this data has no labels (give labelled data of the same shape: --data)"
            )
    limited = limit is not None and len(train) > limit
    if limited:
        pick = torch.from_numpy(np.random.default_rng(seed).permutation(len(train))[:limit])
        train_x, train_y = train.x[pick], train.y[pick]
    else:
        train_x, train_y = train.x, train.y
    prep = loaded.preprocessing
    report = probe_model(loaded.model, prep.eval_inputs(train_x), train_y, prep.eval_inputs(test.x), test.y,
                         budgets, seed)  # fmt: skip
    report.split = split
    if limited:
        report.notes.insert(0, f"the probes train on a seeded draw of {limit} of the {len(train)} training examples")
    folder = Path(out_dir) if out_dir is not None else (loaded.run_dir or loaded.model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "probes.json", report.to_dict())
    return report, [folder / "probes.json", plot_probe_accuracy(report, folder / "probes.png")]
