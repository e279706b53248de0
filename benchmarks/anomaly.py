"""Anomaly detection benchmark: vaekit's VAEDetector against ten PyOD detectors, on real and synthetic data.

Detectors, all at their defaults (PyOD, the ``bench`` extra): kNN with the largest and with the mean
distance to the 5 nearest training examples, LOF, OCSVM, Isolation Forest, ECOD, COPOD, and PyOD's
neural AutoEncoder, VAE and DeepSVDD. They all see the same input: tables standardized with the training
mean and standard deviation (distance-based detectors are meaningless on raw mixed units), images as
flattened [0, 1] pixels. vaekit gets the raw data and preprocesses it itself the same way.

Data (see ``anomaly_data.py``): breast cancer, wine, iris, digits and Fashion-MNIST one-class tasks, and
ADBench's four synthetic anomaly types (local, global, clustered, dependency) generated from four real
data sets: 21 data sets. The "tuning" sets chose vaekit's defaults; the others only test them.

Per data set the table gives each detector's mean ROC AUC / average precision over its tasks; then the
mean ROC AUC, mean AP and mean rank (1 = best ROC AUC on a data set, ties shared) over the data sets,
and the total fit and score time.

    python benchmarks/anomaly.py                      # everything (about 15 min on one CPU core)
    python benchmarks/anomaly.py --datasets tuning --methods vaekit,knn --variant latent='{"score": "elbo"}'
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from anomaly_data import Task, all_dataset_names, tasks_for  # noqa: E402

from vaekit.anomaly import VAEDetector

# The sets on which vaekit's default detector was chosen; all the others only test the choice. The three
# other dependency sets joined them when the table default changed to the linear VAEs: the diagnosis of their
# gap (benchmarks/RESULTS.md) is what led to the normal-score input, so they no longer test it blind.
TUNING_SETS = (
    "breast_cancer",
    "wine",
    "digits",
    "local-breast_cancer",
    "global-breast_cancer",
    "clustered-breast_cancer",
    "dependency-breast_cancer",
    "dependency-wine",
    "dependency-diabetes",
    "dependency-digits64",
)
IMAGE_SETS = ("digits", "fashion-mnist")
CLASSICAL = ("kNN", "kNN (mean)", "LOF", "OCSVM", "IForest", "ECOD", "COPOD")
NEURAL = ("PyOD AutoEncoder", "PyOD VAE", "PyOD DeepSVDD")

# A method: (task, training seed) -> {label: (scores on task.test, fit seconds, score seconds)}
Method = Callable[[Task, int], dict[str, tuple[np.ndarray, float, float]]]


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float64)


def baseline_inputs(task: Task) -> tuple[np.ndarray, np.ndarray]:
    """Training and test input of the PyOD detectors: standardized tables, flattened [0, 1] images."""
    train, test = _flat(task.train), _flat(task.test)
    if task.train.ndim == 2:
        mean, std = train.mean(0), train.std(0)
        std = np.where(std > 0, std, 1.0)
        train, test = (train - mean) / std, (test - mean) / std
    return train, test


def pyod_factory(name: str, n_samples: int, n_features: int, seed: int):  # noqa: ANN201  (a PyOD detector)
    """A PyOD detector at its defaults (only the seed and verbosity are set, and the neural detectors' batch size
    is capped at the training set's size: their loaders drop partial batches, so a batch of 32 on 29 rows
    would train nothing)."""
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.copod import COPOD
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.ocsvm import OCSVM
    from pyod.models.vae import VAE

    batch = min(32, n_samples)
    factories = {
        "kNN": lambda: KNN(),
        "kNN (mean)": lambda: KNN(method="mean"),
        "LOF": lambda: LOF(),
        "OCSVM": lambda: OCSVM(),
        "IForest": lambda: IForest(random_state=seed),
        "ECOD": lambda: ECOD(),
        "COPOD": lambda: COPOD(),
        "PyOD AutoEncoder": lambda: AutoEncoder(random_state=seed, verbose=0, batch_size=batch),
        "PyOD VAE": lambda: VAE(random_state=seed, verbose=0, batch_size=batch),
        "PyOD DeepSVDD": lambda: DeepSVDD(n_features=n_features, random_state=seed, verbose=0, batch_size=batch),
    }
    return factories[name]()


def timed(call: Callable[[], object]) -> tuple[object, float]:
    """``call()`` and its wall time, with Python's garbage collector run first and paused during the call (as
    ``timeit`` does): a collection of the whole process's objects lands at random and costs tens of ms, more
    than a small table's whole fit."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = call()
        return result, time.perf_counter() - start
    finally:
        gc.enable()


