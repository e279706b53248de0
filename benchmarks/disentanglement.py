"""Disentanglement on procedural dSprites: VAE, beta-VAE, FactorVAE, beta-TCVAE and DIP-VAE-I at an equal budget.

Every model is the same VAE (MLP 4096-512-256, 10 latents, Bernoulli likelihood), trained by the one
loop for the same wall-clock budget (Adam 1e-3, batch 64) on the same rendered training images from
the same seed; only the objective (and, for FactorVAE, the latent discriminator) differs:

    vae | beta_vae (beta 4) | factorvae (gamma 30, discriminator 4 x 256) | betatcvae (beta 6, MWS)
    | dipvae1 (lambda_od 10)

Then every disentanglement_lib metric on the posterior means (``vaekit.evaluate.disentanglement``):
MIG, DCI (histogram-boosted trees), SAP, modularity and explicitness on 10,000 + 5,000 fresh renders,
the BetaVAE and FactorVAE scores on ``--score-train`` / ``--score-eval`` groups of 64. Mean +- sd over
seeds; the table is printed and appended to benchmarks/RESULTS.md with this command line.

    python benchmarks/disentanglement.py                       # 3 seeds x 5 models, 150 s each, 2 at a time
    python benchmarks/disentanglement.py --seconds 240 --batch-size 256 --score-train 200 --score-eval 100 \
        --points 5000                                          # the recorded run (RESULTS.md)
    python benchmarks/disentanglement.py --seconds 20 --seeds 1 --score-train 100 --score-eval 50  # smoke run
    # the anchors' budget (300,000 steps of batch 64 on all 737,280 images), not run here: about 3 hours per
    # model-seed on one CPU thread, so 45 hours for the 15 runs; on a GPU
    python benchmarks/disentanglement.py --steps 300000 --seconds 36000 --train-size 737280 --device cuda --jobs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODELS = {
    "vae": ("VAE", {"type": "elbo", "beta": 1.0}),
    "beta_vae": ("beta-VAE (beta 4)", {"type": "elbo", "beta": 4.0}),
    "factorvae": ("FactorVAE (gamma {gamma:g})", {"type": "factorvae"}),
    "betatcvae": ("beta-TCVAE (beta 6, MWS)", {"type": "betatcvae", "beta": 6.0, "estimator": "mws"}),
    "dipvae1": ("DIP-VAE-I (lambda_od 10)", {"type": "dipvae", "kind": "i", "lambda_od": 10.0}),
}
COLUMNS = (
    ("mig", "MIG"),
    ("factorvae_eval", "FactorVAE score"),
    ("betavae_eval", "BetaVAE score"),
    ("dci_disentanglement", "DCI dis."),
    ("dci_completeness", "DCI compl."),
    ("dci_informativeness_test", "DCI inform."),
    ("sap", "SAP"),
    ("modularity", "modularity"),
    ("explicitness_test", "explicitness"),
    ("steps", "steps"),
    ("elbo", "train ELBO"),
)


def run_one(job: dict) -> dict:
    """Train one model-seed for the budget and measure it (runs in a worker process, one thread)."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from vaekit.data.dsprites import DSprites
    from vaekit.evaluate.disentanglement import disentanglement_metrics, representation
    from vaekit.models import build_factorvae, build_vae
    from vaekit.registry import build
    from vaekit.train import fit

    seed, name = job["seed"], job["model"]
    data = DSprites()
    _, x = data.sample(job["train_size"], np.random.default_rng(1000 + seed))  # (N, 1, 64, 64) uint8 {0, 1}
    torch.manual_seed(seed)
    shape = dict(latent_dim=10, architecture="mlp", hidden=(512, 256), likelihood="bernoulli")
    if name == "factorvae":
        model = build_factorvae([1, 64, 64], discriminator_hidden=(256,) * 4, **shape)
    else:
        model = build_vae([1, 64, 64], **shape)
    spec = dict(MODELS[name][1])
    if name == "factorvae":
        spec["gamma"] = job["gamma"]
    if name == "betatcvae":
        spec["dataset_size"] = len(x)
    objective = build("objective", spec)
    began = time.perf_counter()
    history = fit(
        model, objective, x.float(), epochs=10_000, batch_size=job["batch_size"], lr=job["lr"],
        max_seconds=job["seconds"], max_steps=job["steps"], device=job["device"],
        seed=seed, progress=False, restore_best=False,
    )  # fmt: skip
    train_seconds = time.perf_counter() - began
    vae = model.vae if hasattr(model, "vae") else model
    began = time.perf_counter()
    metrics = disentanglement_metrics(
        data,
        representation(vae),
        seed=seed,
        n_train=job["points"],
        n_test=job["points"] // 2,
        score_train=job["score_train"],
        score_eval=job["score_eval"],
    )
    metrics["eval_seconds"] = time.perf_counter() - began
    metrics["train_seconds"] = train_seconds
    metrics["steps"] = float(history.steps)
    last = history.train[-1] if history.train else {}
    metrics["elbo"] = float(last.get("elbo", float("nan")))
    metrics.update(model=name, seed=seed)
    print(
        f"[{name} seed {seed}] {history.steps} steps in {train_seconds:.0f} s; MIG {metrics['mig']:.3f}, "
        f"FactorVAE score {metrics['factorvae_eval']:.3f}; metrics in {metrics['eval_seconds']:.0f} s",
        flush=True,
    )
    return metrics


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    if hasattr(os, "nice"):
        os.nice(10)


