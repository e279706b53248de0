"""Shared helpers for the benchmark scripts: reference data, timing, peak memory, matmul peak, results file.

Benchmarks are scripts, not tests. Each one prints a markdown table and records it, with the exact
command line, with :func:`add_entry`: appended to ``benchmarks/RESULTS-history.md``, and shown as the
benchmark's latest table on the page ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import os
import platform
import re
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
    """Record a run: the exact command line, the machine note and ``body``, under ``title`` (see :func:`add_entry`)."""
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    add_entry(title, f"Command: `{command}`\n\nMachine: {machine_note()}\n\n{body}", path)


# ------------------------------------------------------------------------------------------ results page
HISTORY_NAME = "RESULTS-history.md"
_STAMP = re.compile(r"\s*\((?:(?P<kind>[^()]*?),\s*)?(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d UTC)\)\s*$")
NOTE_KINDS = ("note", "notes", "screens")
PAGE_INTRO = """# Benchmark results

The latest table of each benchmark, most recent first, with the command that produced it. Every run, and
the notes written about the runs, stay in order in [RESULTS-history.md](RESULTS-history.md). The scripts in
`benchmarks/` append there and rebuild this page (`benchmarks/common.py`, `add_entry`): edit neither by hand.

Benchmarks on this page:
"""


@dataclass
class Entry:
    """One recorded run (or note) of the history file.

    Attributes:
        title: the benchmark's title (what groups its runs), without the time stamp.
        stamp: "YYYY-MM-DD HH:MM UTC", or "" for early entries that have none in their heading.
        note: a written note about runs rather than a run.
        text: everything below the heading.
    """

    title: str
    stamp: str
    note: bool
    text: str


def parse_entries(text: str) -> list[Entry]:
    """The entries of a history file, in file order: each starts at a ``## `` heading outside code blocks."""
    entries: list[Entry] = []
    heading, lines, fenced = None, [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if heading is not None:
                entries.append(_entry(heading, lines))
            heading, lines = line[3:], []
        elif heading is not None:
            lines.append(line)
    if heading is not None:
        entries.append(_entry(heading, lines))
    return entries


def _entry(heading: str, lines: list[str]) -> Entry:
    match = _STAMP.search(heading)
    title = heading[: match.start()] if match else heading.strip()
    kind = (match.group("kind") or "").strip().lower() if match else ""
    return Entry(title.strip(), match.group("stamp") if match else "", kind in NOTE_KINDS, "\n".join(lines).strip())


def render_page(entries: list[Entry]) -> str:
    """The results page: the latest run of each benchmark (most recent first), then the list of notes."""
    latest: dict[str, tuple[int, Entry]] = {}
    for index, entry in enumerate(entries):
        if not entry.note:
            latest[entry.title] = (index, entry)
    runs = [entry for _, entry in sorted(latest.values(), key=lambda item: -item[0])]
    parts = [PAGE_INTRO + "\n" + "\n".join(f"- {entry.title}" for entry in runs)]
    for entry in runs:
        when = f"Latest run: {entry.stamp}." if entry.stamp else "Latest run (undated)."
        parts.append(f"## {entry.title}\n\n{when}\n\n{entry.text}")
    notes = [entry for entry in entries if entry.note]
    if notes:
        listed = "\n".join(f"- {entry.title} ({entry.stamp})" for entry in reversed(notes))
        parts.append(
            f"## Notes\n\nWritten about the runs above, most recent first; the text is in {HISTORY_NAME}.\n\n{listed}"
        )
    return "\n\n".join(parts) + "\n"


def add_entry(title: str, text: str, path: Path = RESULTS) -> None:
    """Append ``## title (time stamp)`` and ``text`` to the history beside ``path``, then rebuild the page ``path``.

    Args:
        title: the benchmark's title; runs under one title replace each other on the page.
        text: the entry below its heading (command line, settings, table).
        path: the results page (``benchmarks/RESULTS.md``); the history is ``RESULTS-history.md`` beside it.
    """
    history = path.with_name(HISTORY_NAME)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(history, "a", encoding="utf-8") as f:
        f.write(f"\n## {title} ({stamp})\n\n{text.strip()}\n")
    page = render_page(parse_entries(history.read_text(encoding="utf-8")))
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)  # a reader never sees half a page
