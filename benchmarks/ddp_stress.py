"""Stress test of data-parallel training's exit: run two-process (gloo, torchrun) training many times and count
the runs that fail, e.g. by a rank aborting at exit ("terminate called without an active exception").

The worker trains a tiny VAE twice with ``vaekit.train.fit`` (the second call reuses the process group) and
then simply returns: tearing the process group down is vaekit's job, not the script's.

    python benchmarks/ddp_stress.py --runs 50
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(out: str, teardown: str) -> None:
    """One rank's work (run by torchrun); ``teardown`` "barrier": end as scripts often do, with a gloo barrier
    and ``destroy_process_group`` (the pattern that can abort); "vaekit": leave it to vaekit at exit."""
    import torch

    from vaekit import ELBOObjective, build_model
    from vaekit.train import fit

    torch.set_num_threads(1)
    for run in ("a", "b"):
        torch.manual_seed(0)
        model = build_model({"type": "vae", "latent_dim": 2, "hidden": [8]}, [6])
        x = torch.rand(64, 6, generator=torch.Generator().manual_seed(1)).round()
        fit(model, ELBOObjective(), x, epochs=2, batch_size=16, device="cpu", progress=False, run_dir=f"{out}/{run}")
    if teardown == "barrier":
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def launch(out: str, timeout: float, teardown: str) -> tuple[str, float]:
    """Run one two-process job; return its outcome ("ok" or why it failed) and its seconds."""
    path = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [str(Path(__file__).resolve()), "--worker", out, "--teardown", teardown]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout (hang)", time.perf_counter() - started
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if "terminate called" in output:
        return "abort at exit (terminate called)", seconds
    if done.returncode != 0:
        last = [line for line in output.splitlines() if line.strip()][-1:] or [""]
        return f"exit {done.returncode}: {last[0][:80]}", seconds
    return "ok", seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a job counts as hung")
    parser.add_argument("--teardown", choices=["vaekit", "barrier"], default="vaekit", help="who ends the group")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.teardown)
        return
    outcomes: Counter[str] = Counter()
    times = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            outcome, seconds = launch(out, args.timeout, args.teardown)
        outcomes[outcome] += 1
        times.append(seconds)
        print(f"run {i + 1}/{args.runs}: {outcome} ({seconds:.1f} s)", flush=True)
    failed = args.runs - outcomes["ok"]
    sys.path.insert(0, str(ROOT))
    from benchmarks.common import append_results, machine_note, markdown_table, median

    rows = [[outcome, count] for outcome, count in outcomes.most_common()]
    body = (
        f"Command: `python benchmarks/ddp_stress.py {' '.join(sys.argv[1:])}`\n\n{machine_note()}\n\n"
        f"Each run: torchrun --standalone, 2 CPU processes (gloo), two `fit` calls of a tiny VAE (64 examples, "
        f"2 epochs), then teardown `{args.teardown}` (vaekit: the script just ends and vaekit leaves the group at "
        f"exit; barrier: the script calls a gloo barrier and destroy_process_group itself). "
        f"Median run {median(times):.1f} s.\n\n"
        f"**{failed} of {args.runs} runs failed.**\n\n" + markdown_table(["outcome", "runs"], rows)
    )
    print(body)
    if not args.no_record:
        append_results("Data-parallel exit stress test (benchmarks/ddp_stress.py)", body)


if __name__ == "__main__":
    main()
