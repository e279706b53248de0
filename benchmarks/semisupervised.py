"""Semi-supervised Fashion-MNIST: M1+M2 (and optionally M2 on pixels) against a supervised classifier of the
same network trained on the same labels, and against the linear probe on a plain VAE's latents.

Protocol: one plain VAE (M1) is trained on the 60,000 training images without labels; its latent means are the
features of M1+M2, of the linear probe and of the supervised classifier "on M1 latents". For every label budget
and label draw (seeds 0..draws-1, classes balanced) each method sees the same labelled examples; accuracy is
measured on the 10,000 test images. No validation labels are used for any choice (that would be more labels
than the budget): the hyperparameters are fixed in advance and printed with the table.

    # the recorded runs (each about 10 CPU-minutes on one thread; the second reuses the first one's M1)
    python benchmarks/semisupervised.py --m1-epochs 3 --m1-hidden 256 256 --m2-epochs 6 --m2-hidden 128 128 \
        --sup-steps 300 --m1-cache runs/m1
    python benchmarks/semisupervised.py --labels 100 --m1-epochs 3 --m1-hidden 256 256 --m2-epochs 24 \
        --m2-hidden 128 128 --sup-steps 300 --m1-cache runs/m1 --graph-reference
    python benchmarks/semisupervised.py --labels 100 --draws 1 --m1-epochs 1 --m2-epochs 1 --no-record  # smoke

The defaults (bigger M1, longer M2) are what a free machine should run; the recorded figures are bounded by a
shared 2-core CPU.

``--graph-reference`` adds label spreading over a k-NN graph of M1's latents and of the pixels' PCA: not a VAE,
but the usual measure of how far a representation's cluster structure alone carries 100 labels. M2 exploits the
same structure (a class mixture over the unlabelled examples), so these rows are a guide to what it can reach
without knowing which changes of an image keep its class (augmentations).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import append_results, markdown_table
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from vaekit.data import load_fashion_mnist
from vaekit.data.labels import balanced_label_indices, keep_labels, oversample_labelled
from vaekit.evaluate.probes import classifier_accuracy, latent_means, linear_probe
from vaekit.io import load
from vaekit.objectives import ELBOObjective, M2Objective
from vaekit.registry import build_model
from vaekit.train import fit


def train_m1(x: Tensor, args: argparse.Namespace) -> torch.nn.Module:
    """The plain VAE (M1) on every training image, labels unused; cached in ``--m1-cache`` when given."""
    cache = Path(args.m1_cache) if args.m1_cache else None
    if cache is not None and (cache / "config.json").is_file():
        print(f"M1: loaded from {cache}", flush=True)
        return load(cache)
    torch.manual_seed(0)
    spec = {"type": "vae", "latent_dim": args.m1_latent, "hidden": args.m1_hidden, "likelihood": "bernoulli"}
    m1 = build_model(spec, [1, 28, 28])
    started = time.perf_counter()
    fit(m1, ELBOObjective(), x, epochs=args.m1_epochs, batch_size=100, lr=1e-3, progress=False, seed=0)
    print(f"M1: {args.m1_epochs} epochs in {time.perf_counter() - started:.0f} s", flush=True)
    if cache is not None:
        m1.save(cache)
    return m1


def supervised(
    spec: dict, shape: list[int], x: Tensor, y: Tensor, test_x: Tensor, test_y: Tensor, steps: int, seed: int
) -> float:
    """The classifier q(y|x) of an M2 of ``spec``, trained alone by cross-entropy on the labelled (x, y)."""
    torch.manual_seed(seed)
    model = build_model(spec, shape)
    params = list(model.classifier.parameters()) + list(model.classifier_head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(len(x), (min(100, len(x)),), generator=gen)
        loss = F.cross_entropy(model.classify(x[batch]).logits, y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return classifier_accuracy(model, test_x, test_y)


def train_m2(
    spec: dict, shape: list[int], x: Tensor, y: Tensor, test_x: Tensor, test_y: Tensor, args, seed: int
) -> float:
    """M2 on (x, y) with y = -1 for the unlabelled examples; the test accuracy of its q(y|x)."""
    torch.manual_seed(seed)
    model = build_model(spec, shape)
    index = oversample_labelled(y, args.labelled_share)
    fit(model, M2Objective(alpha=args.alpha), x[index], y[index], epochs=args.m2_epochs, batch_size=args.batch,
        lr=args.lr, progress=False, seed=seed)  # fmt: skip
    return classifier_accuracy(model, test_x, test_y)


def label_spreading(train: np.ndarray, labels: Tensor, test: np.ndarray, test_y: Tensor, neighbours: int = 10) -> float:
    """Test accuracy of label spreading (Zhou et al. 2004) over a k-nearest-neighbour graph of every training
    example, the budget's labels seeding it (-1 elsewhere); test examples take the label their neighbours
    spread to. A graph method uses the unlabelled examples only through how they cluster: this row measures how
    far the cluster structure of a representation alone carries the labels."""
    from sklearn.semi_supervised import LabelSpreading

    model = LabelSpreading(kernel="knn", n_neighbors=neighbours, alpha=0.99, max_iter=100)
    with warnings.catch_warnings():  # it stops at max_iter before full convergence; the labels have settled
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train, labels.numpy())
    return float((model.predict(test) == test_y.numpy()).mean())


def summary(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    sd = 100 * statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {sd:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=int, nargs="+", default=[100, 600, 1000])
    parser.add_argument("--draws", type=int, default=3, help="label draws (seeds 0..draws-1)")
    parser.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST idx files")
    parser.add_argument("--m1-epochs", type=int, default=10)
    parser.add_argument("--m1-latent", type=int, default=32)
    parser.add_argument("--m1-hidden", type=int, nargs="+", default=[512, 512])
    parser.add_argument("--m1-cache", default=None, help="folder to save M1 in (and reload from)")
    parser.add_argument("--m2-epochs", type=int, default=10)
    parser.add_argument("--m2-latent", type=int, default=16)
    parser.add_argument("--m2-hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--alpha", type=float, default=10.0, help="weight of the classification term")
    parser.add_argument("--labelled-share", type=float, default=0.1, help="labelled share of an M2 epoch")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--sup-steps", type=int, default=2000, help="steps of the supervised classifiers")
    parser.add_argument("--pixels-m2", action="store_true", help="also train M2 on pixels (10x the cost)")
    parser.add_argument(
        "--graph-reference",
        action="store_true",
        help="also run label spreading on M1 latents and on a 50-dim PCA of the pixels",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    data = load_fashion_mnist(args.data_dir)
    x, y = data.train.float(), data.train.y
    test_x, test_y = data.test.float(), data.test.y
    m1 = train_m1(x, args)
    features = torch.from_numpy(latent_means(m1, x)).float()
    test_features = torch.from_numpy(latent_means(m1, test_x)).float()
    mu, sd = features.mean(0), features.std(0).clamp_min(1e-6)  # standardized: one scale for every method
    features, test_features = (features - mu) / sd, (test_features - mu) / sd
    latent_shape = [features.shape[1]]
    m2_common = {"type": "m2", "n_classes": 10, "latent_dim": args.m2_latent, "hidden": args.m2_hidden}
    on_latents = {**m2_common, "likelihood": {"type": "gaussian", "variance": "learned"}}
    on_pixels = {**m2_common, "likelihood": "bernoulli"}

    methods = ["linear probe on M1 latents", "supervised MLP on pixels", "supervised MLP on M1 latents", "M1+M2"]
    if args.pixels_m2:
        methods.append("M2 on pixels")
    graph_rows = ["label spreading on M1 latents", "label spreading on pixels (PCA 50)"]
    if args.graph_reference:
        methods += graph_rows
        pca = PCA(50, random_state=0).fit(x.flatten(1).numpy())
        pixels_pca, test_pixels_pca = pca.transform(x.flatten(1).numpy()), pca.transform(test_x.flatten(1).numpy())
    results: dict[tuple[str, int], list[float]] = {}
    for n in args.labels:
        for draw in range(args.draws):
            index = balanced_label_indices(y, n, seed=draw)
            partial = keep_labels(y, n, seed=draw)
            assert torch.equal(torch.nonzero(partial >= 0).flatten(), index)
            scores = {
                methods[0]: linear_probe(features[index].numpy(), y[index].numpy(), test_features.numpy(),
                                         test_y.numpy(), seed=draw)[0],
                methods[1]: supervised(on_pixels, [1, 28, 28], x[index], y[index], test_x, test_y, args.sup_steps,
                                       draw),
                methods[2]: supervised(on_latents, latent_shape, features[index], y[index], test_features, test_y,
                                       args.sup_steps, draw),
            }  # fmt: skip
            t = time.perf_counter()
            scores["M1+M2"] = train_m2(on_latents, latent_shape, features, partial, test_features, test_y, args, draw)
            m2_seconds = time.perf_counter() - t
            if args.pixels_m2:
                scores["M2 on pixels"] = train_m2(on_pixels, [1, 28, 28], x, partial, test_x, test_y, args, draw)
            if args.graph_reference:
                scores[graph_rows[0]] = label_spreading(features.numpy(), partial, test_features.numpy(), test_y)
                scores[graph_rows[1]] = label_spreading(pixels_pca, partial, test_pixels_pca, test_y)
            for name, value in scores.items():
                results.setdefault((name, n), []).append(value)
            shown = ", ".join(f"{k} {100 * v:.1f}" for k, v in scores.items())
            print(f"labels {n} draw {draw}: {shown} (M1+M2 {m2_seconds:.0f} s)", flush=True)

    header = ["method", *[f"{n} labels" for n in args.labels]]
    rows = [[m, *[summary(results[(m, n)]) for n in args.labels]] for m in methods]
    best_baseline = [max(statistics.fmean(results[(m, n)]) for m in methods[:3]) for n in args.labels]
    gains = ["M1+M2 minus best baseline (points)"]
    gains += [f"{100 * (statistics.fmean(results[('M1+M2', n)]) - b):+.1f}" for n, b in zip(args.labels, best_baseline)]
    rows.append(gains)
    table = markdown_table(header, rows)
    minutes = (time.perf_counter() - began) / 60
    graph_text = (
        " Label spreading (a graph method, not a VAE: the reference for what cluster structure alone gives): "
        "k-NN graph (k = 10, alpha 0.99) over the 60,000 training examples seeded with the budget's labels."
        if args.graph_reference
        else ""
    )
    setup = (
        f"Fashion-MNIST, 60,000 training images (labels hidden except the budget, balanced per class), 10,000 test "
        f"images; test accuracy in %, mean ± sd over {args.draws} label draws. M1: MLP VAE 784-{args.m1_hidden}-"
        f"{args.m1_latent} (Bernoulli on grey levels), {args.m1_epochs} epochs, no labels. M1+M2: M2 on M1's "
        f"standardized latent means, MLPs {args.m2_hidden}, z {args.m2_latent}, Gaussian likelihood (learned "
        f"variance), alpha {args.alpha}, labelled share {args.labelled_share}, {args.m2_epochs} epochs, batch "
        f"{args.batch}, Adam {args.lr}. Supervised baselines: M2's classifier network alone (pixels: MLP "
        f"784-{args.m2_hidden}-10; latents: MLP {args.m1_latent}-{args.m2_hidden}-10), {args.sup_steps} Adam steps "
        f"of cross-entropy on the labelled examples. Linear probe: cross-validated logistic regression on M1's "
        f"latent means.{graph_text} No hyperparameter was tuned on validation labels. Total {minutes:.0f} min on "
        f"{args.threads} CPU thread(s)."
    )
    print(table)
    print(setup)
    if not args.no_record:
        budgets = "/".join(str(n) for n in args.labels)
        title = f"Semi-supervised Fashion-MNIST, {budgets} labels, M2 {args.m2_epochs} epochs"
        title += " (benchmarks/semisupervised.py)"
        append_results(title, f"{setup}\n\n{table}")


if __name__ == "__main__":
    main()
