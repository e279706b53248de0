"""``vaekit evaluate`` and ``vaekit encode``: metrics of a run and latent codes of data."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from vaekit.cli.app import (
    DataOption,
    DeviceOption,
    RunArgument,
    SeedOption,
    SplitOption,
    app,
    clean_errors,
    fail,
    labels_of,
    load_examples,
    open_run,
    report,
)

# -------------------------------------------------------------------- evaluate
METRIC_ROWS = (
    ("elbo", "ELBO (nats)"),
    ("reconstruction", "reconstruction -log p(x|z) (nats)"),
    ("kl", "KL(q(z|x) || p(z)) (nats)"),
    ("nll", "NLL, importance-sampled (nats)"),
    ("bits_per_dim", "NLL (bits/dim)"),
    ("bits_per_token", "NLL (bits/token, end token counted)"),
    ("perplexity", "perplexity per token"),
    ("active_units", "active units"),
    ("mutual_information", "mutual information I(x;z) (nats)"),
    ("accuracy", "classification accuracy of q(y|x)"),
    ("accuracy_teacher_forced", "per-step accuracy, teacher-forced"),
    ("accuracy_free_running", "per-step accuracy, free-running"),
)


def format_metrics(metrics: dict[str, Any]) -> str:
    """The main metrics as an aligned two-column table."""
    if "error" in metrics:
        return f"not evaluated: {metrics['error']}"
    lines = [f"{'metric':<40} value", f"{'-' * 40} {'-' * 10}"]
    for key, name in METRIC_ROWS:
        if key not in metrics or metrics[key] is None:
            continue
        value = metrics[key]
        if key == "nll":
            name = f"NLL, importance-sampled k={metrics.get('k')} (nats)"
        text = f"{value} / {metrics.get('latent_dim')}" if key == "active_units" else f"{value:.4f}"
        lines.append(f"{name:<40} {text}")
    if "examples" in metrics:
        lines.append(f"{'examples':<40} {metrics['examples']}")
    return "\n".join(lines)


@app.command()
@clean_errors
def evaluate(
    run: RunArgument,
    k: Annotated[int, typer.Option("--k", help="Importance samples for the NLL estimate.", min=1)] = 1000,
    data: DataOption = None,
    split: SplitOption = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    seed: SeedOption = 0,
    device: DeviceOption = "cpu",
    disentanglement: Annotated[
        bool,
        typer.Option(
            "--disentanglement",
            help="Instead: BetaVAE and FactorVAE scores, MIG, DCI, SAP, modularity, explicitness on posterior means "
            "(data with factor labels: dsprites or an .npz with 'factors'); pictures in RUN/disentanglement.",
        ),
    ] = False,
    score_groups: Annotated[
        int, typer.Option(help="--disentanglement: groups of 64 for the BetaVAE/FactorVAE scores.", min=1)
    ] = 10000,
    points: Annotated[
        int, typer.Option(help="--disentanglement: points for MIG, DCI, SAP, modularity (+ half to test).", min=10)
    ] = 10000,
    trees: Annotated[
        str, typer.Option(help="--disentanglement: DCI's boosted trees, hist (fast) or exact (disentanglement_lib's).")
    ] = "hist",
    probe: Annotated[
        bool,
        typer.Option(
            "--probe",
            help="Instead: probe the latent means (linear probe, k-NN, k-means) beside the raw features and their "
            "PCA, training on the run's training labels and scoring on --split (a --data file: on a held-out 20% "
            "of it); writes probes.png and probes.json into the run.",
        ),
    ] = False,
    probe_labels: Annotated[str, typer.Option(help="Label budgets of --probe, e.g. 100,1000,all.")] = "100,1000,all",
    moses: Annotated[
        bool, typer.Option("--moses", help="Instead (molecule runs): the MOSES metrics of --samples samples.")
    ] = False,
    samples: Annotated[int, typer.Option(help="--moses: molecules to sample.", min=1)] = 30000,
    decoding: Annotated[
        str,
        typer.Option(help="--moses: sample each symbol at temperature 1 (MOSES's protocol) or decode greedily."),
    ] = "sample",
) -> None:
    """Evaluate on the run's test data: ELBO, importance-sampled NLL, bits/dim, active units."""
    from vaekit.cli.music import evaluate_music, is_music_model
    from vaekit.cli.text import evaluate_text, is_text_model
    from vaekit.runs import check_fits, evaluate_model, load_data_for

    if moses:
        from vaekit.cli.molecules import evaluate_moses

        return evaluate_moses(run, samples, seed, 2, as_json, device, decoding)
    if is_music_model(run):
        metrics = evaluate_music(run, data, split, k, seed, device)
    elif is_text_model(run):
        if disentanglement or probe:
            raise fail("--disentanglement and --probe need a model of images or features, not a text model")
        metrics = evaluate_text(run, data, split, k, seed, device)
    else:
        loaded = open_run(run, device)
        if disentanglement:
            return _disentanglement(loaded, data, split, seed, score_groups, points, trees, as_json)
        if probe:
            from vaekit.evaluate.probes import format_probe_report, parse_budgets, probe_run

            probe_report, written = probe_run(loaded, data, split, parse_budgets(probe_labels), seed=seed)
            typer.echo(json.dumps(probe_report.to_dict(), indent=2) if as_json else format_probe_report(probe_report))
            return report(written) if not as_json else None
        examples = load_data_for(loaded, data, split)
        check_fits(loaded, examples)
        x = loaded.preprocessing.eval_inputs(examples.x)
        metrics = evaluate_model(
            loaded.model, x, labels_of(loaded, examples), k=k, seed=seed, preprocessing=loaded.preprocessing
        )
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        typer.echo(format_metrics(metrics))


