"""The demo run end to end: `vaekit train` with the default config, timed, with its test metrics.

Runs the real command in a subprocess once per thread setting and reports wall time, CPU time of
the child process, seconds per epoch (from metrics.jsonl) and the test NLL / ELBO / active units
from metrics.json. Records the table, with this command line, in benchmarks/RESULTS.md (see common.add_entry).

    python benchmarks/cli_demo.py                         # the default run (what `make demo` does)
    python benchmarks/cli_demo.py --threads auto 2 --epochs 10   # threading policy side by side
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def run_once(threads: str, epochs: int | None, out: Path) -> dict[str, float | str]:
    """One `vaekit train` in a subprocess; returns timings and the test metrics."""
    command = [sys.executable, "-m", "vaekit.cli"]
    if threads != "auto":
        command += ["--threads", threads]
    command += ["train", "--out", str(out), "--set", "train.progress=false"]
    if epochs is not None:
        command += ["--set", f"train.epochs={epochs}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epoch_seconds = sorted(r["seconds"] for r in rows[1:] or rows)  # first epoch is warm-up
    return {
        "threads": threads,
        "epochs": len(rows),
        "wall_s": wall,
        "cpu_s": cpu,
        "epoch_s_median": epoch_seconds[len(epoch_seconds) // 2],
        "nll": metrics["nll"],
        "elbo": metrics["elbo"],
        "active_units": metrics["active_units"],
        "bits_per_dim": metrics["bits_per_dim"],
    }


def table(results: list[dict[str, float | str]]) -> str:
    """Markdown table of the runs."""
    lines = [
        "| threads | epochs | wall (s) | CPU (s) | s/epoch (median) | test NLL (nats, k=1000) | test ELBO | bits/dim "
        "| active units |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['threads']} | {r['epochs']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['epoch_s_median']:.3f} "
            f"| {r['nll']:.2f} | {r['elbo']:.2f} | {r['bits_per_dim']:.3f} | {r['active_units']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", nargs="+", default=["auto"], help="thread settings: auto or a number")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (default: the config's)")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, threads in enumerate(args.threads):
            results.append(run_once(threads, args.epochs, Path(tmp) / f"run{i}"))
    text = table(results)
    print(text)
    if not args.no_results:
        command = "python " + " ".join(shlex.quote(a) for a in ["benchmarks/cli_demo.py", *sys.argv[1:]])
        note = (
            "`vaekit train` default run (MLP VAE on digits, dynamic binarization) end to end: training, test "
            "evaluation (k=1000), figures. Timings on a shared, busy 2-core machine: compare rows of this "
            "table only."
        )
        common.add_entry("Demo run (`vaekit train`)", f"{note}\n\n    {command}\n\n{text}")


if __name__ == "__main__":
    main()
