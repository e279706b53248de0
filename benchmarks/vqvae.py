"""VQ-VAE with a learned prior over its codes on Fashion-MNIST: one row for benchmarks/RESULTS.md.

Stage one trains the VQ-VAE (conv encoder to a 7x7 grid, EMA codebook, k-means initialization,
dead-code restart, discretized logistic likelihood on the 8-bit pixels) with the ``vq`` objective;
stage two trains a causal Transformer prior on the training codes with the ``code_prior`` objective,
both through ``vaekit.train.fit``. Measured on the first ``--test-size`` test images (grey levels):

- reconstruction error: summed squared error per image between x in [0, 1] and the decoded mean,
  and the mean squared error per pixel;
- codebook perplexity (exp entropy of the test codes' frequencies) and the fraction of codes used;
- bits/dim of the bound -log p(x) <= -log p(x|z_q) - log p(codes), with the uniform prior of stage
  one (L log K nats for the codes) and with the learned prior, through ``vaekit.log_likelihood``
  (k = 1: the posterior is a point mass, so every importance weight is equal);
- the Fréchet distance of samples (temperature 1) to the test images in the features of the small
  classifier of ``vaekit.evaluate.quality`` trained on the training subset, as in benchmarks/variants.py
  (same subset, seed and classifier), with the real-vs-real distance for scale.

    python benchmarks/vqvae.py                  # ~10 minutes on a shared 2-core machine
    python benchmarks/vqvae.py --train-size 1000 --epochs 1 --prior-epochs 1 --test-size 200 --no-results
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, markdown_table  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import ToUnit, load_fashion_mnist  # noqa: E402
from vaekit.evaluate import bits_per_dim, frechet_distance, train_feature_classifier  # noqa: E402
from vaekit.objectives.vq import CodePriorObjective, VQObjective  # noqa: E402
from vaekit.train import fit  # noqa: E402


@torch.no_grad()
def code_statistics(model: vaekit.models.VQVAE, x: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Codes of x (N, h, w), the perplexity of their frequencies, and the fraction of codes used."""
    codes = torch.cat([model.encode_indices(x[i : i + 500]) for i in range(0, len(x), 500)])
    counts = torch.bincount(codes.flatten(), minlength=model.quantizer.num_codes).float()
    probs = counts / counts.sum()
    perplexity = math.exp(-float((probs * probs.clamp_min(1e-12).log()).sum()))
    return codes, perplexity, float((counts > 0).float().mean())


