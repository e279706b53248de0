"""Molecules on MOSES: a SELFIES VAE, a SMILES VAE and a Kekulé SMILES VAE (all with the QED/logP/SA head) and a
CharRNN baseline, trained by the same script at the same CPU budget, then sampled and scored with the MOSES metric
set, and latent optimisation of QED (gradient ascent on the head, GP + expected improvement), scored by RDKit.

The CharRNN baseline is the same recurrent decoder over SMILES symbols with a KL weight of 100 on a 2-dimensional
z: its posterior collapses to the prior, so the decoder is trained as a plain autoregressive model (a CharRNN).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/molecules.py --minutes 4 --train 30000 --samples 10000

Every model is sampled as MOSES samples its models: a prior draw, then each symbol drawn at temperature 1. The
SMILES models keep to the SMILES syntax and valences while sampling (vaekit's default: branches and ring closures
paired, no atom over its valence); their validity when sampling freely, as MOSES's models do, is reported beside,
and so are the VAEs' greedy decodings of prior draws (validity and uniqueness only).

A budget in optimizer steps (``--steps``; the same for every model) is fair on a shared machine, where wall time
is not. The models can train in parallel processes into one folder, then be scored from it:

    A="--epochs 3 --minutes 80 --train 100000 --out runs/molbench"
    for m in selfies smiles kekule charrnn; do python benchmarks/molecules.py $A --only $m & done; wait
    python benchmarks/molecules.py $A --trained --samples 30000

``--only NAME --trained`` scores one model and keeps its scores in its folder; a later ``--trained`` run reuses
them (``--rescore`` scores again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_entry, machine_note, markdown_table  # noqa: E402

from vaekit.chem.corpus import load_moses_split  # noqa: E402
from vaekit.chem.metrics import moses_metrics  # noqa: E402
from vaekit.chem.model import MoleculeModel  # noqa: E402
from vaekit.chem.optimize import bayesian_optimisation, best_in_data, gradient_ascent, top_latents  # noqa: E402
from vaekit.chem.reports import validity  # noqa: E402
from vaekit.config import config_from_dict  # noqa: E402
from vaekit.decoding import DecodeOptions  # noqa: E402
from vaekit.text import train_text_run  # noqa: E402


def run_config(
    tokenizer: str, model: dict, train: int, minutes: float, steps: int | None = None, epochs: int | None = None
) -> dict:
    """A molecule run's config; ``epochs`` gives whole epochs with a cosine learning rate (else a constant one)."""
    return {
        "seed": 0,
        "data": {"name": "moses", "tokenizer": tokenizer, "limit": train, "validation": 0.02, "test": 0.05},
        "model": model,
        "objective": {"beta": {"type": "linear", "steps": 2000}, "weight": 10.0}
        if "type" not in model
        else {"beta": 100.0},
        "train": {
            "epochs": epochs or 100,
            "lr_schedule": "cosine" if epochs else None,
            "batch_size": 128,
            "lr": 0.001,
            "grad_clip": 5.0,
            "max_seconds": minutes * 60,
            "max_steps": steps,
        },
        "evaluate": {"k": 5, "plots": True},
    }


# name: (run folder, tokenizer, model)
MODELS = {
    "SELFIES VAE": ("selfies", "selfies", {"latent_dim": 56, "hidden": 256, "embed_dim": 64}),
    "SMILES VAE": ("smiles", "smiles", {"latent_dim": 56, "hidden": 256, "embed_dim": 64}),
    "Kekulé SMILES VAE": ("kekule", "kekule_smiles", {"latent_dim": 56, "hidden": 256, "embed_dim": 64}),
    "CharRNN (SMILES)": (
        "charrnn",
        "smiles",
        {"type": "sequence_vae", "latent_dim": 2, "hidden": 256, "embed_dim": 64},
    ),
}


def folder_of(out: Path, name: str) -> Path:
    """The run folder of one model."""
    return out / MODELS[name][0]


def training_budget(folder: Path) -> tuple[int, float]:
    """The optimizer steps and training seconds of a run, from its epoch log."""
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [row for row in rows if "step" in row]
    return rows[-1]["step"], sum(row["seconds"] for row in rows)


def train_model(name: str, args: argparse.Namespace) -> dict:
    """Train one model into its run folder; returns the run's test metrics."""
    _, tokenizer, model = MODELS[name]
    config = config_from_dict(run_config(tokenizer, model, args.train, args.minutes, args.steps, args.epochs))
    return train_text_run(config, folder_of(Path(args.out), name), log=lambda line: print(line, file=sys.stderr))


def score_file(out: Path, name: str, samples: int) -> Path:
    """Where a model's scores at ``samples`` samples are kept, so that models can be scored one at a time."""
    return folder_of(out, name) / f"scores-{samples}.json"


