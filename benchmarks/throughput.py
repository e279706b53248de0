"""Training throughput of the `mlp-vae` reference setup: vaekit's own loop against a plain PyTorch loop.

Both train the same network (784-512-512 -> 32 Gaussian latents -> 512-512-784 Bernoulli logits, ReLU,
Adam lr 1e-3, batch 128) on dynamically binarized Fashion-MNIST in the same process, alternating epochs:
vaekit's ``fit`` runs all its epochs and, from its epoch callback, the plain loop runs one epoch of its
own, so both see the same machine load. The first epoch of each is warm-up and excluded; figures are
medians over the remaining epochs.

    python benchmarks/throughput.py --epochs 5
    python benchmarks/throughput.py --epochs 5 --compile
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import DynamicBinarize  # noqa: E402
from vaekit.train import fit  # noqa: E402

LATENT, HIDDEN, BATCH, LR = 32, (512, 512), 128, 1e-3


class PlainVAE(nn.Module):
    """The reference network written by hand."""

    def __init__(self, data_dim: int = 784):
        super().__init__()
        h1, h2 = HIDDEN
        self.encoder = nn.Sequential(
            nn.Linear(data_dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, 2 * LATENT)
        )
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, data_dim)
        )

    def loss(self, x: Tensor) -> Tensor:
        """Negative ELBO averaged over the batch; x is (B, 784) binary."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)  # (B, D) each
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        logits = self.decoder(z)  # (B, 784)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (rec + kl) / x.shape[0]


class PlainLoop:
    """A minimal hand-written training loop: tensors in memory, no framework."""

    def __init__(self, x: Tensor, seed: int):
        torch.manual_seed(seed)
        self.x = x.flatten(1)  # (N, 784) uint8
        self.model = PlainVAE(self.x.shape[1])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.gen = torch.Generator().manual_seed(seed)
        self.last_loss = float("nan")

    def epoch(self) -> None:
        n = self.x.shape[0]
        order = torch.randperm(n, generator=self.gen)
        for start in range(0, n, BATCH):
            xb = torch.bernoulli(self.x[order[start : start + BATCH]].float().div_(255.0))
            loss = self.model.loss(xb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.last_loss = float(loss.detach())


def build_vaekit(compile_model: bool, precision: str) -> tuple[nn.Module, dict]:
    """The reference model built by vaekit, and extra ``fit`` arguments for the chosen options."""
    model = vaekit.build_vae([1, 28, 28], latent_dim=LATENT, hidden=HIDDEN)
    accepted = inspect.signature(fit).parameters
    extra: dict = {"progress": False} if "progress" in accepted else {}
    if precision != "fp32":
        if "precision" not in accepted:
            raise SystemExit(f"this vaekit.train.fit has no precision option; cannot run {precision}")
        extra["precision"] = precision
    if compile_model:
        if "compile" in accepted:
            extra["compile"] = True  # the loop's own compile option, where it has one
        else:
            for part in (model.encoder, model.posterior, model.decoder):
                part.compile()
    return model, extra


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="measured epochs per loop (plus one warm-up)")
    parser.add_argument("--subset", type=int, default=0, help="train on the first N images (0: all 60,000)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--compile", action="store_true", help="torch.compile vaekit's networks")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="vaekit fit's precision")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST idx files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = common.load_reference_data(args.data_dir)
    x = data.train_x[: args.subset] if args.subset else data.train_x
    n = x.shape[0]
    peak_before = common.matmul_peak()
    print(f"data: {data.name}, {n} images; matmul peak {peak_before.wall / 1e9:.1f} GFLOP/s", flush=True)

    plain = PlainLoop(x, args.seed)
    model, extra = build_vaekit(args.compile, args.precision)
    times: dict[str, list[tuple[float, float]]] = {"vaekit fit": [], "plain PyTorch": []}  # (wall, cpu) per epoch
    mark = (time.perf_counter(), time.process_time())

    def alternate(*_: object) -> None:
        # Called at the end of each vaekit epoch: time it, then run one plain epoch.
        nonlocal mark
        times["vaekit fit"].append((time.perf_counter() - mark[0], time.process_time() - mark[1]))
        _, wall, cpu = common.timed(plain.epoch)
        times["plain PyTorch"].append((wall, cpu))
        rates = ", ".join(f"{name} {n / t[-1][0]:7.0f}" for name, t in times.items())
        print(f"epoch {len(times['plain PyTorch'])} samples/s: {rates}", flush=True)
        mark = (time.perf_counter(), time.process_time())

    mark = (time.perf_counter(), time.process_time())
    fit(
        model,
        vaekit.ELBOObjective(),
        x,
        epochs=args.epochs + 1,
        batch_size=BATCH,
        lr=LR,
        seed=args.seed,
        transform=DynamicBinarize(data.levels),
        callbacks=[alternate],
        **extra,
    )
    peak_after = common.matmul_peak()
    peak = common.Rate(max(peak_before.wall, peak_after.wall), max(peak_before.cpu, peak_after.cpu))

    flops_per_example = 3 * common.mlp_vae_forward_flops(784, HIDDEN, LATENT)  # forward + backward = 3x forward
    rows, medians = [], {}
    for name, epochs in times.items():
        wall = common.median([w for w, _ in epochs[1:]])
        cpu = common.median([c for _, c in epochs[1:]])
        medians[name] = (wall, cpu)
        rows.append(
            [
                name,
                f"{wall:.2f}",
                f"{n / wall:.0f}",
                f"{n * flops_per_example / wall / 1e9:.1f}",
                f"{n * flops_per_example / wall / peak.wall:.0%}",
                f"{cpu:.2f}",
                f"{n / cpu:.0f}",
                f"{n * flops_per_example / cpu / peak.cpu:.0%}",
            ]
        )
    ratio_wall = medians["plain PyTorch"][0] / medians["vaekit fit"][0]
    ratio_cpu = medians["plain PyTorch"][1] / medians["vaekit fit"][1]
    options = f"threads={torch.get_num_threads()}, fit extras {extra}; the plain loop is always fp32 eager"
    header = ["loop", "epoch s", "samples/s", "GFLOP/s", "of peak", "epoch CPU s", "samples/CPU s", "of CPU peak"]
    body = (
        f"Data: {data.name}, {n} training images, batch {BATCH}, dynamic binarization; {args.epochs} measured epochs "
        f"each (1 warm-up excluded), alternating in one process; medians. Options: {options}.\n"
        f"Matmul peak (2048^2 fp32, best of before/after): {peak.wall / 1e9:.1f} GFLOP/s wall, "
        f"{peak.cpu / 1e9:.1f} GFLOP per CPU second; matmul FLOPs per training example "
        f"{flops_per_example / 1e6:.2f} M (3x forward). CPU columns count this process's CPU time (all threads), "
        f"which the other users of the machine disturb less than wall time.\n\n"
        f"{common.markdown_table(header, rows)}\n\n"
        f"**vaekit / plain = {ratio_wall:.2f}** (wall), {ratio_cpu:.2f} (CPU time); "
        f"peak RSS of the process {common.peak_rss_mb():.0f} MiB."
    )
    print(body)
    if not args.no_append:
        common.append_results("Training throughput, mlp-vae", body)


if __name__ == "__main__":
    main()
