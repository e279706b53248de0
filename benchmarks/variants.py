"""The VAE variants side by side on Fashion-MNIST, at an equal training budget.

Every variant is a choice of builder arguments and objective arguments on one network size
(MLP 784-256-256, 16 latents, Bernoulli likelihood, dynamic binarization), trained by the one
loop for the same number of epochs on the same training subset from the same seed:

    VAE | beta-VAE (4) | beta-VAE with capacity | cyclical KL | free bits | IWAE (k=5)
    | WAE-MMD (deterministic) | VampPrior | mixture prior | CVAE (labels) | VAE-GAN

Measured on a test subset binarized once with seed 0: the importance-sampled NLL (k=1000) where
the model defines a likelihood with a posterior density, the reconstruction error, the Fréchet
distance of samples to real test images in the features of a small classifier trained on the
training subset (``vaekit.evaluate.quality``), and the active units. The table is printed and
appended to benchmarks/RESULTS.md with this command line.

    python benchmarks/variants.py      # 5,000 images x 3 epochs, 500 test images: ~7 minutes on one thread
    python benchmarks/variants.py --train-size 10000 --epochs 5 --test-size 2000   # ~30 minutes (NLL-bound)
    python benchmarks/variants.py --train-size 2000 --epochs 1 --test-size 200 --k 50   # smoke run
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

import vaekit
from vaekit.data import DynamicBinarize, binarize_fixed, load_fashion_mnist
from vaekit.evaluate import active_units, frechet_distance, posterior_statistics, train_feature_classifier
from vaekit.registry import build
from vaekit.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent
BASE = {"latent_dim": 16, "architecture": "mlp", "hidden": [256, 256], "likelihood": "bernoulli"}


def variants(steps: int) -> dict[str, tuple[dict, dict]]:
    """Name -> (model spec, objective spec); ``steps`` is the total number of training steps."""
    return {
        "VAE": ({"type": "vae", **BASE}, {"type": "elbo"}),
        "beta-VAE (beta=4)": ({"type": "vae", **BASE}, {"type": "elbo", "beta": 4.0}),
        "beta-VAE capacity (C->25)": (
            {"type": "vae", **BASE},
            {"type": "elbo", "capacity": {"type": "capacity", "max_capacity": 25.0, "steps": steps},
             "capacity_weight": 100.0},
        ),
        "cyclical KL (4 cycles)": (
            {"type": "vae", **BASE},
            {"type": "elbo", "beta": {"type": "cyclical", "period": max(1, steps // 4), "ratio": 0.5}},
        ),
        "free bits (0.25/dim)": ({"type": "vae", **BASE}, {"type": "elbo", "free_bits": 0.25}),
        "IWAE (k=5)": ({"type": "vae", **BASE}, {"type": "iwae", "k": 5}),
        "WAE-MMD (deterministic)": ({"type": "wae", **BASE}, {"type": "wae", "weight": 10.0}),
        "VampPrior (50)": ({"type": "vae", **BASE, "prior": {"type": "vamp", "components": 50}}, {"type": "elbo"}),
        "mixture prior (10)": (
            {"type": "vae", **BASE, "prior": {"type": "mixture", "components": 10}}, {"type": "elbo"}
        ),
        "CVAE (labels)": ({"type": "vae", **BASE, "n_classes": 10}, {"type": "elbo"}),
        "VAE-GAN": (
            {"type": "vaegan", **BASE, "discriminator_hidden": 256},
            {"type": "vaegan", "pixel_weight": 1.0, "gamma": 0.1},
        ),
    }  # fmt: skip


@torch.no_grad()
def reconstruction_error(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> float:
    """Mean over images of the summed squared error between x and the decoded posterior mean."""
    out = []
    for i in range(0, len(x), 500):
        yb = None if y is None else y[i : i + 500]
        out.append((model.reconstruct(x[i : i + 500], yb) - x[i : i + 500]).pow(2).flatten(1).sum(1))
    return float(torch.cat(out).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=5_000)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--k", type=int, default=1000, help="importance samples of the test NLL")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", help="run only these variants (names as in the table)")
    parser.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST idx files")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_fashion_mnist(args.data_dir)
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(data.train), generator=gen)[: args.train_size]
    train_x, train_y = data.train.x[pick], data.train.y[pick]
    test_grey = data.test.float()[: args.test_size]
    test_x, test_y = binarize_fixed(data.test.x[: args.test_size], 256, seed=0), data.test.y[: args.test_size]
    batch_size, lr = 100, 1e-3
    steps = args.epochs * -(-args.train_size // batch_size)

    start = time.perf_counter()
    classifier = train_feature_classifier(train_x.float() / 255, train_y, epochs=5, seed=0)
    print(f"feature classifier trained in {time.perf_counter() - start:.0f}s", flush=True)
    reference = frechet_distance(classifier, test_grey, data.train.float()[pick[: args.test_size]])

    rows = []
    for name, (model_spec, objective_spec) in variants(steps).items():
        if args.only and name not in args.only:
            continue
        torch.manual_seed(0)
        model = vaekit.build_model(model_spec, [1, 28, 28])
        objective = build("objective", objective_spec)
        conditional = model.conditioner is not None
        start = time.perf_counter()
        history = fit(
            model, objective, train_x, train_y if conditional else None, epochs=args.epochs,
            batch_size=batch_size, lr=lr, seed=0, transform=DynamicBinarize(256),
        )  # fmt: skip
        seconds = time.perf_counter() - start
        assert all(math.isfinite(v) for v in history.train[-1].values()), name
        model.eval()
        y = test_y if conditional else None
        torch.manual_seed(0)
        if model_spec.get("posterior", "deterministic" if model_spec["type"] == "wae" else "gaussian") == "gaussian":
            nll = f"{-float(vaekit.log_likelihood(model, test_x, y, k=args.k).mean()):.2f}"
        else:
            nll = "n/a"  # a point-mass posterior has no density to weigh samples with
        rec = reconstruction_error(model, test_x, y)
        samples = model.sample(len(test_x), y=y)
        fd = frechet_distance(classifier, test_grey, samples)
        means, _ = posterior_statistics(model, test_x, y)
        units, _ = active_units(means)
        rows.append([name, nll, f"{rec:.1f}", f"{fd:.1f}", f"{units}/{model.latent_dim}", f"{seconds:.0f}"])
        print(" | ".join(rows[-1]), flush=True)

    header = [
        "variant", f"test NLL (k={args.k}, nats)", "recon. error (sum sq.)", "Fréchet distance", "active units",
        "train s",
    ]  # fmt: skip
    table = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    )
    print(table)
    note = (
        f"Fashion-MNIST, equal budget: {args.train_size} training images (random subset, seed 0), {args.epochs} "
        f"epochs, batch {batch_size}, Adam {lr}, dynamic binarization; MLP 784-256-256, 16 latents, Bernoulli "
        f"likelihood. Test: first {args.test_size} test images binarized once (seed 0). NLL by the one "
        f"importance-sampled estimator (CVAE: log p(x|y); VAE-GAN: of its pixel likelihood, which is not its "
        f"training objective; WAE: n/a, point-mass posterior). Fréchet distance: {args.test_size} samples (likelihood "
        f"means) vs the grey test images, in the features of a small conv classifier trained 5 epochs on the "
        f"training subset (two real sets of that size: {reference:.1f}). {args.threads} CPU threads on a shared "
        "2-core machine: timings are noisy."
    )
    if not args.no_results:
        common.append_results(
            "VAE variants on Fashion-MNIST at an equal budget (benchmarks/variants.py)", f"{note}\n\n{table}"
        )


if __name__ == "__main__":
    main()
