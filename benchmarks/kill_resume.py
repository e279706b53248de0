"""Kill test: SIGKILL `vaekit train` at random moments, resume each time, and check that the final weights are
bit-identical to those of an uninterrupted run.

The first kill lands during start-up (before any checkpoint: the resume then starts from scratch); the
others alternate between a random moment soon after a random step and the moment a checkpoint is being
written (as soon as its temporary folder appears). Training checkpoints every few steps
(``train.checkpoint_every``), so most kills land inside an epoch.

    python benchmarks/kill_resume.py --kills 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import append_results, machine_note, markdown_table  # noqa: E402


def train_command(out: Path, args: argparse.Namespace, resume: bool) -> list[str]:
    """The `vaekit train` command line of the test run."""
    options = {
        "data.name": "digits", "data.limit": args.examples, "model.hidden": "[256,256]", "model.latent_dim": 8,
        "train.epochs": args.epochs, "train.batch_size": 20, "train.checkpoint_every": args.checkpoint_every,
        "train.lr_schedule": "cosine", "train.progress": "false", "train.device": "cpu", "evaluate.k": 5,
        "evaluate.plots": "false", "seed": 3,
    }  # fmt: skip
    command = [sys.executable, "-c", "from vaekit.cli import main; main()", "--threads", "1", "train"]
    command += ["--out", str(out)]
    for key, value in options.items():
        command += ["--set", f"{key}={value}"]
    return command + (["--resume"] if resume else [])


def environment() -> dict[str, str]:
    """This checkout's vaekit, one thread."""
    path = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=environment(), capture_output=True, text=True)


def checkpoint_step(out: Path) -> int:
    """The step of the run's last checkpoint (-1 before the first; read while the run may replace it)."""
    try:
        return int(json.loads((out / "checkpoints" / "last" / "training.json").read_text())["step"])
    except (OSError, ValueError, KeyError):
        return -1


def kill_during(command: list[str], out: Path, mode: str, target: int, rng: random.Random) -> str:
    """Start a run and SIGKILL it: "startup": at a random moment before its first step; "random": at a random
    moment soon after its checkpoint reached step ``target``; "write": in the first checkpoint write after that.
    Returns where the kill landed, or "finished" if the run ended first."""
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = out / "checkpoints"
    started, extra = time.perf_counter(), rng.uniform(0.0, 0.2)
    reached = None
    while process.poll() is None:
        writing = checkpoints.is_dir() and any(p.name.startswith(".last.tmp-") for p in checkpoints.iterdir())
        if reached is None and checkpoint_step(out) >= target:
            reached = time.perf_counter()
        due = (
            (mode == "startup" and time.perf_counter() - started >= extra * 5)
            or (mode == "random" and reached is not None and time.perf_counter() - reached >= extra)
            or (mode == "write" and reached is not None and writing)
        )
        if due:
            process.send_signal(signal.SIGKILL)
            process.wait()
            if writing:
                return "during a checkpoint write"
            if not (checkpoints / "last").exists():
                return "before the first checkpoint"
            return "between checkpoints" if mode == "random" else "at another moment"
        time.sleep(0.0002)
    return "finished"


def weights(out: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The saved model's and the last checkpoint's weights."""
    names = ("model/model.safetensors", "checkpoints/last/model.safetensors")
    return {name: load_file(str(out / name)) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--checkpoint-every", type=int, default=5, help="steps between mid-epoch checkpoints")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        reference, interrupted = Path(tmp) / "reference", Path(tmp) / "interrupted"
        started = time.perf_counter()
        done = run(train_command(reference, args, resume=False))
        uninterrupted_seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the uninterrupted run failed:\n{done.stderr[-2000:]}")
        total = checkpoint_step(reference)
        targets = sorted(rng.sample(range(1, total - 10), args.kills - 1))
        moments = []
        for i in range(args.kills):
            mode = "startup" if i == 0 else ("write" if i % 2 else "random")
            target = 0 if i == 0 else targets[i - 1]
            what = kill_during(train_command(interrupted, args, resume=i > 0), interrupted, mode, target, rng)
            moments.append(what)
            print(f"kill {i + 1}/{args.kills} ({mode}, after step {target}): {what}", flush=True)
        done = run(train_command(interrupted, args, resume=True))
        if done.returncode != 0:
            raise SystemExit(f"the final resumed run failed:\n{done.stderr[-2000:]}")
        expected, got = weights(reference), weights(interrupted)
    identical = all(
        expected[name].keys() == got[name].keys() and all(torch.equal(v, got[name][k]) for k, v in tensors.items())
        for name, tensors in expected.items()
    )
    rows = [[what, moments.count(what)] for what in dict.fromkeys(moments)]
    body = (
        f"Command: `python benchmarks/kill_resume.py {' '.join(sys.argv[1:])}`\n\n{machine_note()}\n\n"
        f"`vaekit train` on digits ({args.examples} examples, MLP 256-256, latent 8, {args.epochs} epochs of batch "
        f"20, cosine schedule, checkpoint_every {args.checkpoint_every} steps), SIGKILLed {args.kills} times (the "
        f"first during start-up, then alternately at a random moment after a random step and as soon as a checkpoint "
        f"write began), resumed with `--resume` after each. Uninterrupted run {uninterrupted_seconds:.1f} s.\n\n"
        + markdown_table(["where the kill landed", "kills"], rows)
        + f"\n\n**Final weights (model/ and checkpoints/last) bit-identical to the uninterrupted run: "
        f"{'yes' if identical else 'NO'}.**"
    )
    print(body)
    if not args.no_record:
        append_results("Kill and resume (benchmarks/kill_resume.py)", body)
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