def score_model(name: str, args: argparse.Namespace, train_smiles: set[str]) -> tuple[list, dict]:
    """Sample one trained model and score it with the MOSES metrics: its table row and details, also saved."""
    out = Path(args.out)
    folder = folder_of(out, name)
    started = time.time()
    run_metrics = json.loads((folder / "metrics.json").read_text())
    steps, train_s = training_budget(folder)
    model = MoleculeModel.load(folder)
    t0 = time.time()
    sampled = DecodeOptions("sample", temperature=1.0)
    samples = model.sample(args.samples, sampled, seed=1)
    sample_s = time.time() - t0
    t0 = time.time()
    metrics = moses_metrics(samples, train_smiles, processes=2)
    metric_s = time.time() - t0
    # The CharRNN's z is ignored, so its greedy decodings would all be one string.
    greedy = None if name.startswith("CharRNN") else validity(model.sample(10000, seed=1))
    # SMILES models keep to the SMILES syntax and valences by default; MOSES's models sample freely.
    free = None
    if model.text.tokenizer.grammar() is not None:
        free = validity(model.sample(args.samples, sampled, seed=1, syntax=False))
    detail = {"metrics": metrics, "property_head": run_metrics.get("property_head"), "greedy": greedy,
              "free": free, "sample_s": sample_s, "metric_s": metric_s, "steps": steps, "train_s": train_s}  # fmt: skip
    head = run_metrics.get("property_head", {}).get("qed", {}).get("correlation")
    keys = ["valid", "unique@1000", "unique@10000", "novelty", "FCD/Test", "FCD/TestSF", "SNN/Test", "Frag/Test"]
    keys += ["Scaf/Test", "IntDiv"]
    cells = [f"{metrics.get(k, float('nan')):.3f}" for k in keys]
    greedy_cell = "-" if greedy is None else f"{greedy['validity']:.3f} / {greedy['unique']:.3f}"
    free_cell = "-" if free is None else f"{free['validity']:.3f}"
    head_cell = "-" if head is None else f"{head:.2f}"
    row = [name, *cells, free_cell, greedy_cell, head_cell, steps, f"{train_s / 60:.0f}", f"{sample_s:.0f}",
           f"{metric_s:.0f}", f"{time.time() - started:.0f}"]  # fmt: skip
    print(json.dumps(detail, indent=1), file=sys.stderr)
    score_file(out, name, args.samples).write_text(json.dumps({"row": row, "details": detail}, default=str))
    return row, detail


def budget_words(args: argparse.Namespace) -> str:
    steps = f"{args.steps} optimizer steps, capped at " if args.steps else ""
    if args.epochs:
        steps = f"{args.epochs} epochs (Adam lr 1e-3, cosine to 0), capped at "
    where = "; trained in parallel processes (--only), scored here" if args.trained else ""
    return f"{steps}{args.minutes:g} min of training{where}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget of each model (wall clock)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps of each model (capped by --minutes)")
    parser.add_argument("--epochs", type=int, default=None, help="whole epochs of each model, cosine lr")
    parser.add_argument("--train", type=int, default=30000, help="MOSES training molecules used")
    parser.add_argument("--samples", type=int, default=10000, help="samples scored with the MOSES metrics")
    parser.add_argument("--out", default="runs/bench-molecules")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=[m[0] for m in MODELS.values()], help="train (or with --trained score) one")
    parser.add_argument("--trained", action="store_true", help="score the models --only trained into --out")
    parser.add_argument("--rescore", action="store_true", help="score again models already scored at --samples")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.only:
        name = next(n for n in MODELS if MODELS[n][0] == args.only)
        if args.trained:
            score_model(name, args, set(load_moses_split("train")))
        else:
            train_model(name, args)
        return
    train_smiles = set(load_moses_split("train"))
    rows, details = [], {}
    for name in MODELS:
        if not args.trained:
            train_model(name, args)
        saved = score_file(out, name, args.samples)
        reuse = args.trained and saved.exists() and not args.rescore  # scores of the models as trained now
        score = json.loads(saved.read_text()) if reuse else None
        row, details[name] = (score["row"], score["details"]) if score else score_model(name, args, train_smiles)
        rows.append(row)
    # Latent optimisation of QED with the SELFIES model.
    model = MoleculeModel.load(folder_of(out, "SELFIES VAE"))
    pool = load_moses_split("train")[:20000]
    t0 = time.time()
    start, _ = top_latents(model, pool[:2000], "qed", 10)
    grad = gradient_ascent(model, "qed", start, steps=40, lr=0.1)
    bo = bayesian_optimisation(model, "qed", torch.cat([start, model.model.prior.sample(40, 1.0)]), rounds=8, batch=20)
    data_best = best_in_data(pool, "qed", 3)
    opt_s = time.time() - t0
    opt_rows = [
        ["gradient ascent on the head", *[f"{f.score:.3f} {f.smiles}" for f in grad.best(3)], grad.evaluations],
        ["GP + expected improvement", *[f"{f.score:.3f} {f.smiles}" for f in bo.best(3)], bo.evaluations],
        [f"best of {len(pool)} MOSES training molecules", *[f"{f.score:.3f} {f.smiles}" for f in data_best], len(pool)],
    ]
    header = ["model", "valid", "unique@1k", "unique@10k", "novelty", "FCD/Test", "FCD/TestSF", "SNN/Test",
              "Frag/Test", "Scaf/Test", "IntDiv", "valid without the syntax", "greedy: valid / unique@10k",
              "head QED r", "train steps", "train min", "sampling s", "metrics s", "total s"]  # fmt: skip
    table = markdown_table(header, rows)
    opt_table = markdown_table(["QED search (SELFIES VAE)", "1st", "2nd", "3rd", "molecules scored"], opt_rows)
    print(table)
    print(opt_table)
    text = (
        f"Command: `{' '.join(['python', *sys.argv])}`\n\n"
        f"Budget per model: {budget_words(args)}, {args.threads} CPU thread(s) at nice 10, a seeded random "
        f"{args.train} of MOSES's training molecules (batch 128). Metrics on {args.samples} samples per model (a "
        "prior draw, then each symbol sampled at temperature 1, as MOSES samples; SMILES models keeping to the "
        "SMILES syntax and valences, their validity when sampling freely beside) against MOSES's Test / TestSF "
        "statistics and the full training set (novelty); the VAEs' greedy decodings of 10000 prior draws beside. "
        f"{machine_note()}\n\n"
        f"{table}\n\n{opt_table}\n\nOptimisation took {opt_s:.0f} s.\n"
    )
    add_entry("Molecules: MOSES metrics and QED optimisation", text)
    (out / "details.json").write_text(json.dumps(details, indent=1, default=str))


if __name__ == "__main__":
    main()
