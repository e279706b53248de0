"""One-class anomaly detection benchmark: vaekit's VAEDetector against PyOD's VAE, Isolation Forest
and a plain autoencoder, on the same data in the same run.

Protocol: for each class of a data set in turn, train on (a subset of) that class alone, score a
test set holding unseen normal examples and all other classes (the anomalies), and report ROC AUC
and average precision per class and their mean. Breast cancer is one task (benign normal,
malignant anomalous). The table is printed and appended to benchmarks/RESULTS.md.

    python benchmarks/anomaly.py                                  # everything (~10 min of CPU)
    python benchmarks/anomaly.py --datasets breast_cancer,wine --all-scores
    python benchmarks/anomaly.py --datasets digits --model-seeds 0,10,20   # mean ± SE over training seeds
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from vaekit.anomaly import VAEDetector
from vaekit.anomaly.defaults import default_plan
from vaekit.anomaly.preprocessing import Preprocessor
from vaekit.objectives import ELBOObjective
from vaekit.registry import build_model
from vaekit.train import fit

TABULAR_SETS = ("breast_cancer", "wine", "iris")
IMAGE_SETS = ("digits", "fashion-mnist")


ALL_DATASETS = "breast_cancer,wine,iris,digits,fashion-mnist"


@dataclass
class Task:
    """One one-class problem: train on ``train`` (normal only), score ``test`` with labels (1 = anomaly)."""

    dataset: str
    name: str
    train: np.ndarray
    test: np.ndarray
    test_is_anomaly: np.ndarray


def _one_class_split(x: np.ndarray, y: np.ndarray, normal: int, fraction: float, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(np.nonzero(y == normal)[0])
    n_train = int(round(fraction * len(idx)))
    test = np.concatenate([idx[n_train:], np.nonzero(y != normal)[0]])
    return x[idx[:n_train]], x[test], (y[test] != normal).astype(int)


def tabular_tasks(name: str, seed: int) -> list[Task]:
    """Breast cancer (benign normal) or one task per class of wine / iris; 60% of the normal class trains."""
    from sklearn import datasets

    if name == "breast_cancer":
        x, y = datasets.load_breast_cancer(return_X_y=True)
        return [Task(name, "benign", *_one_class_split(x, y, 1, 0.6, seed))]
    loader = {"wine": datasets.load_wine, "iris": datasets.load_iris}[name]
    x, y = loader(return_X_y=True)
    return [Task(name, f"class {c}", *_one_class_split(x, y, c, 0.6, seed)) for c in np.unique(y)]


def image_tasks(name: str, train_per_class: int, seed: int) -> list[Task]:
    """One task per class: train on up to ``train_per_class`` images of it; the whole test split scores."""
    from vaekit.data import load_digits, load_fashion_mnist

    data = load_digits(seed) if name == "digits" else load_fashion_mnist()
    train, test = data.train, data.test
    scale = float(train.levels - 1)
    tx, ty = train.x.numpy()[:, 0] / scale, train.y.numpy()
    sx, sy = test.x.numpy()[:, 0] / scale, test.y.numpy()
    rng = np.random.default_rng(seed)
    tasks = []
    for c in range(int(data.n_classes)):
        idx = rng.permutation(np.nonzero(ty == c)[0])[:train_per_class]
        tasks.append(Task(name, f"class {c}", tx[idx].astype(np.float32), sx.astype(np.float32), (sy != c).astype(int)))
    return tasks


# ---------------------------------------------------------------------------------- methods
Method = Callable[[Task, int], dict[str, np.ndarray]]  # (task, training seed) -> scores per label


def vaekit_detector(overrides: dict, all_scores: bool) -> Method:
    def run(task: Task, seed: int) -> dict[str, np.ndarray]:
        detector = VAEDetector(**{"seed": seed, **overrides}).fit(task.train)
        out = {"vaekit VAE": detector.decision_function(task.test)}
        if all_scores:
            for score in ("elbo", "reconstruction_nll", "nll", "reconstruction"):
                out[f"vaekit VAE ({score})"] = detector.decision_function(task.test, score=score)
        return out

    return run


def plain_autoencoder(task: Task, seed: int = 0) -> dict[str, np.ndarray]:
    """A deterministic AE of the detector's default size, trained with the same loop on the MSE."""
    prep = Preprocessor.fit(task.train)
    train = torch.from_numpy(prep.transform(task.train))
    plan = default_plan(prep.kind, prep.data_shape, len(train))
    spec = {**plan.model, "posterior": "deterministic", "likelihood": {"type": "gaussian", "variance": "fixed"}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model({"type": "vae", **spec}, prep.data_shape)
        # beta = 0: the loss is the Gaussian reconstruction term alone, i.e. the MSE up to constants.
        fit(
            model,
            ELBOObjective(beta=0.0),
            train,
            epochs=plan.epochs,
            batch_size=plan.batch_size,
            seed=seed,
            device="cpu",
            progress=False,
        )
    test = torch.from_numpy(prep.transform(task.test))
    with torch.no_grad():
        model.eval()
        error = ((model.reconstruct(test) - test) ** 2).flatten(1).sum(1)
    return {"plain AE": error.double().numpy()}


def pyod_vae(task: Task, seed: int = 0) -> dict[str, np.ndarray]:
    """PyOD's VAE with its defaults (it standardizes the features itself)."""
    from pyod.models.vae import VAE

    model = VAE(verbose=0, random_state=seed, batch_size=min(32, len(task.train)))  # its loader drops partial batches
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(task.train.reshape(len(task.train), -1))
        return {"PyOD VAE": model.decision_function(task.test.reshape(len(task.test), -1))}


def isolation_forest(task: Task, seed: int = 0) -> dict[str, np.ndarray]:
    """scikit-learn's Isolation Forest with its defaults."""
    forest = IsolationForest(random_state=seed).fit(task.train.reshape(len(task.train), -1))
    return {"Isolation Forest": -forest.score_samples(task.test.reshape(len(task.test), -1))}


# ---------------------------------------------------------------------------------- reporting
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=ALL_DATASETS)
    parser.add_argument("--methods", default="vaekit,pyod,iforest,ae")
    parser.add_argument("--fashion-train", type=int, default=1000, help="training images per class")
    parser.add_argument("--classes", default=None, help="comma list of class indices to run (default: all)")
    parser.add_argument("--all-scores", action="store_true", help="also report each VAE score separately")
    parser.add_argument("--vaekit-args", default="{}", help="JSON overrides of VAEDetector arguments")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data splits")
    parser.add_argument(
        "--model-seeds",
        default="0",
        help="comma list of training seeds: every method trains once per seed, the tables give the mean "
        "(± standard error over seeds); keep them 5 apart or more, vaekit's ensembles use seed..seed+4",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy shared CPU)")
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    methods: dict[str, Method] = {
        "vaekit": vaekit_detector(json.loads(args.vaekit_args), args.all_scores),
        "pyod": pyod_vae,
        "iforest": isolation_forest,
        "ae": plain_autoencoder,
    }
    chosen = [m.strip() for m in args.methods.split(",")]
    model_seeds = [int(s) for s in args.model_seeds.split(",")]
    # (data set, task) -> label -> one (ROC AUC, AP) per training seed
    rows: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = {}
    seconds: dict[str, float] = {}
    started = time.time()
    for dataset in [d.strip() for d in args.datasets.split(",")]:
        if dataset in TABULAR_SETS:
            tasks = tabular_tasks(dataset, args.seed)
        elif dataset in IMAGE_SETS:
            tasks = image_tasks(dataset, args.fashion_train if dataset == "fashion-mnist" else 10**9, args.seed)
        else:
            raise SystemExit(f"unknown data set {dataset!r}; valid: {TABULAR_SETS + IMAGE_SETS}")
        if args.classes and dataset in IMAGE_SETS + ("wine", "iris"):
            keep = {f"class {c}" for c in args.classes.split(",")}
            tasks = [t for t in tasks if t.name in keep]
        for task in tasks:
            for method in chosen:
                t0 = time.time()
                for seed in model_seeds:
                    for label, scores in methods[method](task, seed).items():
                        auc = roc_auc_score(task.test_is_anomaly, scores)
                        ap = average_precision_score(task.test_is_anomaly, scores)
                        rows.setdefault((dataset, task.name), {}).setdefault(label, []).append((auc, ap))
                seconds[method] = seconds.get(method, 0.0) + time.time() - t0
            line = "  ".join(f"{k}: {np.mean(v, axis=0)[0]:.4f}" for k, v in rows[(dataset, task.name)].items())
            print(f"{dataset} {task.name} ({len(task.train)} train / {len(task.test)} test): {line}", flush=True)
    table = format_table(rows, seconds, args, time.time() - started)
    print(table)
    if not args.no_append:
        command = "python benchmarks/anomaly.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        chosen = "all data sets" if args.datasets == ALL_DATASETS else args.datasets.replace(",", ", ")
        common.add_entry(f"Anomaly detection, one-class protocol: {chosen}", f"`{command.strip()}`\n\n{table}")


