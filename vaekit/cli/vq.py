"""``vaekit train-prior RUN``: stage two of a VQ-VAE run, an autoregressive prior over its codes.

The run's data (the same dataset, split and preprocessing as ``vaekit train``) is encoded to code
grids by the trained VQ-VAE; a Transformer prior is trained on them with :func:`vaekit.train.fit`
and the ``code_prior`` objective; the model is saved again in ``RUN/model`` with the prior included,
so ``vaekit sample RUN`` generates through it. The test bound in bits/dim with the learned prior
(and with the uniform prior of stage one, for comparison) goes to ``RUN/prior_metrics.json``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from torch import Tensor

from vaekit.cli.app import app, clean_errors

PRIOR_DIR = "prior"
PRIOR_METRICS = "prior_metrics.json"


@torch.no_grad()
def encode_codes(model: Any, x: Tensor, batch_size: int = 500) -> Tensor:
    """Code grids (N, h, w) of model inputs ``x`` (N, *data_shape), on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model.encode_indices(x[i : i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(parts)


@torch.no_grad()
def bound_bits_per_dim(model: Any, x: Tensor, codes: Tensor, y: Tensor | None, batch_size: int = 500) -> dict:
    """The bound -log p(x) <= -log p(x|z_q) - log p(codes) in bits/dim, and its two parts in nats per example."""
    model.eval()
    device = next(model.parameters()).device
    reconstruction = prior = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb, cb = x[i : i + batch_size].to(device), codes[i : i + batch_size].to(device)
        yb = None if y is None else y[i : i + batch_size].to(device)
        reconstruction -= float(model.decode_indices(cb).log_prob(xb).sum())
        prior -= float(model.prior_log_prob(cb, yb).sum())
    n, dims = x.shape[0], math.prod(x.shape[1:])
    return {
        "reconstruction_nats": reconstruction / n,
        "prior_nats": prior / n,
        "bits_per_dim": (reconstruction + prior) / (n * dims * math.log(2)),
    }


def train_prior(
    run: str | Path,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    width: int = 128,
    layers: int = 4,
    heads: int = 4,
    dropout: float = 0.1,
    conditional: bool | None = None,
    seed: int = 0,
    device: str = "cpu",
    plots: bool = True,
    temperature: float = 1.0,
    log: Any = print,
) -> dict[str, Any]:
    """Train a prior over the codes of the VQ-VAE in run folder ``run`` and save the model with it.

    Args:
        run: a run folder made by ``vaekit train`` with a ``vqvae`` model (or its ``model/`` folder).
        epochs, batch_size, lr, seed: passed to :func:`vaekit.train.fit`.
        width, layers, heads, dropout: size of the Transformer prior.
        conditional: condition the prior on class labels (None: when the data has labels).
        device: where to encode and train.
        plots: draw ``RUN/samples.png`` (through the new prior) and ``RUN/reconstructions.png``.
        temperature: temperature of the drawn samples.
        log: a function taking one line of progress text.

    Returns:
        The metrics written to ``RUN/prior_metrics.json``.

    Raises:
        ValueError: the run's model is not a VQ-VAE, or ``conditional`` without labels.
    """
    from vaekit.io import load_extra, save_model
    from vaekit.models.vqvae import VQVAE
    from vaekit.objectives.vq import CodePriorObjective
    from vaekit.runs import load_data_for, open_model, write_json
    from vaekit.train import fit

    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    run = Path(run)
    loaded = open_model(run, device=device)
    model = loaded.model
    if not isinstance(model, VQVAE):
        raise ValueError(f"{loaded.model_dir} holds a {type(model).__name__}; train-prior needs a vqvae model")
    model = model.with_prior(None)  # a rerun replaces the prior of an earlier one
    if loaded.run_dir is None:
        raise ValueError(f"{run} is a bare model folder; train-prior needs the run folder (with config.yaml)")
    run = loaded.run_dir  # RUN/model names the same run: the prior's checkpoints, metrics and pictures go to RUN
    prep = loaded.preprocessing
    splits = {name: load_data_for(loaded, split=name) for name in ("train", "validation", "test")}
    has_labels = splits["train"].y is not None
    if conditional is None:
        conditional = has_labels
    if conditional and not has_labels:
        raise ValueError("--conditional needs labelled data; this run's data has no labels")
    n_classes = None
    if conditional:
        n_classes = len(prep.class_names) if prep.class_names else int(splits["train"].y.max()) + 1
    torch.manual_seed(seed)  # the prior is built (and its sizes checked) before the data is encoded
    prior = model.new_prior(width=width, layers=layers, heads=heads, dropout=dropout, n_classes=n_classes)
    inputs = {name: prep.eval_inputs(split.x) for name, split in splits.items()}
    labels = {name: (split.y if conditional else None) for name, split in splits.items()}
    codes = {name: encode_codes(model, x) for name, x in inputs.items() if len(x)}
    log(f"encoded {len(codes['train'])} training examples to {tuple(model.grid)} code grids")

    log(f"training a {'class-conditional ' if conditional else ''}Transformer prior ({_count(prior):,} parameters)")
    has_validation = "validation" in codes
    fit(
        prior,
        CodePriorObjective(),
        codes["train"],
        labels["train"],
        codes["validation"] if has_validation else None,
        labels["validation"] if has_validation else None,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        run_dir=run / PRIOR_DIR,
    )
    full = model.with_prior(prior.to(device))
    save_model(full, loaded.model_dir, extra=load_extra(loaded.model_dir))
    log(f"model with prior saved in {loaded.model_dir}")

    evaluated = "test" if "test" in codes else "train"
    learned = bound_bits_per_dim(full, inputs[evaluated], codes[evaluated], labels[evaluated])
    uniform = bound_bits_per_dim(model, inputs[evaluated], codes[evaluated], None)
    metrics = {
        "split": evaluated,
        "likelihood": type(model.likelihood).__name__,
        "num_codes": model.quantizer.num_codes,
        "grid": list(model.grid),
        "conditional": bool(conditional),
        "prior": prior.config(),
        "bits_per_dim": learned["bits_per_dim"],
        "reconstruction_nats": learned["reconstruction_nats"],
        "prior_nats": learned["prior_nats"],
        "bits_per_dim_uniform_prior": uniform["bits_per_dim"],
        "uniform_prior_nats": uniform["prior_nats"],
    }
    write_json(run / PRIOR_METRICS, metrics)
    if plots:
        from vaekit.figures import draw_reconstructions, draw_samples
        from vaekit.runs import FIGURE_FILES

        written = draw_samples(full, prep, run / FIGURE_FILES["samples"], temperature=temperature, seed=seed)
        recon_x = inputs[evaluated][:32]
        written += draw_reconstructions(full, prep, recon_x, None, run / FIGURE_FILES["reconstructions"])
        log("wrote " + ", ".join(str(path) for path in written if path.suffix == ".png"))
    log(
        f"{evaluated} bound: {metrics['bits_per_dim']:.4f} bits/dim with the learned prior "
        f"({metrics['bits_per_dim_uniform_prior']:.4f} with the uniform prior)"
    )
    return metrics


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@app.command("train-prior")
@clean_errors
def train_prior_command(
    run: Annotated[Path, typer.Argument(help="a run folder whose model is a vqvae (or its model/ folder)")],
    epochs: Annotated[int, typer.Option(help="passes over the training codes", min=1)] = 30,
    batch_size: Annotated[int, typer.Option(help="code grids per step")] = 128,
    lr: Annotated[float, typer.Option(help="learning rate")] = 1e-3,
    width: Annotated[int, typer.Option(help="Transformer width")] = 128,
    layers: Annotated[int, typer.Option(help="Transformer blocks")] = 4,
    heads: Annotated[int, typer.Option(help="attention heads")] = 4,
    dropout: Annotated[float, typer.Option(help="dropout while training")] = 0.1,
    conditional: Annotated[
        bool | None,
        typer.Option("--conditional/--unconditional", help="condition on class labels (default: if labelled)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of initialization and batches")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    plots: Annotated[bool, typer.Option(help="draw samples.png and reconstructions.png into the run")] = True,
    temperature: Annotated[float, typer.Option(help="temperature of the drawn samples", min=0.0)] = 1.0,
) -> None:
    """Train an autoregressive prior over the codes of a trained VQ-VAE run, so `vaekit sample RUN` works."""
    train_prior(
        run,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        width=width,
        layers=layers,
        heads=heads,
        dropout=dropout,
        conditional=conditional,
        seed=seed,
        device=device,
        plots=plots,
        temperature=temperature,
        log=typer.echo,
    )
