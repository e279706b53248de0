"""Overhead of vaekit's training loop: ``fit`` against a minimal loop training the SAME vaekit model.

benchmarks/throughput.py compares against a hand-written network; this script isolates the loop
itself. Each repetition runs one epoch of each variant, interleaved in one process so that all see the
same machine load; figures are medians over repetitions (the first, warm-up, is excluded).

Variants: a minimal loop with torch's default Adam (for-loop kernels on CPU), the same loop with the
fused Adam that ``fit`` uses, ``fit`` with default settings, and ``fit`` with the production extras
(validation every epoch, checkpoints last/best and metrics files in a run folder, gradient clipping).

    python benchmarks/train_loop_overhead.py --subset 5120 --repeats 5 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import vaekit  # noqa: E402
from vaekit.data import DynamicBinarize  # noqa: E402
from vaekit.train import fit  # noqa: E402

LATENT, HIDDEN, BATCH, LR = 32, (512, 512), 128, 1e-3


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return vaekit.build_vae([1, 28, 28], latent_dim=LATENT, hidden=HIDDEN)


def minimal_epoch(x: torch.Tensor, levels: int, fused: bool | None, seed: int) -> float:
    """Seconds for one epoch of the smallest reasonable loop over in-memory uint8 data."""
    model, objective = _model(seed), vaekit.ELBOObjective()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=fused)
    binarize, order_gen = DynamicBinarize(levels), torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    order = torch.randperm(x.shape[0], generator=order_gen)
    for step, first in enumerate(range(0, x.shape[0], BATCH)):
        result = objective(model, (binarize(x[order[first : first + BATCH]]), None), step)
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def fit_epoch(x: torch.Tensor, val_x: torch.Tensor | None, levels: int, seed: int, extras: bool) -> float:
    """Seconds of ``fit``'s training phase for one epoch (from its own metrics: samples / samples_per_second)."""
    with tempfile.TemporaryDirectory() as run_dir:
        options = {"val_x": val_x, "run_dir": run_dir, "grad_clip": 100.0} if extras else {}
        history = fit(_model(seed), vaekit.ELBOObjective(), x, epochs=1, batch_size=BATCH, lr=LR, seed=seed,
                      transform=DynamicBinarize(levels), progress=False, **options)  # fmt: skip
        record = history.records[0]
        if not extras:
            return x.shape[0] / record["samples_per_second"]
        return record["seconds"]  # the whole epoch: training, validation, checkpoint and metrics writes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subset", type=int, default=5120, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=5, help="measured repetitions (plus one warm-up)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-append", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = common.load_reference_data(args.data_dir)
    x, val_x = data.train_x[: args.subset], data.test_x[: max(args.subset // 10, BATCH)]
    variants = {
        "minimal loop, Adam (torch default)": lambda: minimal_epoch(x, data.levels, None, 0),
        "minimal loop, Adam fused": lambda: minimal_epoch(x, data.levels, True, 0),
        "fit, defaults": lambda: fit_epoch(x, None, data.levels, 0, extras=False),
        "fit, + validation, checkpoints, metrics, grad_clip": lambda: fit_epoch(x, val_x, data.levels, 0, True),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for repeat in range(args.repeats + 1):
        for name, run in variants.items():
            times[name].append(run())
        print(f"repeat {repeat}: " + ", ".join(f"{t[-1]:.2f}s" for t in times.values()), flush=True)
    base = common.median(times["minimal loop, Adam (torch default)"][1:])
    rows = []
    for name, values in times.items():
        t = common.median(values[1:])
        rows.append([name, f"{t:.3f}", f"{x.shape[0] / t:.0f}", f"{base / t:.2f}"])
    table = common.markdown_table(["loop", "epoch s (median)", "samples/s", "speed vs minimal default"], rows)
    body = (
        f"Data: {data.name}, {x.shape[0]} training images (validation {val_x.shape[0]}), mlp-vae "
        f"(784-512-512, latent {LATENT}, batch {BATCH}), dynamic binarization; {args.repeats} measured "
        f"repetitions (1 warm-up excluded), variants interleaved in one process. Timings taken on a shared "
        f"machine: compare within this table only.\n\n{table}"
    )
    print(body)
    if not args.no_append:
        common.append_results("Training loop overhead (fit vs minimal loop, same model)", body)


if __name__ == "__main__":
    main()