def pyod_method(name: str) -> Method:
    def run(task: Task, seed: int) -> dict[str, tuple[np.ndarray, float, float]]:
        train, test = baseline_inputs(task)
        detector = pyod_factory(name, *train.shape, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, fit_s = timed(lambda: detector.fit(train))
            scores, score_s = timed(lambda: detector.decision_function(test))
        return {name: (np.asarray(scores, dtype=np.float64), fit_s, score_s)}

    return run


def vaekit_method(label: str, overrides: dict) -> Method:
    def run(task: Task, seed: int) -> dict[str, tuple[np.ndarray, float, float]]:
        detector, fit_s = timed(lambda: VAEDetector(**{"seed": seed, **overrides}).fit(task.train))
        scores, score_s = timed(lambda: detector.decision_function(task.test))
        return {label: (scores, fit_s, score_s)}

    return run


# ---------------------------------------------------------------------------------- running
def _dataset_list(spec: str) -> list[str]:
    names = all_dataset_names()
    if spec == "all":
        return names
    if spec == "tuning":
        return [d for d in names if d in TUNING_SETS]
    if spec == "test":
        return [d for d in names if d not in TUNING_SETS]
    if spec == "tables":
        return [d for d in names if d not in IMAGE_SETS]
    return [d.strip() for d in spec.split(",")]


def _load_cache(path: Path | None) -> dict:
    return json.loads(path.read_text()) if path is not None and path.is_file() else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="all", help="'all', 'tuning', 'test', 'tables' or a comma list of names")
    parser.add_argument(
        "--methods", default="all", help="'all' or a comma list of: vaekit, " + ", ".join(CLASSICAL + NEURAL)
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=JSON: also run VAEDetector with these overrides, labelled NAME (repeatable)",
    )
    parser.add_argument("--fashion-train", type=int, default=1000, help="Fashion-MNIST training images per class")
    parser.add_argument("--fashion-test", type=int, default=200, help="Fashion-MNIST test images per class")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data splits and synthetic data")
    parser.add_argument("--model-seed", type=int, default=0, help="training seed of every detector")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy shared CPU)")
    parser.add_argument("--cache", type=Path, default=None, help="JSON file caching the PyOD detectors' results")
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # The first Adam imports torch._dynamo (seconds, once per process): done here so no detector's fit pays it.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    chosen = list(CLASSICAL + NEURAL) if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    if args.methods == "all":
        chosen.insert(0, "vaekit")
    methods: dict[str, Method] = {}
    for name in chosen:
        if name == "vaekit":
            methods[name] = vaekit_method("vaekit", {})
        elif name in CLASSICAL + NEURAL:
            methods[name] = pyod_method(name)
        else:
            raise SystemExit(f"unknown method {name!r}; valid: vaekit, {', '.join(CLASSICAL + NEURAL)}")
    for spec in args.variant:
        label, _, overrides = spec.partition("=")
        methods[f"vaekit {label}"] = vaekit_method(f"vaekit {label}", json.loads(overrides or "{}"))

    # One untimed fit of every method first: the first call in a process pays one-off costs (imports, first
    # kernels; 45 ms for PyOD's kNN against 2 ms after), which would otherwise land on the first data set.
    rng = np.random.default_rng(0)
    warm_up = Task("warm-up", "", rng.normal(size=(40, 4)), rng.normal(size=(20, 4)), np.r_[np.zeros(10), np.ones(10)])
    for run in methods.values():
        run(warm_up, args.model_seed)

    cache = _load_cache(args.cache)
    data_key = f"{args.seed}|{args.model_seed}|{args.fashion_train}|{args.fashion_test}"
    # (data set, task) -> label -> (ROC AUC, AP, fit s, score s)
    rows: dict[tuple[str, str], dict[str, tuple[float, float, float, float]]] = {}
    started = time.time()
    for dataset in _dataset_list(args.datasets):
        for task in tasks_for(dataset, args.seed, args.fashion_train, args.fashion_test):
            for method, run in methods.items():
                key = f"{dataset}|{task.name}|{method}|{data_key}"
                if method in CLASSICAL + NEURAL and key in cache:
                    rows.setdefault((dataset, task.name), {})[method] = tuple(cache[key])
                    continue
                for label, (scores, fit_s, score_s) in run(task, args.model_seed).items():
                    auc = roc_auc_score(task.test_is_anomaly, scores)
                    ap = average_precision_score(task.test_is_anomaly, scores)
                    rows.setdefault((dataset, task.name), {})[label] = (auc, ap, fit_s, score_s)
                    if method in CLASSICAL + NEURAL:
                        cache[key] = [auc, ap, fit_s, score_s]
            line = "  ".join(f"{k}: {v[0]:.4f}" for k, v in rows[(dataset, task.name)].items())
            print(f"{dataset} {task.name} ({len(task.train)} train / {len(task.test)} test): {line}", flush=True)
        if args.cache is not None:
            partial = args.cache.with_suffix(".tmp")
            partial.write_text(json.dumps(cache))
            partial.replace(args.cache)  # never a half-written cache
    table = format_table(rows, args, time.time() - started)
    print(table)
    if not args.no_append:
        command = "python benchmarks/anomaly.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        common.add_entry(
            f"Anomaly detection: vaekit against PyOD's detectors ({args.datasets} data sets)",
            f"`{command.strip()}`\n\n{table}",
        )


