"""MusicVAE on folk tunes: flat against hierarchical decoder at 2 and 16 bars, side by side, at an equal budget.

For each window length (``--bars``) the two models share everything but the decoder: the bidirectional
LSTM encoder, latent size, LSTM width, the objective (beta, total free bits), batch size and the number
of optimizer steps (``--steps``, with ``--max-minutes`` as a cap per model so the total stays bounded);
the seconds each took are reported beside. Data: music21's folk tunes (cached after the first parse),
4/4-compatible tunes only, 10% of tunes held out with seed 0 (BENCHMARKS.md); windows start on bar lines.

Figures on held-out windows: per-step reconstruction accuracy from the posterior mean, teacher-forced and
free-running (greedy); statistics of prior samples against the data; and interpolation midpoints (slerp,
t = 0.5, between random pairs of held-out windows): the share whose note density and pitch range both
lie within the data's 5th-95th percentile interval, beside the data's own share.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/music.py --bars 2 16 --steps 1500 500 --max-minutes 10
    # the 2-bar pair at a longer budget, both decoders at once (one process each), cosine learning rate
    python benchmarks/music.py --bars 2 --steps 7680 --max-minutes 60 --beta 0.02 --latent 128 \
        --free-bits-per-bar 32 --lr 2e-3 --lr-schedule cosine --jobs 2
    # the 16-bar pair at the budget the 2-bar run suggests (about 12 epochs of the transposed windows); not run
    # here: about 9 hours per model on one CPU thread (3.8 s per step), minutes on a GPU
    python benchmarks/music.py --collections essenFolksong --bars 16 --steps 9000 --max-minutes 600 --beta 0.02 \
        --latent 128 --free-bits-per-bar 32 --lr 2e-3 --lr-schedule cosine --transpose 3 --device cuda

A run of other lengths than 2 and 16 bars is recorded under its own title, so the page keeps both.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from vaekit.decoding import DecodeOptions
from vaekit.generate import interpolate_latents
from vaekit.music import MelodyEncoding, MusicModel, MusicReport, load_folk_tunes, melody_windows, split_tunes
from vaekit.music.metrics import reconstruction_accuracy, statistics_table, summarize, within_data_range
from vaekit.registry import build, build_model
from vaekit.train import fit
from vaekit.train.device import resolve_device

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_entry, machine_note, markdown_table  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bars", type=int, nargs="+", default=[2, 16])
    p.add_argument("--decoders", nargs="+", default=["recurrent", "hierarchical"])
    p.add_argument("--collections", nargs="+", default=None, help="music21 collections (default: all folk)")
    p.add_argument("--steps", type=int, nargs="+", default=[1500, 500], help="optimizer steps per model, per --bars")
    p.add_argument("--max-minutes", type=float, default=10.0, help="cap on each model's training time")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument(
        "--lr-schedule", default="constant", choices=["constant", "cosine"],
        help="cosine: to 0 over --steps (whole epochs)",
    )  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="decoders trained at once, one process and thread each")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--latent", type=int, default=64)
    p.add_argument("--beta", type=float, default=0.2)
    p.add_argument("--free-bits-per-bar", type=float, default=8.0, help="total free bits = this x bars")
    p.add_argument("--transpose", type=int, default=0, help="training windows shifted by up to this many semitones")
    p.add_argument("--eval-windows", type=int, default=400)
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="where the models train (cuda, auto, ...); evaluated on the CPU")
    p.add_argument("--no-record", action="store_true")
    return p.parse_args()


def _subset(x: np.ndarray, n: int, seed: int) -> torch.Tensor:
    pick = np.random.default_rng(seed).permutation(len(x))[:n]
    return torch.as_tensor(x[np.sort(pick)])


def midpoints(music: MusicModel, test: torch.Tensor, pairs: int, seed: int) -> list:
    """Greedy decodings of slerp midpoints between ``pairs`` random pairs of held-out windows."""
    rng = np.random.default_rng(seed)
    means = music.latent_means(test)
    z = []
    for _ in range(pairs):
        i, j = rng.choice(len(test), 2, replace=False)
        z.append(interpolate_latents(means[i], means[j], 3, "slerp")[1])
    return music.melodies(music.decode_latents(torch.stack(z), DecodeOptions("greedy")))


def run_one(
    args, bars: int, max_steps: int, decoder: str, train: torch.Tensor, test: torch.Tensor, encoding: MelodyEncoding
):
    steps = bars * encoding.steps_per_bar
    spec = {
        "type": "sequence_vae", "vocab_size": encoding.vocab_size, "latent_dim": args.latent, "cell": "lstm",
        "hidden": args.hidden, "embed_dim": 32, "context_every_step": True,
        "decoder": decoder if decoder != "hierarchical" else {"type": "hierarchical", "conductor_hidden": args.hidden},
    }  # fmt: skip
    torch.manual_seed(args.seed)
    model = build_model(spec, [steps])
    objective = build(
        "objective", {"type": "elbo", "beta": args.beta, "free_bits": args.free_bits_per_bar * bars,
                      "free_bits_groups": 1}
    )  # fmt: skip
    # a cosine schedule is defined over whole epochs: as many as the step budget covers
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    epochs = 10_000 if args.lr_schedule == "constant" else math.ceil(max_steps / steps_per_epoch)
    started = time.time()
    history = fit(
        model, objective, train, batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule,
        epochs=epochs, max_steps=max_steps,
        max_seconds=args.max_minutes * 60, grad_clip=1.0, seed=args.seed, device=args.device, progress=False,
    )  # fmt: skip
    seconds = time.time() - started
    done = int(getattr(history, "steps", 0) or 0)
    music = MusicModel(model, encoding, bars)
    accuracy = reconstruction_accuracy(model, test)
    data_stats = summarize(statistics_table(music.melodies(test), encoding.steps_per_bar))
    sampled = music.melodies(music.sample(args.samples, DecodeOptions("greedy"), seed=args.seed))
    sample_stats = summarize(statistics_table(sampled, encoding.steps_per_bar))
    mids = midpoints(music, test, args.pairs, args.seed)
    return {
        "bars": bars,
        "decoder": "hierarchical" if decoder == "hierarchical" else "flat",
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": done,
        "seconds": seconds,
        "tf": accuracy["teacher_forced"],
        "fr": accuracy["free_running"],
        "mid_in_range": within_data_range(mids, data_stats),
        "data_in_range": within_data_range(music.melodies(test), data_stats),
        "data": data_stats,
        "samples": sample_stats,
        "midpoints": summarize(statistics_table(mids, encoding.steps_per_bar)),
    }


def _run_one_thread(*job) -> dict:
    """``run_one`` in a worker process, on one thread (the workers share the machine's cores)."""
    torch.set_num_threads(1)
    return run_one(*job)


def train_decoders(
    args, bars: int, max_steps: int, train: torch.Tensor, test: torch.Tensor, encoding: MelodyEncoding
) -> list[dict]:
    """Every decoder of ``--decoders`` at one window length: in turn, or ``--jobs`` at once in worker processes."""
    jobs = [(args, bars, max_steps, decoder, train, test, encoding) for decoder in args.decoders]
    if args.jobs <= 1:
        return [run_one(*job) for job in jobs]
    # spawn: a forked child would inherit torch's thread pool state; each worker trains on one thread.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        return list(pool.map(_run_one_thread, *zip(*jobs)))


def placement(args) -> str:
    """Where each model trained, for the settings line."""
    device = resolve_device(args.device)
    return "1 CPU thread" if device.type == "cpu" else f"the {device} device"


def _stat(s: dict, name: str, digits: int = 2) -> str:
    return f"{s[name]['mean']:.{digits}f}"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    encoding = MelodyEncoding()
    report = MusicReport()
    kwargs = {} if args.collections is None else {"collections": args.collections}
    tunes = load_folk_tunes(report=report, log=print, **kwargs)
    train_tunes, held_out = split_tunes(tunes, 0.1, seed=0)
    print(f"{len(tunes)} tunes ({len(train_tunes)} train / {len(held_out)} held out); {report.summary()}", flush=True)
    rows, details, results = [], [], []
    if len(args.steps) != len(args.bars):
        raise SystemExit(f"--steps needs one value per --bars {args.bars}, got {args.steps}")
    for bars, max_steps in zip(args.bars, args.steps):
        window_report = MusicReport()
        shifts = range(-args.transpose, args.transpose + 1)
        train = torch.as_tensor(melody_windows(train_tunes, encoding, bars, transpose=shifts, report=window_report))
        test_all = melody_windows(held_out, encoding, bars, report=MusicReport())
        test = _subset(test_all, args.eval_windows, args.seed)
        print(f"{bars} bars: {len(train)} training windows, {len(test_all)} held-out windows "
              f"({len(test)} evaluated); {window_report.summary()}", flush=True)  # fmt: skip
        for r in train_decoders(args, bars, max_steps, train, test, encoding):
            r["train_windows"], r["test_windows"] = len(train), len(test_all)
            results.append(r)
            print({k: v for k, v in r.items() if k not in ("data", "samples", "midpoints")}, flush=True)
            rows.append([
                bars, r["decoder"], f"{r['parameters']:,}", r["steps"], f"{r['seconds']:.0f}",
                f"{r['tf']:.3f}", f"{r['fr']:.3f}", f"{r['mid_in_range']:.2f} (data {r['data_in_range']:.2f})",
            ])  # fmt: skip
            for label, s in (("data (held out)", r["data"]), ("samples", r["samples"]), ("midpoints", r["midpoints"])):
                details.append([
                    bars, r["decoder"], label, _stat(s, "pitch_range", 1), _stat(s, "note_density"),
                    _stat(s, "repeated_note_rate"), _stat(s, "in_key_rate"),
                ])  # fmt: skip
    header = ["bars", "decoder", "parameters", "steps", "seconds", "acc. teacher-forced", "acc. free-running",
              "midpoints in data range"]  # fmt: skip
    table = markdown_table(header, rows)
    stats = markdown_table(
        ["bars", "decoder", "melodies", "pitch range", "notes/bar", "repeated-note rate", "in-key rate"], details
    )
    goals = []
    for bars in args.bars:
        by = {r["decoder"]: r for r in results if r["bars"] == bars}
        if {"flat", "hierarchical"} <= set(by):
            gap = 100 * (by["hierarchical"]["fr"] - by["flat"]["fr"])
            goals.append(f"- {bars} bars: hierarchical - flat free-running accuracy = {gap:+.1f} points")
        best_tf = max(r["tf"] for r in by.values())
        goals.append(f"- {bars} bars: best teacher-forced accuracy {best_tf:.3f}")
    settings = (
        f"{len(tunes)} folk tunes ({report.summary()}); held out: 10% of tunes, seed 0. Equal budget per pair: "
        f"{args.steps} steps (per bars {args.bars}) of batch {args.batch_size} "
        f"(capped at {args.max_minutes} min), LSTM {args.hidden}, "
        f"latent {args.latent}, beta {args.beta}, free bits {args.free_bits_per_bar}/bar (total), transpose "
        f"+-{args.transpose}, Adam {args.lr:g} ({args.lr_schedule}); {placement(args)} per model "
        f"({max(args.jobs, 1)} trained at once). Statistics are means; midpoint range = the held-out data's 5th-95th "
        f"percentiles of note density and pitch range. {machine_note()}"
    )
    text = "\n\n".join(
        [f"`{' '.join(['python', *sys.argv])}`", settings, table, "\n".join(goals), "Melody statistics:", stats]
    )
    print(text)
    if not args.no_record:
        title = "music: flat vs hierarchical MusicVAE on folk tunes"
        if sorted(args.bars) != [2, 16]:  # a run of one length keeps the other length's latest table on the page
            title += f" ({', '.join(map(str, args.bars))} bars)"
        add_entry(title, text)


if __name__ == "__main__":
    main()