@torch.no_grad()
def reconstruction_errors(model: vaekit.models.VQVAE, x: torch.Tensor) -> tuple[float, float]:
    """Summed squared error per image and mean squared error per pixel of the reconstructions."""
    errors = torch.cat([(model.reconstruct(x[i : i + 500]) - x[i : i + 500]).pow(2) for i in range(0, len(x), 500)])
    return float(errors.flatten(1).sum(1).mean()), float(errors.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--test-size", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=5, help="VQ-VAE epochs")
    parser.add_argument("--prior-epochs", type=int, default=6)
    parser.add_argument("--prior-width", type=int, default=64)
    parser.add_argument("--prior-layers", type=int, default=3)
    parser.add_argument("--num-codes", type=int, default=256)
    parser.add_argument("--code-dim", type=int, default=32)
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--conditional", action="store_true", help="class-conditional prior (samples use test labels)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy 2-core machine")
    parser.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST idx files")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_fashion_mnist(args.data_dir)
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(data.train), generator=gen)[: args.train_size]  # the subset of variants.py
    train_x, train_y = data.train.x[pick], data.train.y[pick]
    train_grey = train_x.float() / 255
    test_grey, test_y = data.test.float()[: args.test_size], data.test.y[: args.test_size]

    start = time.perf_counter()
    classifier = train_feature_classifier(train_grey, train_y, epochs=5, seed=0)
    print(f"feature classifier trained in {time.perf_counter() - start:.0f}s", flush=True)
    reference = frechet_distance(classifier, test_grey, data.train.float()[pick[: args.test_size]])

    torch.manual_seed(0)
    spec = {
        "type": "vqvae",
        "num_codes": args.num_codes,
        "code_dim": args.code_dim,
        "channels": args.channels,
        "residual_blocks": 1,
        "likelihood": {"type": "discretized_logistic", "levels": 256},
    }
    model = vaekit.build_model(spec, [1, 28, 28])
    start = time.perf_counter()
    history = fit(model, VQObjective(), train_x, epochs=args.epochs, batch_size=128, lr=1e-3, seed=0,
                  transform=ToUnit(256), progress=False)  # fmt: skip
    vq_seconds = time.perf_counter() - start
    for epoch, row in enumerate(history.train, 1):
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    model.eval()
    rec_sum, rec_mse = reconstruction_errors(model, test_grey)
    _, perplexity, usage = code_statistics(model, test_grey)
    bpd_uniform = bits_per_dim(-vaekit.log_likelihood(model, test_grey, k=1), model.data_shape)

    train_codes, _, _ = code_statistics(model, train_grey)
    torch.manual_seed(0)
    n_classes = 10 if args.conditional else None
    prior = model.new_prior(width=args.prior_width, layers=args.prior_layers, heads=4, dropout=0.1, n_classes=n_classes)
    start = time.perf_counter()
    prior_history = fit(prior, CodePriorObjective(), train_codes, train_y if args.conditional else None,
                        epochs=args.prior_epochs, batch_size=128, lr=1e-3, seed=0, progress=False)  # fmt: skip
    prior_seconds = time.perf_counter() - start
    print(f"prior: {prior_history.train[-1]}", flush=True)
    full = model.with_prior(prior).eval()
    y = test_y if args.conditional else None
    bpd_prior = bits_per_dim(-vaekit.log_likelihood(full, test_grey, y, k=1), model.data_shape)
    torch.manual_seed(0)
    start = time.perf_counter()
    samples = full.sample(len(test_grey), temperature=args.temperature, y=y)
    sample_seconds = time.perf_counter() - start
    fd = frechet_distance(classifier, test_grey, samples)

    kind = "class-cond. " if args.conditional else ""
    name = f"VQ-VAE K={args.num_codes} D={args.code_dim} 7x7 + {kind}Transformer {args.prior_layers}x{args.prior_width}"
    row = [
        name, f"{rec_sum:.1f}", f"{rec_mse:.4f}", f"{perplexity:.1f}", f"{usage:.2f}", f"{bpd_uniform:.3f}",
        f"{bpd_prior:.3f}", f"{fd:.1f}", f"{reference:.1f}",
        f"{vq_seconds:.0f} / {prior_seconds:.0f} / {sample_seconds:.0f}",
    ]  # fmt: skip
    header = [
        "model", "recon. error (sum sq., grey)", "MSE/pixel", "codebook perplexity", "codes used",
        "bits/dim (uniform prior)", "bits/dim (learned prior)", f"Fréchet distance (T={args.temperature:g})",
        "FD real vs real", "train s VQ / prior / sample s",
    ]  # fmt: skip
    table = markdown_table(header, [row])
    notes = (
        f"Fashion-MNIST: {args.train_size} training images (the seed-0 subset of benchmarks/variants.py), "
        f"{args.epochs} VQ-VAE epochs + {args.prior_epochs} prior epochs, batch 128, Adam lr 1e-3, "
        f"{args.threads} thread(s) on a shared 2-core machine (timings are noisy); test: first {args.test_size} "
        "test images. Likelihood: discretized logistic on the 8-bit pixels, so bits/dim are those of the discrete "
        "data; the bound is -log p(x|z_q) - log p(codes) (point-mass posterior). Reconstruction error is on grey "
        "images in [0, 1] (variants.py reports it on binarized images, so only the Fréchet distance compares "
        "across the two tables)."
    )
    print(table)
    print(notes)
    if not args.no_results:
        append_results("VQ-VAE + learned prior (benchmarks/vqvae.py)", table + "\n\n" + notes)


if __name__ == "__main__":
    main()