# ---------------------------------------------------------------------------------- reporting
def summarize(rows: dict) -> tuple[list[str], list[str], dict[str, dict[str, np.ndarray]]]:
    """(labels, data sets, {data set: {label: mean (ROC AUC, AP, fit s, score s) over its tasks}})."""
    labels = list(dict.fromkeys(label for scores in rows.values() for label in scores))
    datasets = list(dict.fromkeys(d for d, _ in rows))
    means = {}
    for dataset in datasets:
        keys = [k for k in rows if k[0] == dataset]
        per = {lab: np.array([rows[k][lab] for k in keys]) for lab in labels if all(lab in rows[k] for k in keys)}
        # AUC and AP: means over the tasks; times: totals over the tasks.
        means[dataset] = {lab: np.concatenate([v[:, :2].mean(0), v[:, 2:].sum(0)]) for lab, v in per.items()}
    return labels, datasets, means


def ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank 1 for the highest value; ties share the mean of their ranks."""
    from scipy.stats import rankdata

    labels = list(values)
    order = rankdata([-values[lab] for lab in labels], method="average")
    return dict(zip(labels, order))


def format_table(rows: dict, args: argparse.Namespace, total: float) -> str:
    """Markdown tables: per data set ROC AUC / AP, then means, mean rank, times and vaekit's gap to the best
    classical detector."""
    labels, datasets, means = summarize(rows)
    complete = [d for d in datasets if all(lab in means[d] for lab in labels)]
    rank_sum = {lab: 0.0 for lab in labels}
    for d in complete:
        for lab, r in ranks({lab: means[d][lab][0] for lab in labels}).items():
            rank_sum[lab] += r
    n = max(1, len(complete))
    header = "| data set | set | tasks | " + " | ".join(labels) + " |"
    rule = "|---|---|---|" + "---|" * len(labels)
    lines = [
        f"Data: real one-class tasks (tables: 60% of the normal class trains; digits: every training image of the "
        f"digit; Fashion-MNIST: {args.fashion_train} training images per class, {args.fashion_test} test images "
        f"per class, i.e. a stratified {10 * args.fashion_test}-image subsample of the test split) and ADBench's "
        "synthetic anomaly types on four real bases. Every detector at its defaults; PyOD detectors on standardized "
        f"tables / [0, 1] pixels. Data seed {args.seed}, training seed {args.model_seed}. Shared 2-core CPU machine, "
        f"{args.threads} torch thread(s); total {total:.0f} s.",
        "",
        "Set: **tune** = the data sets that chose vaekit's defaults; test = the others, which only tested them.",
        "",
        "ROC AUC / average precision (mean over a data set's tasks; best ROC AUC in bold):",
        "",
        header,
        rule,
    ]
    for d in datasets:
        best = max(v[0] for v in means[d].values())
        cells = []
        for lab in labels:
            if lab not in means[d]:
                cells.append("-")
                continue
            auc, ap = means[d][lab][:2]
            text = f"{auc:.4f}"
            cells.append(f"{'**' + text + '**' if auc == best else text} / {ap:.3f}")
        kind = "**tune**" if d in TUNING_SETS else "test"
        n_tasks = len([k for k in rows if k[0] == d])
        lines.append(f"| {d} | {kind} | {n_tasks} | " + " | ".join(cells) + " |")

    def mean_over(sets: list[str], lab: str, i: int) -> float:
        return float(np.mean([means[d][lab][i] for d in sets])) if sets else float("nan")

    tuning = [d for d in complete if d in TUNING_SETS]
    testing = [d for d in complete if d not in TUNING_SETS]
    summary = [
        ("mean ROC AUC, all sets", lambda lab: f"{mean_over(complete, lab, 0):.4f}"),
        ("mean ROC AUC, tuning sets", lambda lab: f"{mean_over(tuning, lab, 0):.4f}"),
        ("mean ROC AUC, test sets", lambda lab: f"{mean_over(testing, lab, 0):.4f}"),
        ("mean AP, all sets", lambda lab: f"{mean_over(complete, lab, 1):.4f}"),
        ("mean rank (ROC AUC), all sets", lambda lab: f"{rank_sum[lab] / n:.2f}"),
        ("fit time, total s", lambda lab: f"{sum(means[d][lab][2] for d in complete):.1f}"),
        ("score time, total s", lambda lab: f"{sum(means[d][lab][3] for d in complete):.1f}"),
    ]
    if "kNN" in labels:
        tables = [d for d in complete if d not in IMAGE_SETS]
        summary += [
            ("fit time / kNN's, median over tables", lambda lab: f"{_median_ratio(means, tables, lab):.1f}"),
            ("fit time / kNN's, largest over tables", lambda lab: f"{_max_ratio(means, tables, lab):.1f}"),
        ]
    lines += ["", f"Summary over the {len(complete)} data sets every detector ran on:", "", header, rule]
    lines += [f"| {name} | | | " + " | ".join(fn(lab) for lab in labels) + " |" for name, fn in summary]
    classical = [lab for lab in labels if lab in CLASSICAL]
    ours = [lab for lab in labels if lab.startswith("vaekit")]
    if classical and ours:
        names = ", ".join(classical)
        lines += ["", f"ROC AUC minus the best classical detector's ({names}) on each data set:", ""]
        lines += ["| data set | best classical | " + " | ".join(ours) + " |", "|---|---|" + "---|" * len(ours)]
        for d in complete:
            best_name = max(classical, key=lambda lab: means[d][lab][0])
            gaps = [f"{means[d][lab][0] - means[d][best_name][0]:+.4f}" for lab in ours]
            lines.append(f"| {d} | {best_name} {means[d][best_name][0]:.4f} | " + " | ".join(gaps) + " |")
    table_sets = [d for d in complete if d not in IMAGE_SETS]
    if table_sets and ours and "kNN" in labels:
        lines += ["", "Fit time on the tables (ms, total over a data set's tasks; in brackets: / kNN's):", ""]
        lines += ["| data set | kNN | " + " | ".join(ours) + " |", "|---|---|" + "---|" * len(ours)]
        for d in table_sets:
            knn = means[d]["kNN"][2]
            cells = [f"{1e3 * means[d][lab][2]:.1f} ({means[d][lab][2] / max(knn, 1e-9):.1f}x)" for lab in ours]
            lines.append(f"| {d} | {1e3 * knn:.1f} | " + " | ".join(cells) + " |")
    image_sets = [d for d in complete if d in IMAGE_SETS]
    if image_sets and ours and "kNN" in labels:
        lines += ["", "Fit time on the images (s, total over a data set's tasks):", ""]
        lines += ["| data set | kNN | " + " | ".join(ours) + " |", "|---|---|" + "---|" * len(ours)]
        for d in image_sets:
            lines.append(
                f"| {d} | {means[d]['kNN'][2]:.2f} | " + " | ".join(f"{means[d][lab][2]:.1f}" for lab in ours) + " |"
            )
    return "\n".join(lines) + "\n"


def _fit_ratios(means: dict, sets: list[str], lab: str) -> list[float]:
    """``lab``'s fit time over kNN's on each of ``sets``."""
    return [means[d][lab][2] / max(means[d]["kNN"][2], 1e-9) for d in sets]


def _median_ratio(means: dict, sets: list[str], lab: str) -> float:
    return float(np.median(_fit_ratios(means, sets, lab))) if sets else np.nan


def _max_ratio(means: dict, sets: list[str], lab: str) -> float:
    return float(max(_fit_ratios(means, sets, lab))) if sets else np.nan


if __name__ == "__main__":
    main()