def budget_text(args: argparse.Namespace) -> str:
    """Each run's training budget and where it ran, for the note under the table."""
    budget = f"{args.seconds:g} s of training"
    if args.steps:
        budget += f" or {args.steps:,} steps, whichever came first"
    if args.device == "cpu":
        return f"{budget}, on one thread of a shared 2-core machine"
    return f"{budget}, on device {args.device!r}"


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {list(MODELS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=150.0, help="training budget per model-seed")
    parser.add_argument("--steps", type=int, default=None, help="also stop each run after this many steps")
    parser.add_argument("--device", default="cpu", help="where the models train (cuda, auto, ...); metrics on the CPU")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--train-size", type=int, default=50_000, help="rendered training images")
    parser.add_argument("--gamma", type=float, default=30.0, help="FactorVAE's gamma")
    parser.add_argument("--score-train", type=int, default=1000, help="BetaVAE/FactorVAE score training groups")
    parser.add_argument("--score-eval", type=int, default=500, help="BetaVAE/FactorVAE score evaluation groups")
    parser.add_argument(
        "--points", type=int, default=10_000, help="points for MIG, DCI, SAP, modularity (+ half to test)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="model-seeds trained at once (one thread each)")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; valid: {list(MODELS)}")
    jobs = [
        {
            "model": m, "seed": s, "seconds": args.seconds, "train_size": args.train_size, "gamma": args.gamma,
            "score_train": args.score_train, "score_eval": args.score_eval, "points": args.points,
            "batch_size": args.batch_size, "lr": args.lr, "steps": args.steps, "device": args.device,
        }
        for s in range(args.seeds)
        for m in names
    ]  # fmt: skip
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs, initializer=_worker_init) as pool:
        results = list(pool.map(run_one, jobs))
    rows = []
    for m in names:
        runs = [r for r in results if r["model"] == m]
        label = MODELS[m][0].format(gamma=args.gamma)
        rows.append([label, *(mean_sd([r[key] for r in runs]) for key, _ in COLUMNS)])
    import common

    table = common.markdown_table(["model", *(title for _, title in COLUMNS)], rows)
    eval_seconds = statistics.median(r["eval_seconds"] for r in results)
    times = {k: statistics.median(r["seconds"][k] for r in results) for k in results[0]["seconds"]}
    note = (
        f"dSprites rendered by vaekit (procedural, 737,280 images); {args.train_size:,} training images per run. "
        f"Each model-seed: MLP 4096-512-256, 10 latents, Bernoulli, Adam {args.lr:g}, batch {args.batch_size}, "
        f"{budget_text(args)} ({args.jobs} runs at once, nice 10); {args.seeds} seeds, mean ± sd. Metrics on "
        f"posterior means with disentanglement_lib's "
        f"definitions: MIG, DCI (histogram-boosted trees), SAP, modularity, explicitness on {args.points:,} train + "
        f"{args.points // 2:,} test points (disentanglement_lib: 10,000 + 5,000); "
        f"BetaVAE / FactorVAE scores (eval accuracy) on {args.score_train} / {args.score_eval} groups of 64 "
        f"(disentanglement_lib: 10,000 / 5,000). Median metric time per model {eval_seconds:.0f} s "
        f"(per metric: {', '.join(f'{k} {v:.1f} s' for k, v in times.items())}). Wall time "
        f"{(time.perf_counter() - began) / 60:.1f} min. Anchors (Locatello et al. 2019, dSprites, 300k steps): "
        "MIG ~0.10 VAE, 0.2-0.45 beta-TCVAE/FactorVAE; FactorVAE score 0.63 VAE, ~0.82 FactorVAE."
    )
    print(table)
    print(note)
    if not args.no_results:
        common.append_results(
            "Disentanglement on dSprites at an equal budget (benchmarks/disentanglement.py)", f"{note}\n\n{table}"
        )


if __name__ == "__main__":
    main()