def format_table(rows: dict, seconds: dict[str, float], args: argparse.Namespace, total: float) -> str:
    """Markdown: per data set, mean ROC AUC / mean AP of each method (best AUC in bold), then per class.

    With several training seeds every figure is the mean over the seeds, and the data-set means carry
    the standard error over seeds of the mean ROC AUC.
    """
    labels = list(dict.fromkeys(label for scores in rows.values() for label in scores))
    datasets = list(dict.fromkeys(d for d, _ in rows))
    n_seeds = len(args.model_seeds.split(","))
    lines = [
        f"Training budget: tables 60% of the normal class; digits all training images of the class; "
        f"Fashion-MNIST {args.fashion_train} training images per class, full 10,000-image test set. "
        f"Defaults of every method. Shared 2-core CPU machine, {args.threads} torch thread(s); total {total:.0f} s; "
        + ", ".join(f"{m} {s:.0f} s" for m, s in seconds.items())
        + f". Training seeds: {args.model_seeds}"
        + (" (each figure is the mean over them; ± the standard error over seeds)." if n_seeds > 1 else "."),
        "",
        "Mean ROC AUC / mean average precision over the one-class tasks (anomaly = positive):",
        "",
        "| data set | tasks | " + " | ".join(labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for dataset in datasets:
        keys = [k for k in rows if k[0] == dataset]
        complete = [lab for lab in labels if all(lab in rows[k] for k in keys)]
        # (seed, (auc, ap)): the mean over the tasks for each training seed
        per_seed = {lab: np.mean([rows[k][lab] for k in keys], axis=0) for lab in complete}
        means = {lab: v.mean(0) for lab, v in per_seed.items()}
        best = max(v[0] for v in means.values())
        cells = []
        for lab in labels:
            if lab not in means:
                cells.append("-")
                continue
            # Four decimals: near the ceiling (digits) the methods differ in the fourth.
            auc = f"**{means[lab][0]:.4f}**" if means[lab][0] == best else f"{means[lab][0]:.4f}"
            if n_seeds > 1:
                auc += f" ± {per_seed[lab][:, 0].std(ddof=1) / np.sqrt(n_seeds):.4f}"
            cells.append(f"{auc} / {means[lab][1]:.4f}")
        lines.append(f"| {dataset} | {len(keys)} | " + " | ".join(cells) + " |")
    lines += ["", "ROC AUC per task:", "", "| task | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for (dataset, name), scores in rows.items():
        cells = [f"{np.mean(scores[lab], axis=0)[0]:.3f}" if lab in scores else "-" for lab in labels]
        lines.append(f"| {dataset} {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