def _disentanglement(
    loaded: Any, data: str | None, split: str, seed: int, groups: int, points: int, trees: str, as_json: bool
) -> None:
    """``evaluate --disentanglement``: the metrics (printed, and in RUN/disentanglement/metrics.json) and pictures."""
    from vaekit.evaluate.disentanglement.runs import evaluate_disentanglement, format_disentanglement
    from vaekit.runs import write_json

    out = (loaded.run_dir or loaded.model_dir) / "disentanglement"
    results = evaluate_disentanglement(
        loaded, data, split, seed, points=points, score_groups=groups, out=out, trees=trees
    )
    write_json(out / "metrics.json", results)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        typer.echo(format_disentanglement(results))
        report([*results.get("figures", []), out / "metrics.json"])


# ---------------------------------------------------------------------- encode
@app.command()
@clean_errors
def encode(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="File for the latent means: .npy (variances in <name>_var.npy, labels in <name>_labels.npy) "
            "or .npz (arrays mean, variance, labels).",
        ),
    ] = Path("embeddings.npy"),
    batch_size: Annotated[int, typer.Option(help="Examples per batch.", min=1)] = 1000,
    device: DeviceOption = "cpu",
) -> None:
    """Encode data to latent means (and variances) for downstream use."""
    import io

    import numpy as np
    import torch

    from vaekit.cli.music import is_music_model
    from vaekit.cli.text import encode_text, is_text_model
    from vaekit.io import atomic_write_bytes

    if is_music_model(run):
        raise fail("encode reads images, tables and text; a music run's latents: MusicModel.latent_means in Python")
    if is_text_model(run):
        return encode_text(run, data, split, out, device)
    loaded = open_run(run, device)
    examples, x = load_examples(loaded, data, split)
    y = labels_of(loaded, examples)
    means, variances = [], []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = None if y is None else y[start : start + batch_size].to(device)
            q = loaded.model.encode(xb, yb)
            means.append(q.mean.cpu())
            with contextlib.suppress(NotImplementedError):  # some posteriors have no variance
                variances.append(q.variance.cpu())
    arrays = {"mean": torch.cat(means).numpy()}
    if len(variances) == len(means):
        arrays["variance"] = torch.cat(variances).numpy()
    if examples.y is not None:
        arrays["labels"] = examples.y.numpy()

    def dump(path: Path, save: Callable[[io.BytesIO], None]) -> Path:
        buffer = io.BytesIO()
        save(buffer)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    if out.suffix == ".npz":
        report([dump(out, lambda b: np.savez(b, **arrays))])
        return
    out = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
    written = [dump(out, lambda b: np.save(b, arrays["mean"], allow_pickle=False))]
    for key, suffix in (("variance", "_var"), ("labels", "_labels")):
        if key in arrays:
            path = out.with_name(out.stem + suffix + ".npy")
            written.append(dump(path, lambda b, key=key: np.save(b, arrays[key], allow_pickle=False)))
    report(written)
    typer.echo(f"{arrays['mean'].shape[0]} examples -> {arrays['mean'].shape[1]} latent dimensions")
