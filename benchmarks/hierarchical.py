"""Hierarchical (NVAE-style) VAE against the reference MLP VAE at the same wall-clock training budget.

Both models are trained side by side, each in its own process on one CPU thread, for the same number
of seconds, through the one training loop (``vaekit.train.fit``); then each is evaluated with the one
estimator (``vaekit.evaluate.log_likelihood``) on the same test images. The binary task is dynamically
binarized Fashion-MNIST (test set binarized once with seed 0), reported as NLL in nats; the 8-bit task
uses a discretized logistic likelihood on the raw pixels, reported in bits/dim.

By default (``--lr-schedule cosine``) each model's learning rate decays to 0 by a cosine over the epochs that fit
in its budget, as estimated by a short timing probe on a copy of the model (the probe's seconds count against the
budget): ``fit``'s cosine schedule is per epoch and so does nothing for an open-ended ``max_seconds`` run.
``--lr-schedule constant`` keeps the learning rate fixed for both models.

    python benchmarks/hierarchical.py                      # 8 min + 8 min binary, 3 min 8-bit (~25 min)
    python benchmarks/hierarchical.py --budget 60 --budget-8bit 30 --eval-n 100 --k 100   # smoke run
    python benchmarks/hierarchical.py --skip-8bit --variant 'ch48={"model": {"channels": 48}}'   # screen a variant

Each ``--variant NAME=JSON`` trains one more hierarchical model beside the two, its ``model``/``train``/``objective``
entries updated from the JSON; all processes run at once (so each gets a smaller share of a small machine).

The hierarchical model's configuration is read from ``configs/nvae_fashion_mnist.yaml`` and
``configs/nvae_fashion_mnist_8bit.yaml``; the reference is ``build_vae([1, 28, 28], latent_dim=32,
hidden=(512, 512))``, Adam lr 1e-3, batch 128 (benchmarks protocol).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing
import shlex
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def variant_spec(base: dict[str, Any], text: str) -> dict[str, Any]:
    """A copy of the hierarchical ``base`` spec changed by ``NAME={"model": {...}, "train": {...}, ...}``."""
    name, _, overrides = text.partition("=")
    changes = json.loads(overrides)
    unknown = set(changes) - {"model", "train", "objective"}
    if not name or unknown:
        raise SystemExit(f"--variant wants NAME={{'model'|'train'|'objective': {{...}}}}, got {text!r}")
    spec = copy.deepcopy(base)
    spec["name"] = f"{base['name']} + {name}"
    for key, values in changes.items():
        spec[key].update(values)
    return spec


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
    train = dict(spec["train"])
    started = time.perf_counter()
    epochs = 10_000
    if spec["lr_schedule"] == "cosine":
        epochs = budget_epochs(model, objective, data.train.x, transform, spec, train)
        train["lr_schedule"] = "cosine"
    history = fit(
        model,
        objective,
        data.train.x,
        epochs=epochs,
        # stops mid-epoch at the same wall-clock time for every model (the timing probe included)
        max_seconds=spec["seconds"] - (time.perf_counter() - started),
        seed=spec["seed"],
        transform=transform,
        progress=False,
        **train,
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


def budget_epochs(
    model: torch.nn.Module,
    objective: Callable[..., Any],
    x: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    spec: dict[str, Any],
    train: dict[str, Any],
) -> int:
    """Epochs that fit in the rest of the budget, from a short timed run on a throw-away copy of the model.

    ``fit``'s cosine schedule decays over ``epochs``; sized this way it reaches ~0 when the time is up.
    The probe's seconds count against the model's budget.
    """
    from vaekit.train import fit

    began = time.perf_counter()
    probe_model = copy.deepcopy(model)
    settings = {"seed": spec["seed"], "transform": transform, "progress": False, **train}
    fit(probe_model, objective, x, epochs=10_000, max_seconds=2.0, **settings)  # warm-up: allocator, caches
    probe_began = time.perf_counter()
    probe = fit(probe_model, objective, x, epochs=10_000, max_seconds=max(4.0, 0.03 * spec["seconds"]), **settings)
    steps_per_second = probe.steps / (time.perf_counter() - probe_began)
    remaining = spec["seconds"] - (time.perf_counter() - began)
    steps_per_epoch = math.ceil(len(x) / train["batch_size"])
    # Rounded up: a run cut short by max_seconds near the end of the decay loses little (lr is near 0 there).
    return max(1, math.ceil(steps_per_second * remaining / steps_per_epoch))


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
    notes = []
    for other in results[1:]:
        diff = torch.tensor(results[0]["log_px"]) - torch.tensor(other["log_px"])  # (N,) this model - reference NLL
        se = float(diff.std() / math.sqrt(len(diff)))
        unit = f" ({float(diff.mean()) / dims:+.4f} bits/dim)" if bits else ""
        notes.append(
            f"Paired difference, {other['name']} minus reference NLL on the same {len(diff)} test images: "
            f"{float(diff.mean()):+.2f} ± {se:.2f} nats{unit} (negative: the hierarchical model is better)."
        )
    note = "\n" + "\n\n".join(notes)
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
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON: one more hierarchical model")
    parser.add_argument(
        "--lr-schedule",
        choices=["cosine", "constant"],
        default="cosine",
        help="cosine: both models decay lr to 0 over the epochs a timing probe says fit in the budget",
    )
    parser.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    sections = []
    tasks = [("binary", args.config, "bernoulli", args.budget, args.k)]
    if not args.skip_8bit:
        tasks.append(("8bit", args.config_8bit, {"type": "discretized_logistic"}, args.budget_8bit, args.k_8bit))
    for task, config, likelihood, budget, k in tasks:
        common = {"task": task, "seconds": budget, "eval_n": args.eval_n, "k": k}
        common |= {"threads": args.threads, "seed": args.seed, "lr_schedule": args.lr_schedule}
        base = hierarchical_spec(config)
        specs = [reference_spec(likelihood) | common, base | common]
        specs += [variant_spec(base, text) | common for text in args.variant]
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
        + (
            "Learning rate: cosine decay to 0 for both models over the epochs that a timing probe (2 s + 3% of the "
            "budget, on a copy of the model, counted in the budget) says fit in the budget. "
            if args.lr_schedule == "cosine"
            else "Learning rate: constant. "
        )
        + f"Hierarchical configuration ({args.config.name}):\n\n```yaml\n{config_text}```\n"
    )
    if not args.no_append:
        command = " ".join(shlex.quote(a) for a in ["python", *sys.argv])
        common.add_entry("Hierarchical VAE vs reference MLP VAE", f"Command: `{command}`\n\n{body}")


if __name__ == "__main__":
    main()
