"""Shared helpers for the benchmark scripts: reference data, timing, peak memory, matmul peak, results file.

Benchmarks are scripts, not tests. Each one prints a markdown table and appends it, with the exact
command line, to ``benchmarks/RESULTS.md`` (see /work/shared/BENCHMARKS.md for the protocol).
"""

from __future__ import annotations

import os
import platform
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


# ------------------------------------------------------------------------------------------------ data
@dataclass
class ReferenceData:
    """The reference image data as uint8 in memory.

    Attributes:
        name: "fashion-mnist", or a description of the fallback actually used.
        train_x: (N, 1, 28, 28) uint8 training images, 0..levels-1.
        test_x: (M, 1, 28, 28) uint8 test images.
        levels: grey levels (256).
        fallback: True when Fashion-MNIST was absent and digits were upsampled instead.
    """

    name: str
    train_x: Tensor
    test_x: Tensor
    levels: int
    fallback: bool


def _upsample_digits(x: Tensor, levels: int) -> Tensor:
    """(N, 1, 8, 8) uint8 digits with ``levels`` grey levels -> (N, 1, 28, 28) uint8 with 256 levels."""
    scaled = x.float() / (levels - 1)
    big = F.interpolate(scaled, size=(28, 28), mode="bilinear", align_corners=False)
    return (big.clamp(0, 1) * 255).round().to(torch.uint8)


def load_reference_data(data_dir: str | None = None, train_size: int = 60_000) -> ReferenceData:
    """Fashion-MNIST (60,000 / 10,000), or, if its idx files are absent, digits upsampled to 28x28.

    The fallback repeats the 1,797 digits (train) up to ``train_size`` examples so epochs have the
    reference length; it says so in ``name`` and ``fallback``.
    """
    import vaekit.data as data

    try:
        ds = data.load_fashion_mnist(data_dir)
        return ReferenceData("fashion-mnist", ds.train.x, ds.test.x, 256, False)
    except FileNotFoundError as err:
        print(f"[benchmark] Fashion-MNIST not found ({err}); FALLING BACK to digits upsampled to 28x28", flush=True)
    ds = data.load_digits()
    train = _upsample_digits(torch.cat([ds.train.x, ds.validation.x]), ds.levels)
    reps = -(-train_size // len(train))
    train = train.repeat(reps, 1, 1, 1)[:train_size]
    return ReferenceData(
        "digits upsampled to 28x28 (fallback)", train, _upsample_digits(ds.test.x, ds.levels), 256, True
    )


# ------------------------------------------------------------------------------------------ measurement
def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == "darwin" else rss / 1024.0


@dataclass
class Rate:
    """A rate per wall-clock second and per CPU second of this process (all its threads).

    On a shared machine the wall rate depends on the load; the CPU rate much less so.
    """

    wall: float
    cpu: float


def matmul_peak(size: int = 2048, seconds: float = 2.0, repeats: int = 3) -> Rate:
    """The machine's fp32 matrix-multiply rate in FLOP/s: best of ``repeats`` timed loops of size^3 products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)  # warm-up
    flop = 2.0 * size**3
    best = Rate(0.0, 0.0)
    for _ in range(repeats):
        n, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            torch.mm(a, b, out=out)
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / repeats:
                break
        cpu = max(time.process_time() - cpu_start, 1e-9)
        best = Rate(max(best.wall, n * flop / elapsed), max(best.cpu, n * flop / cpu))
    return best


def mlp_forward_flops(widths: Sequence[int]) -> int:
    """Multiply-add FLOPs (2 per MAC) of one example through linear layers ``widths[0] -> widths[1] -> ...``."""
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:], strict=False))


def mlp_vae_forward_flops(data_dim: int, hidden: Sequence[int], latent_dim: int) -> int:
    """Matmul FLOPs of one example through an MLP VAE forward pass (encoder, 2*latent head, decoder)."""
    encoder = mlp_forward_flops([data_dim, *hidden, 2 * latent_dim])
    decoder = mlp_forward_flops([latent_dim, *reversed(hidden), data_dim])
    return encoder + decoder


def timed(fn: Callable[[], object]) -> tuple[object, float, float]:
    """Run ``fn`` and return (its result, wall seconds, CPU seconds of this process)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu_start


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence (nan if empty)."""
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------------------------- output
def machine_note() -> str:
    """One line describing where the figures were taken."""
    omp = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") if k in os.environ}
    return (
        f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads{f', {omp}' if omp else ''}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores: shared, noisy machine (compare only within one run)"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table; floats are printed with 4 significant digits."""

    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def append_results(title: str, body: str, path: Path = RESULTS) -> None:
    """Append a section with the exact command line, the machine note and ``body`` to RESULTS.md."""
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = f"\n## {title} ({stamp})\n\nCommand: `{command}`\n\nMachine: {machine_note()}\n\n{body}\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(section)
