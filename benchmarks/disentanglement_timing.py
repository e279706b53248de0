"""Cost of the disentanglement suite on dSprites, per metric, and DCI with histogram against exact boosting.

The representation is a cheap fixed function of the image (centroid, area and second moments mixed
into 10 noisy codes), so the figures are the metrics' own cost plus rendering: MIG, DCI, SAP,
modularity and explicitness on ``--points`` (10,000) + half as many test points, the BetaVAE and
FactorVAE scores on ``--score-groups`` groups of 64 (+ half to evaluate). Wall and CPU seconds of
this one process (one thread); on a shared machine the CPU time is the figure to read.

``--exact-points N`` also fits DCI's trees both ways (sklearn's exact GradientBoostingClassifier,
as disentanglement_lib, and the histogram-based default) on N + N/2 points and prints both figures.

    python benchmarks/disentanglement_timing.py                    # 10,000 points, 1,000 score groups
    python benchmarks/disentanglement_timing.py --exact-points 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def moments(x: torch.Tensor) -> np.ndarray:
    """Ten codes from image moments (a stand-in representation that costs next to nothing)."""
    x = x.float()[:, 0]
    g = torch.arange(64.0)
    m = x.sum((1, 2)).clamp_min(1)
    cx, cy = (x.sum(1) * g).sum(1) / m, (x.sum(2) * g).sum(1) / m
    sxx, syy = (x.sum(1) * g**2).sum(1) / m - cx**2, (x.sum(2) * g**2).sum(1) / m - cy**2
    features = torch.stack([cx / 10, cy / 10, m.sqrt() / 5, sxx / 20, syy / 20], 1).numpy()
    mix = np.eye(5, 10) + 0.3 * np.random.default_rng(0).normal(size=(5, 10))
    return features @ mix + 0.05 * np.random.default_rng(len(x)).normal(size=(len(x), 10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--score-groups", type=int, default=1_000)
    parser.add_argument("--exact-points", type=int, default=0, help="compare DCI with exact boosting on N points")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import common

    from vaekit.data.dsprites import DSprites
    from vaekit.evaluate.disentanglement import dci, disentanglement_metrics

    data = DSprites()
    wall, cpu = time.perf_counter(), time.process_time()
    result = disentanglement_metrics(
        data, moments, n_train=args.points, n_test=args.points // 2,
        score_train=args.score_groups, score_eval=args.score_groups // 2,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    share = cpu / wall  # the fraction of a core this process got: converts each metric's wall time to CPU
    rows = [[name, seconds, seconds * share] for name, seconds in result["seconds"].items()]
    rows.append(["all", wall, cpu])
    table = common.markdown_table(["part", "wall s", "CPU s (est.)"], rows)
    body = (
        f"dSprites, {args.points:,} + {args.points // 2:,} points, {args.score_groups:,} + "
        f"{args.score_groups // 2:,} score groups of 64; one thread; per-part CPU estimated from this process's "
        f"share of a core ({share:.2f}). Figures of the stand-in code: MIG {result['mig']:.3f}, DCI "
        f"{result['dci_disentanglement']:.3f}, FactorVAE score {result['factorvae_eval']:.3f}.\n\n{table}"
    )
    if args.exact_points:
        rng = np.random.default_rng(1)
        f_train, x_train = data.sample(args.exact_points, rng)
        f_test, x_test = data.sample(args.exact_points // 2, rng)
        c_train, c_test = moments(x_train), moments(x_test)
        compare = []
        for trees in ("hist", "exact"):
            start = time.process_time()
            r = dci(c_train, f_train, c_test, f_test, trees=trees)
            compare.append([trees, r["dci_disentanglement"], r["dci_completeness"],
                            r["dci_informativeness_test"], time.process_time() - start])  # fmt: skip
        body += (
            f"\n\nDCI on {args.exact_points:,} + {args.exact_points // 2:,} points, histogram against exact "
            "gradient boosting:\n\n"
            + common.markdown_table(["trees", "disentanglement", "completeness", "informativeness", "CPU s"], compare)
        )
    print(body)
    if not args.no_results:
        common.append_results("Disentanglement metrics: cost per metric (benchmarks/disentanglement_timing.py)", body)


if __name__ == "__main__":
    main()
