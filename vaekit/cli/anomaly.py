"""``vaekit anomaly fit DATA --out DETECTOR`` and ``vaekit anomaly score DETECTOR DATA``.

DATA is a .npy/.npz array, or a .csv/.parquet table with a header row: (N, D) for tables,
(N, H, W), (N, C, H, W) or (N, H, W, C) for images. ``score`` writes a CSV with one row per
example (index, score, anomaly flag) and, for images, heat maps of the most anomalous ones.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from vaekit.cli.app import app, clean_errors
from vaekit.io import atomic_write_bytes

anomaly_app = typer.Typer(help="Anomaly detection with a VAE: fit a detector, score data.", no_args_is_help=True)
app.add_typer(anomaly_app, name="anomaly")


@anomaly_app.command("fit")
@clean_errors
def fit_command(
    data: Annotated[Path, typer.Argument(help="training data: a folder of images, .npy, .npz, .csv or .parquet")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to save the detector in")],
    contamination: Annotated[float, typer.Option(help="expected fraction of anomalies (sets the threshold)")] = 0.1,
    architecture: Annotated[
        str,
        typer.Option(help="auto (linear for tables, mlp for images), linear (closed-form fit) or mlp (trained)"),
    ] = "auto",
    inputs: Annotated[
        str, typer.Option(help="auto, values, normal_scores or values+normal_scores (one VAE on each)")
    ] = "auto",
    score: Annotated[
        str, typer.Option(help="auto, elbo, nll, reconstruction, reconstruction_nll, latent, or a sum: auto+latent")
    ] = "auto",
    validation_fraction: Annotated[float, typer.Option(help="held-out fraction for the threshold")] = 0.0,
    epochs: Annotated[
        int | None, typer.Option(help="training epochs of MLP VAEs (default: from the data size)")
    ] = None,
    latent_dim: Annotated[int | None, typer.Option(help="latent dimensions (default: from the data)")] = None,
    calibrate_variance: Annotated[
        bool, typer.Option(help="refit one Gaussian sigma per value after training (images)")
    ] = True,
    models: Annotated[
        int | None,
        typer.Option(help="MLP VAEs in the ensemble (default: 5 up to 500 examples of a table, else 1)", min=1),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    key: Annotated[str | None, typer.Option(help="array name inside a .npz file")] = None,
) -> None:
    """Train a VAE anomaly detector on DATA (mostly normal examples) and save it to --out."""
    from vaekit.anomaly import VAEDetector
    from vaekit.data import read_data

    values = read_data(data, key)
    detector = VAEDetector(
        architecture=architecture,
        inputs=inputs,
        score=score,
        contamination=contamination,
        validation_fraction=validation_fraction,
        epochs=epochs,
        latent_dim=latent_dim,
        calibrate_variance=calibrate_variance,
        n_models="auto" if models is None else models,
        seed=seed,
    ).fit(values)
    detector.save(out)
    flagged = float(np.mean(detector.decision_scores_ > detector.threshold_))
    typer.echo(
        f"saved detector to {out} ({detector.preprocessor_.kind}, {len(detector.models_)} {detector.architecture_} "
        f"VAE(s) on {'+'.join(dict.fromkeys(detector.inputs_))}, "
        f"score {detector.score_}, "
        f"threshold {detector.threshold_:.6g}; {flagged:.1%} of the training data above it)"
    )


@anomaly_app.command("score")
@clean_errors
def score_command(
    detector_dir: Annotated[Path, typer.Argument(help="a folder saved by 'vaekit anomaly fit'")],
    data: Annotated[Path, typer.Argument(help="data to score: a folder of images, .npy, .npz, .csv or .parquet")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="CSV to write (default: DATA stem + _scores.csv)")
    ] = None,
    heatmaps: Annotated[
        Path | None, typer.Option(help="folder for explanation PNGs (default: next to the CSV, images only)")
    ] = None,
    top: Annotated[int, typer.Option(help="explain this many of the highest-scoring examples", min=0)] = 10,
    key: Annotated[str | None, typer.Option(help="array name inside a .npz file")] = None,
) -> None:
    """Score DATA with a saved detector: a CSV of scores and 0/1 flags, and heat maps for images."""
    from vaekit.anomaly import VAEDetector, save_explanations
    from vaekit.anomaly.preprocessing import IMAGE, as_array
    from vaekit.data import read_data

    detector = VAEDetector.load(detector_dir)  # a bad folder raises ModelFileError, a ValueError
    values = read_data(data, key)
    scores = detector.decision_function(values)
    flags = (scores > detector.threshold_).astype(int)
    out = out or data.with_name(f"{data.stem}_scores.csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "score", "anomaly"])
    for i, (s, f) in enumerate(zip(scores, flags)):
        writer.writerow([i, repr(float(s)), int(f)])
    atomic_write_bytes(out, buffer.getvalue().encode())
    message = f"wrote {out}: {int(flags.sum())} of {len(flags)} examples above the threshold {detector.threshold_:.6g}"
    is_image = detector.preprocessor_.kind == IMAGE
    if top > 0 and (is_image or heatmaps is not None):
        array, _ = as_array(values)
        chosen = np.argsort(scores)[::-1][:top].tolist()
        explanation = detector.explain(array[chosen])
        folder = heatmaps or out.with_name(f"{out.stem}_heatmaps")
        save_explanations(explanation, array[chosen], folder, labels=chosen)
        message += f"; explanations of the top {len(chosen)} in {folder}"
    typer.echo(message)
