"""The ``vaekit`` command line: train a run, then sample, reconstruct, interpolate, traverse,
evaluate and encode with it. Bad input ends with a one-line message and exit code 2."""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

EXTENSIONS = ("vaekit.cli_vq", "vaekit.cli_anomaly")
BAD_INPUT_EXIT_CODE = 2

app = typer.Typer(
    name="vaekit",
    help="Variational autoencoders: train a run folder, then draw, evaluate and encode with it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` to stderr and return the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(BAD_INPUT_EXIT_CODE)


def _bad_input_types() -> tuple[type[BaseException], ...]:
    import yaml

    # ConfigError, DataError and ModelFileError are ValueErrors; the model's input checks raise ValueError.
    return (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError, yaml.YAMLError)


def clean_errors(command: F) -> F:
    """Turn bad-input exceptions into a one-line message and exit code 2 (VAEKIT_DEBUG=1 shows tracebacks)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _bad_input_types() as error:
            if os.environ.get("VAEKIT_DEBUG"):
                raise
            raise fail(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__) from None

    return run  # type: ignore[return-value]


SMALL_MODEL_PARAMETERS = 2_000_000
_threads_chosen = False


@app.callback()
def _options(
    threads: Annotated[
        int | None,
        typer.Option(
            help="CPU threads torch may use (default: 1 for training models under 2M parameters, whose "
            "operations are too small to gain from more, else torch's choice).",
            min=1,
        ),
    ] = None,
) -> None:
    global _threads_chosen
    _threads_chosen = threads is not None
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


@contextlib.contextmanager
def _threads_for(model: Any) -> Iterator[None]:
    """Small models run on one CPU thread unless --threads says otherwise: their matrix products are too
    small for intra-op parallelism, whose spinning threads slow them down (several times on a busy machine).
    The previous setting is restored afterwards (the CLI may run in-process, e.g. under tests)."""
    import torch

    previous = torch.get_num_threads()
    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
    if not _threads_chosen and small and not torch.cuda.is_available():
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------- train
ConfigArgument = Annotated[Path | None, typer.Argument(help="YAML config (default: the built-in digits VAE).")]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override a config key: a.b=value (value parsed as YAML), e.g. train.epochs=20; "
        "model=NAME picks a model builder. Repeatable.",
    ),
]


@app.command()
@clean_errors
def train(
    config: ConfigArgument = None,
    set_: SetOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder to write (default runs/<data>-<model>-<time>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last checkpoint (and its config.yaml).")
    ] = False,
) -> None:
    """Train a model and write a run folder: config, metrics, checkpoints, model and pictures."""
    from vaekit.config import load_config
    from vaekit.runs import RUN_CONFIG, prepare_run, train_prepared

    overrides = list(set_ or [])
    if resume:
        if out is None:
            raise fail("--resume needs --out RUN_FOLDER")
        if config is None and (out / RUN_CONFIG).is_file():
            config = out / RUN_CONFIG
    run_config = load_config(config, overrides)
    if out is None:
        name = Path(run_config.data.path).stem if run_config.data.path else run_config.data.name
        out = Path("runs") / f"{name}-{run_config.model.get('type', 'vae')}-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.time()
    prepared = prepare_run(run_config)
    with _threads_for(prepared.model):
        metrics = train_prepared(prepared, out, resume=resume, log=lambda line: typer.echo(line, err=True))
    typer.echo(format_metrics(metrics))
    typer.echo(f"run folder: {out}  ({time.time() - started:.0f} s)")
    typer.echo(f"  pictures: {out}/*.png   metrics: {out}/metrics.json   model: {out}/model")


# -------------------------------------------------------------------- helpers
RunArgument = Annotated[Path, typer.Argument(help="A run folder (from vaekit train) or a saved model folder.")]
DataOption = Annotated[
    str | None,
    typer.Option(
        help="Data to use: a built-in dataset name or a path (image folder, .npy/.npz, .csv/.parquet); "
        "default: the run's own data."
    ),
]
SplitOption = Annotated[str, typer.Option(help="Split of a dataset: train, validation or test.")]
SeedOption = Annotated[int, typer.Option(help="Random seed.")]
DeviceOption = Annotated[str, typer.Option(help="Device to run the model on (cpu, cuda, ...).")]


def _open(run: Path, device: str = "cpu") -> Any:
    from vaekit.runs import open_model

    return open_model(run, device)


def _examples(loaded: Any, data: str | None, split: str) -> tuple[Any, Any]:
    """(model inputs, labels for the model) and the raw split."""
    from vaekit.runs import check_fits, load_data_for

    examples = load_data_for(loaded, data, split)
    check_fits(loaded, examples)
    if len(examples) == 0:
        raise fail("the data has no examples")
    return examples, loaded.preprocessing.model_inputs(examples.x)


def _labels(loaded: Any, examples: Any) -> Any:
    from vaekit.runs import labels_for

    return labels_for(loaded.model, examples)


def _report(paths: list[Path]) -> None:
    for path in paths:
        typer.echo(f"wrote {path}")


def _parse_label(loaded: Any, label: str | None) -> int | None:
    if label is None:
        return None
    names = loaded.preprocessing.class_names or []
    if label in names:
        return names.index(label)
    try:
        return int(label)
    except ValueError:
        raise fail(f"unknown label {label!r}; classes: {names or 'integers'}") from None


# ---------------------------------------------------------------------- sample
@app.command()
@clean_errors
def sample(
    run: RunArgument,
    n: Annotated[int, typer.Option("--n", "-n", help="Number of samples.", min=1)] = 100,
    temperature: Annotated[float, typer.Option(help="Scale of the prior's spread (<1: less variety).")] = 1.0,
    label: Annotated[str | None, typer.Option(help="Class to generate (conditional models), index or name.")] = None,
    seed: SeedOption = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write (.npy beside it for non-image data).")] = Path(
        "samples.png"
    ),
    device: DeviceOption = "cpu",
) -> None:
    """Draw samples from the prior and decode them."""
    from vaekit.figures import draw_samples

    loaded = _open(run, device)
    _report(draw_samples(loaded.model, loaded.preprocessing, out, n, temperature, _parse_label(loaded, label), seed))


# ----------------------------------------------------------------- reconstruct
@app.command()
@clean_errors
def reconstruct(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    n: Annotated[int, typer.Option("--n", "-n", help="Number of examples.", min=1)] = 32,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("reconstructions.png"),
    device: DeviceOption = "cpu",
) -> None:
    """Reconstruct examples (decode their posterior means) and draw them beside the originals."""
    from vaekit.figures import draw_reconstructions

    loaded = _open(run, device)
    examples, x = _examples(loaded, data, split)
    y = _labels(loaded, examples)
    _report(draw_reconstructions(loaded.model, loaded.preprocessing, x[:n], None if y is None else y[:n], out))


# ----------------------------------------------------------------- interpolate
@app.command()
@clean_errors
def interpolate(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    pairs: Annotated[int, typer.Option(help="Number of random pairs (one row each).", min=1)] = 6,
    steps: Annotated[int, typer.Option(help="Points per interpolation, ends included.", min=2)] = 10,
    method: Annotated[str, typer.Option(help="lerp or slerp.")] = "lerp",
    seed: SeedOption = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("interpolation.png"),
    device: DeviceOption = "cpu",
) -> None:
    """Interpolate in latent space between random pairs of examples and decode."""
    from vaekit.figures import draw_interpolations

    loaded = _open(run, device)
    examples, x = _examples(loaded, data, split)
    paths = draw_interpolations(
        loaded.model, loaded.preprocessing, x, _labels(loaded, examples), out, pairs, steps, method, seed, examples.y
    )
    _report(paths)


# -------------------------------------------------------------------- traverse
@app.command()
@clean_errors
def traverse(
    run: RunArgument,
    data: DataOption = None,
    split: SplitOption = "test",
    dims: Annotated[
        str | None, typer.Option(help="Latent dimensions, e.g. 0,3,5 (default: the 8 most active).")
    ] = None,
    index: Annotated[int, typer.Option(help="Which example to start from.", min=0)] = 0,
    span: Annotated[float, typer.Option(help="Values run from -span to +span.")] = 3.0,
    steps: Annotated[int, typer.Option(help="Values per dimension.", min=2)] = 9,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")] = Path("traversal.png"),
    device: DeviceOption = "cpu",
) -> None:
    """Vary latent dimensions one at a time around an example's latent mean and decode."""
    from vaekit.figures import draw_traversal, most_active_dims

    loaded = _open(run, device)
    examples, x = _examples(loaded, data, split)
    y = _labels(loaded, examples)
    if index >= len(x):
        raise fail(f"--index {index} is out of range: the data has {len(x)} examples")
    if dims is None:
        chosen = most_active_dims(loaded.model, x[:2000], None if y is None else y[:2000])
    else:
        try:
            chosen = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError:
            raise fail(f"--dims takes comma-separated integers, got {dims!r}") from None
    start_y = None if y is None else y[index : index + 1]
    _report(draw_traversal(loaded.model, loaded.preprocessing, x[index], start_y, out, chosen, span, steps))


# -------------------------------------------------------------------- evaluate
METRIC_ROWS = (
    ("elbo", "ELBO (nats)"),
    ("reconstruction", "reconstruction -log p(x|z) (nats)"),
    ("kl", "KL(q(z|x) || p(z)) (nats)"),
    ("nll", "NLL, importance-sampled (nats)"),
    ("bits_per_dim", "NLL (bits/dim)"),
    ("active_units", "active units"),
    ("mutual_information", "mutual information I(x;z) (nats)"),
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
) -> None:
    """Evaluate on the run's test data: ELBO, importance-sampled NLL, bits/dim, active units."""
    from vaekit.runs import check_fits, evaluate_model, load_data_for

    loaded = _open(run, device)
    examples = load_data_for(loaded, data, split)
    check_fits(loaded, examples)
    x = loaded.preprocessing.eval_inputs(examples.x)
    metrics = evaluate_model(loaded.model, x, _labels(loaded, examples), k=k, seed=seed)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
    else:
        typer.echo(format_metrics(metrics))


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

    from vaekit.io import atomic_write_bytes

    loaded = _open(run, device)
    examples, x = _examples(loaded, data, split)
    y = _labels(loaded, examples)
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
        _report([dump(out, lambda b: np.savez(b, **arrays))])
        return
    out = out if out.suffix == ".npy" else out.with_name(out.name + ".npy")
    written = [dump(out, lambda b: np.save(b, arrays["mean"], allow_pickle=False))]
    for key, suffix in (("variance", "_var"), ("labels", "_labels")):
        if key in arrays:
            path = out.with_name(out.stem + suffix + ".npy")
            written.append(dump(path, lambda b, key=key: np.save(b, arrays[key], allow_pickle=False)))
    _report(written)
    typer.echo(f"{arrays['mean'].shape[0]} examples -> {arrays['mean'].shape[1]} latent dimensions")


# ---------------------------------------------------------------------- config
@app.command("config")
@clean_errors
def show_config(
    config: ConfigArgument = None,
    set_: SetOption = None,
    keys: Annotated[bool, typer.Option("--keys", help="List every config key with its default and help.")] = False,
) -> None:
    """Print a config (the defaults, or CONFIG) with overrides applied, as `vaekit train` would read it."""
    from vaekit.config import describe_options, load_config

    if keys:
        typer.echo(describe_options())
        return
    typer.echo(load_config(config, list(set_ or [])).to_yaml(), nl=False)


# ------------------------------------------------------------------ extensions
def register_extensions(target: typer.Typer, modules: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """Import each extension module and let it add its commands; skip only modules that do not exist yet."""
    added = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        module.register(target)
        added.append(name)
    return added


register_extensions(app)


def main() -> None:
    """Entry point of the ``vaekit`` command."""
    try:
        app()
    except _bad_input_types() as error:  # from extension commands that do not clean their own errors
        if os.environ.get("VAEKIT_DEBUG"):
            raise
        typer.echo(f"error: {error}", err=True)
        sys.exit(BAD_INPUT_EXIT_CODE)


if __name__ == "__main__":
    main()
