"""Posterior collapse with an autoregressive decoder, and the defences that prevent it.

Data: the rows of scikit-learn's 8x8 digits read as sequences of 8 tokens with 17 levels (the
digits split of the benchmark protocol: 1,000 training images = 8,000 rows; 447 test images =
3,576 rows). Model: the "sequence_vae" builder (bidirectional GRU encoder, GRU language-model
decoder whose initial state comes from z). Every method trains the same model from the same seed
with the one training loop; only the objective's arguments differ:

    plain ELBO | linear KL annealing | cyclical KL annealing | free bits | word dropout

Printed and appended to benchmarks/RESULTS.md: the final KL, active units, mutual information
I(x; z), test negative ELBO and importance-sampled NLL (nats per row), and how often greedy
decoding from the posterior mean reproduces a row's tokens; a PNG of the KL per epoch per method
goes to benchmarks/figures/collapse_kl.png.

    python benchmarks/collapse.py            # ~5 minutes on one CPU thread
    python benchmarks/collapse.py --epochs 4 # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import vaekit
from vaekit.data import load_digits
from vaekit.evaluate import active_units, elbo_terms, mutual_information, posterior_statistics
from vaekit.objectives import ELBOObjective
from vaekit.train import fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

HERE = Path(__file__).resolve().parent


def rows_as_sequences(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 8, 8) uint8 images with 17 levels -> (8N, 8) int64 token sequences, one per row."""
    return images.squeeze(1).reshape(-1, images.shape[-1]).long()


def methods(steps_per_epoch: int, epochs: int) -> dict[str, tuple[dict, dict]]:
    """Name -> (extra model arguments, objective arguments)."""
    total = steps_per_epoch * epochs
    return {
        "plain ELBO": ({}, {}),
        "linear KL annealing": ({}, {"beta": {"type": "linear", "start": 0.0, "end": 1.0, "steps": total // 2}}),
        "cyclical KL annealing": ({}, {"beta": {"type": "cyclical", "period": max(1, total // 4), "ratio": 0.5}}),
        "free bits (0.5 nats/dim)": ({}, {"free_bits": 0.5}),
        "word dropout 0.5": ({"word_dropout": 0.5}, {}),
    }


@torch.no_grad()
def token_accuracy(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Fraction of tokens that greedy decoding from the posterior mean reproduces."""
    model.eval()
    return float((model.reconstruct(x) == x).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--k", type=int, default=100, help="importance samples of the test NLL")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    digits = load_digits()
    train, test = rows_as_sequences(digits.train.x), rows_as_sequences(digits.test.x)
    batch_size = 100
    steps = -(-len(train) // batch_size)
    spec = {"type": "sequence_vae", "vocab_size": 17, "latent_dim": args.latent_dim, "hidden": args.hidden}

    curves: dict[str, list[float]] = {}
    rows = []
    for name, (model_args, objective_args) in methods(steps, args.epochs).items():
        torch.manual_seed(0)
        model = vaekit.build_model({**spec, **model_args}, [8])
        start = time.perf_counter()
        history = fit(model, ELBOObjective(**objective_args), train, epochs=args.epochs, batch_size=batch_size, lr=2e-3)
        seconds = time.perf_counter() - start
        curves[name] = [e["kl"] for e in history.train]
        model.eval()
        torch.manual_seed(0)
        summary = elbo_terms(model, test)
        nll = -float(vaekit.log_likelihood(model, test, k=args.k).mean())
        means, logvars = posterior_statistics(model, test)
        units, _ = active_units(means)
        mi = mutual_information(means, logvars)
        accuracy = token_accuracy(model, test)
        rows.append(
            [name, f"{summary['kl']:.3f}", f"{units}/{args.latent_dim}", f"{mi:.3f}", f"{-summary['elbo']:.3f}",
             f"{nll:.3f}", f"{accuracy:.3f}", f"{seconds:.0f}"]
        )  # fmt: skip
        print(" | ".join(rows[-1]), flush=True)

    header = ["method", "test KL", "active units", "MI I(x;z)", "test -ELBO", f"test NLL (k={args.k})",
              "greedy token acc.", "train s"]  # fmt: skip
    table = "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    )
    figure = HERE / "figures" / "collapse_kl.png"
    plot(curves, figure)
    print(table)
    print(f"figure: {figure}")
    if not args.no_results:
        note = (
            f"Digits rows as 8-token sequences (17 levels): {len(train)} train / {len(test)} test rows; sequence_vae "
            f"(GRU, hidden {args.hidden}, latent {args.latent_dim}); {args.epochs} epochs, batch {batch_size}, "
            f"Adam 2e-3, seed 0, {args.threads} CPU thread(s) on a shared 2-core machine (timings are noisy). "
            "NLL and -ELBO in nats per row. Figure: benchmarks/figures/collapse_kl.png."
        )
        common.append_results(
            "Posterior collapse with an autoregressive decoder (benchmarks/collapse.py)", f"{note}\n\n{table}"
        )


def plot(curves: dict[str, list[float]], path: Path) -> None:
    """KL per epoch per method, one line each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("KL(q(z|x) || p(z)), nats per row (train mean)")
    ax.set_title("Posterior collapse with a GRU decoder (digits rows)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
