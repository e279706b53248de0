"""Test log-likelihood of the `mlp-vae` reference setup on dynamically binarized Fashion-MNIST.

Trains the reference VAE with the ELBO, and the same network with the IWAE bound (k=5 and k=50), for the
same budget of epochs through ``vaekit.train.fit``; then evaluates each on the test set binarized once
with seed 0: importance-sampled NLL (k=1000 and k=5000) with the time each evaluation took, ELBO, KL
and active units.

    python benchmarks/likelihood.py --epochs 2 --test-size 1000
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import DynamicBinarize, binarize_fixed  # noqa: E402
from vaekit.evaluate import active_units, elbo_terms, log_likelihood, posterior_statistics  # noqa: E402
from vaekit.train import fit  # noqa: E402

OBJECTIVES = {
    "elbo": lambda: vaekit.ELBOObjective(),
    "iwae5": lambda: vaekit.IWAEObjective(k=5),
    "iwae50": lambda: vaekit.IWAEObjective(k=50),
}


def train(name: str, x: torch.Tensor, levels: int, epochs: int, seed: int) -> tuple[torch.nn.Module, float]:
    """The reference model trained with objective ``name``; returns it and the training seconds."""
    torch.manual_seed(seed)
    model = vaekit.build_vae([1, 28, 28], latent_dim=32, hidden=(512, 512))
    extra = {"progress": False} if "progress" in inspect.signature(fit).parameters else {}
    start = time.perf_counter()
    fit(
        model,
        OBJECTIVES[name](),
        x,
        epochs=epochs,
        batch_size=128,
        lr=1e-3,
        seed=seed,
        transform=DynamicBinarize(levels),
        **extra,
    )
    return model.eval(), time.perf_counter() - start


def evaluate(model: torch.nn.Module, x: torch.Tensor, ks: list[int], seed: int) -> dict[str, float]:
    """NLL for each k (and its evaluation time), ELBO, KL and active units on ``x``."""
    result: dict[str, float] = {}
    for k in ks:
        torch.manual_seed(seed)
        start, cpu_start = time.perf_counter(), time.process_time()
        ll = log_likelihood(model, x, k=k)
        result[f"nll_k{k}"] = -float(ll.mean())
        result[f"seconds_k{k}"] = time.perf_counter() - start
        result[f"cpu_seconds_k{k}"] = time.process_time() - cpu_start
    torch.manual_seed(seed)
    terms = elbo_terms(model, x)
    means, _ = posterior_statistics(model, x)
    result["elbo"] = float(terms["elbo"])
    result["kl"] = float(terms["kl"])
    result["active_units"] = active_units(means)[0]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="training budget: epochs for every model")
    parser.add_argument("--train-size", type=int, default=0, help="train on the first N images (0: all 60,000)")
    parser.add_argument("--test-size", type=int, default=1000, help="evaluate on the first N test images")
    parser.add_argument("--ks", default="1000,5000", help="importance samples for the NLL, comma-separated")
    parser.add_argument("--models", default="elbo,iwae5,iwae50", help=f"objectives among {sorted(OBJECTIVES)}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ks = [int(k) for k in args.ks.split(",")]
    names = args.models.split(",")
    unknown = sorted(set(names) - set(OBJECTIVES))
    if unknown:
        parser.error(f"unknown models {unknown}; valid: {sorted(OBJECTIVES)}")

    data = common.load_reference_data(args.data_dir)
    x_train = data.train_x[: args.train_size] if args.train_size else data.train_x
    x_test = binarize_fixed(data.test_x[: args.test_size], data.levels, seed=0)

    rows, seconds, cpu_seconds = [], {k: [] for k in ks}, {k: [] for k in ks}
    for name in names:
        model, train_seconds = train(name, x_train, data.levels, args.epochs, args.seed)
        print(f"{name}: trained in {train_seconds:.0f} s; evaluating", flush=True)
        r = evaluate(model, x_test, ks, args.seed)
        print(name, r, flush=True)
        for k in ks:
            seconds[k].append(r[f"seconds_k{k}"])
            cpu_seconds[k].append(r[f"cpu_seconds_k{k}"])
        rows.append(
            [name, f"{train_seconds:.0f}"]
            + [f"{r[f'nll_k{k}']:.2f}" for k in ks]
            + [f"{-r['elbo']:.2f}", f"{r['kl']:.2f}", r["active_units"]]
            + [f"{r[f'seconds_k{k}']:.1f}" for k in ks]
        )
    header = ["trained with", "train s"] + [f"NLL k={k}" for k in ks] + ["-ELBO", "KL", "active units (of 32)"]
    header += [f"eval s k={k}" for k in ks]
    scale = 10_000 / x_test.shape[0] / 60
    extrapolated = ", ".join(
        f"k={k}: {common.median(seconds[k]) * scale:.1f} min wall, {common.median(cpu_seconds[k]) * scale:.1f} CPU min"
        for k in ks
    )
    body = (
        f"Data: {data.name}; training on {x_train.shape[0]} images with dynamic binarization for {args.epochs} "
        f"epochs each (batch 128, Adam 1e-3); test: first {x_test.shape[0]} test images binarized once (seed 0). "
        f"NLL, -ELBO and KL in nats; {torch.get_num_threads()} threads.\n\n"
        f"{common.markdown_table(header, rows)}\n\n"
        f"Evaluation time extrapolated to all 10,000 test images (median over models): {extrapolated}. "
        f"Peak RSS {common.peak_rss_mb():.0f} MiB."
    )
    print(body)
    if not args.no_append:
        common.append_results("Test likelihood, mlp-vae on binarized Fashion-MNIST", body)


if __name__ == "__main__":
    main()
