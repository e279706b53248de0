"""Hierarchical (NVAE-style) VAE against the reference MLP VAE at the same wall-clock training budget.

Both models are trained side by side, each in its own process on one CPU thread, for the same number
of seconds, through the one training loop (``vaekit.train.fit``); then each is evaluated with the one
estimator (``vaekit.evaluate.log_likelihood``) on the same test images. The binary task is dynamically
binarized Fashion-MNIST (test set binarized once with seed 0), reported as NLL in nats; the 8-bit task
uses a discretized logistic likelihood on the raw pixels, reported in bits/dim.

    python benchmarks/hierarchical.py                      # 8 min + 8 min binary, 3 min 8-bit (~25 min)
    python benchmarks/hierarchical.py --budget 60 --budget-8bit 30 --eval-n 100 --k 100   # smoke run

The hierarchical model's configuration is read from ``configs/nvae_fashion_mnist.yaml`` and
``configs/nvae_fashion_mnist_8bit.yaml``; the reference is ``build_vae([1, 28, 28], latent_dim=32,
hidden=(512, 512))``, Adam lr 1e-3, batch 128 (benchmarks protocol).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# Training settings of a hierarchical configuration that the benchmark passes on to `fit`.
TRAIN_KEYS = ("batch_size", "lr", "optimizer", "lr_schedule", "grad_clip", "skip_grad_norm")


def reference_spec(likelihood: str | dict) -> dict[str, Any]:
    """The reference MLP VAE of the benchmarks protocol."""
    return {
        "name": "mlp-vae (784-512-512, latent 32)",
        "model": {"type": "vae", "latent_dim": 32, "hidden": [512, 512], "likelihood": likelihood},
        "objective": {"type": "elbo"},
        "train": {"batch_size": 128, "lr": 1e-3},
    }


def hierarchical_spec(config_path: Path) -> dict[str, Any]:
    config = yaml.safe_load(config_path.read_text())
    return {
        "name": f"hierarchical ({config_path.name})",
        "model": config["model"],
        "objective": config["objective"],
        "train": {k: config["train"][k] for k in TRAIN_KEYS if k in config["train"]},
        "channels_last": True,
    }


def train_and_evaluate(spec: dict[str, Any]) -> dict[str, Any]:
    """Worker: train one model for ``spec["seconds"]`` and estimate its test log-likelihood."""
    import vaekit
    from vaekit.data import DynamicBinarize, ToUnit, binarize_fixed, load_fashion_mnist
    from vaekit.evaluate import log_likelihood
    from vaekit.train import fit

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    data = load_fashion_mnist()
    binary = spec["task"] == "binary"
    model = vaekit.build_model(dict(spec["model"]), [1, 28, 28])
    if spec.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)  # faster depthwise convolutions on CPU
    objective = vaekit.build("objective", spec["objective"])
    transform = DynamicBinarize(256) if binary else ToUnit(256)
    started = time.perf_counter()
    history = fit(
        model,
        objective,
        data.train.x,
        epochs=10_000,
        max_seconds=spec["seconds"],  # stops mid-epoch at the same wall-clock time for every model
        seed=spec["seed"],
        transform=transform,
        progress=False,
        **spec["train"],
    )
    seconds = time.perf_counter() - started
    model.eval()
    test = data.test.x[: spec["eval_n"]]
    x = binarize_fixed(test, 256, seed=0) if binary else ToUnit(256)(test)
    torch.manual_seed(spec["seed"] + 1)
    eval_started = time.perf_counter()
    log_px = log_likelihood(model, x, k=spec["k"], batch_size=100)
    with torch.no_grad():
        elbo = torch.cat([model.log_importance_weights(x[i : i + 100], 1).mean(0) for i in range(0, len(x), 100)])
    n_train, batch_size = len(data.train), spec["train"]["batch_size"]
    full_epochs, steps_in_last = divmod(history.steps, math.ceil(n_train / batch_size))
    return {
        "name": spec["name"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "latent": model.latent_dim,
        "steps": history.steps,
        "epochs": full_epochs + min(steps_in_last * batch_size, n_train) / n_train,
        "train_seconds": seconds,
        "eval_seconds": time.perf_counter() - eval_started,
        "log_px": log_px.tolist(),
        "elbo": float(elbo.mean()),
        "skipped": history.skipped_updates if "skip_grad_norm" in spec["train"] else None,
    }


def run_pair(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Train and evaluate the specs concurrently, one process each."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(specs), mp_context=context) as pool:
        return list(pool.map(train_and_evaluate, specs))


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summarize(results: list[dict[str, Any]], task: str, k: int) -> str:
    bits = task == "8bit"
    dims = 784 * math.log(2)
    header = ["model", "params", "latent", "train s", "steps", "epochs", "test ELBO (nats)", f"test NLL k={k} (nats)"]
    header += ["bits/dim"] if bits else []
    header += ["skipped updates"]
    rows = []
    for r in results:
        nll = -torch.tensor(r["log_px"])
        se = float(nll.std() / math.sqrt(len(nll)))
        row = [r["name"], f"{r['parameters']:,}", r["latent"], f"{r['train_seconds']:.0f}", r["steps"]]
        row += [f"{r['epochs']:.2f}", f"{r['elbo']:.2f}", f"{float(nll.mean()):.2f} ± {se:.2f}"]
        row += [f"{float(nll.mean()) / dims:.4f}"] if bits else []
        row += ["-" if r["skipped"] is None else r["skipped"]]
        rows.append(row)
    diff = torch.tensor(results[0]["log_px"]) - torch.tensor(results[1]["log_px"])  # (N,) hierarchical - reference NLL
    se = float(diff.std() / math.sqrt(len(diff)))
    unit = f" ({float(diff.mean()) / dims:+.4f} bits/dim)" if bits else ""
    note = (
        f"\nPaired difference, hierarchical minus reference NLL on the same {len(diff)} test images: "
        f"{float(diff.mean()):+.2f} ± {se:.2f} nats{unit} (negative: the hierarchical model is better)."
    )
    return markdown_table(header, rows) + "\n" + note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=480.0, help="training seconds per model, binary task")
    parser.add_argument("--budget-8bit", type=float, default=180.0, help="training seconds per model, 8-bit task")
    parser.add_argument("--eval-n", type=int, default=500, help="test images evaluated (the first N)")
    parser.add_argument("--k", type=int, default=1000, help="importance samples, binary task")
    parser.add_argument("--k-8bit", type=int, default=100, help="importance samples, 8-bit task")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per model (both train at once)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "nvae_fashion_mnist.yaml")
    parser.add_argument("--config-8bit", type=Path, default=ROOT / "configs" / "nvae_fashion_mnist_8bit.yaml")
    parser.add_argument("--skip-8bit", action="store_true")
    parser.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    sections = []
    tasks = [("binary", args.config, "bernoulli", args.budget, args.k)]
    if not args.skip_8bit:
        tasks.append(("8bit", args.config_8bit, {"type": "discretized_logistic"}, args.budget_8bit, args.k_8bit))
    for task, config, likelihood, budget, k in tasks:
        common = {"task": task, "seconds": budget, "eval_n": args.eval_n, "k": k}
        common |= {"threads": args.threads, "seed": args.seed}
        specs = [reference_spec(likelihood) | common, hierarchical_spec(config) | common]
        results = run_pair(specs)
        title = "binarized Fashion-MNIST, NLL" if task == "binary" else "8-bit Fashion-MNIST, bits/dim"
        table = summarize(results, task, k)
        sections.append(f"### {title}: {budget:.0f} s of training each\n\n{table}")
        print(sections[-1], flush=True)
    config_text = args.config.read_text()
    body = "\n\n".join(sections)
    body += (
        "\n\nBoth models trained at the same time, each in its own process on "
        f"{args.threads} CPU thread(s), for the same wall-clock budget, on a shared 2-core machine that "
        "other jobs were using (timings and epochs reached are indicative only). NLL: importance-sampled "
        f"bound of `vaekit.evaluate.log_likelihood` on the first {args.eval_n} test images (± standard error). "
        f"Hierarchical configuration ({args.config.name}):\n\n```yaml\n{config_text}```\n"
    )
    if not args.no_append:
        command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        with open(RESULTS, "a", encoding="utf-8") as handle:
            handle.write(f"\n## Hierarchical VAE vs reference MLP VAE ({stamp})\n\nCommand: `{command}`\n\n{body}\n")


if __name__ == "__main__":
    main()
