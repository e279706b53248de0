"""Molecules on MOSES: a SELFIES VAE and a SMILES VAE (both with the QED/logP/SA head) and a CharRNN baseline,
trained by the same script at the same CPU budget, then sampled and scored with the MOSES metric set, and latent
optimisation of QED (gradient ascent on the head, GP + expected improvement), scored by RDKit.

The CharRNN baseline is the same recurrent decoder over SMILES symbols with a KL weight of 100 on a 2-dimensional
z: its posterior collapses to the prior, so the decoder is trained as a plain autoregressive model (a CharRNN).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/molecules.py --minutes 4 --train 30000 --samples 10000
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
from vaekit.config import config_from_dict  # noqa: E402
from vaekit.decoding import DecodeOptions  # noqa: E402
from vaekit.text import train_text_run  # noqa: E402


def run_config(tokenizer: str, model: dict, train: int, minutes: float) -> dict:
    return {
        "seed": 0,
        "data": {"name": "moses", "tokenizer": tokenizer, "limit": train, "validation": 0.02, "test": 0.05},
        "model": model,
        "objective": {"beta": {"type": "linear", "steps": 2000}, "weight": 10.0}
        if "type" not in model
        else {"beta": 100.0},
        "train": {"epochs": 100, "batch_size": 128, "lr": 0.001, "grad_clip": 5.0, "max_seconds": minutes * 60},
        "evaluate": {"k": 5, "plots": True},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=4.0, help="training budget of each model (wall clock)")
    parser.add_argument("--train", type=int, default=30000, help="MOSES training molecules used")
    parser.add_argument("--samples", type=int, default=10000, help="samples scored with the MOSES metrics")
    parser.add_argument("--out", default="runs/bench-molecules")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    vae = {"latent_dim": 56, "hidden": 256, "embed_dim": 64}
    models = {
        "SELFIES VAE": ("selfies", vae),
        "SMILES VAE": ("smiles", vae),
        "CharRNN (SMILES)": (
            "smiles",
            {"type": "sequence_vae", "latent_dim": 2, "hidden": 256, "embed_dim": 64},
        ),
    }
    train_smiles = set(load_moses_split("train"))
    rows, details = [], {}
    trained = {}
    for name, (tokenizer, model) in models.items():
        folder = out / name.split()[0].lower().strip("(")
        config = config_from_dict(run_config(tokenizer, model, args.train, args.minutes))
        started = time.time()
        run_metrics = train_text_run(config, folder, log=lambda line: print(line, file=sys.stderr))
        trained[name] = MoleculeModel.load(folder)
        t0 = time.time()
        # A VAE decodes each prior draw greedily; the CharRNN has no z, so greedy decoding would give one string:
        # it samples each symbol (temperature 1), as MOSES samples its CharRNN.
        options = DecodeOptions("sample", temperature=1.0) if name.startswith("CharRNN") else DecodeOptions("greedy")
        samples = trained[name].sample(args.samples, options, seed=1)
        sample_s = time.time() - t0
        t0 = time.time()
        metrics = moses_metrics(samples, train_smiles, processes=2)
        metric_s = time.time() - t0
        details[name] = {"metrics": metrics, "property_head": run_metrics.get("property_head"), "sample_s": sample_s}
        head = run_metrics.get("property_head", {}).get("qed", {}).get("correlation")
        keys = ["valid", "unique@1000", "unique@10000", "novelty", "FCD/Test", "FCD/TestSF", "SNN/Test", "Frag/Test"]
        keys += ["Scaf/Test", "IntDiv"]
        cells = [f"{metrics.get(k, float('nan')):.3f}" for k in keys]
        head_cell = "-" if head is None else f"{head:.2f}"
        rows.append([name, *cells, head_cell, f"{metric_s:.0f}", f"{time.time() - started:.0f}"])
        print(json.dumps(details[name], indent=1), file=sys.stderr)
    # Latent optimisation of QED with the SELFIES model.
    model = trained["SELFIES VAE"]
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
              "Frag/Test", "Scaf/Test", "IntDiv", "head QED r", "metrics s", "total s"]  # fmt: skip
    table = markdown_table(header, rows)
    opt_table = markdown_table(["QED search (SELFIES VAE)", "1st", "2nd", "3rd", "molecules scored"], opt_rows)
    print(table)
    print(opt_table)
    text = (
        f"Command: `{' '.join(['python', *sys.argv])}`\n\n"
        f"Budget: {args.minutes:g} min of training per model on {args.threads} CPU thread(s) at nice 10, "
        f"{args.train} MOSES training molecules; metrics on {args.samples} samples per model (VAEs: greedy decodings "
        "of prior draws; CharRNN: symbols sampled at temperature 1) "
        f"against MOSES's Test / TestSF statistics and the full training set (novelty). {machine_note()}\n\n"
        f"{table}\n\n{opt_table}\n\nOptimisation took {opt_s:.0f} s.\n"
    )
    add_entry("Molecules: MOSES metrics and QED optimisation", text)
    (out / "details.json").write_text(json.dumps(details, indent=1, default=str))


if __name__ == "__main__":
    main()
