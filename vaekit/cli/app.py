"""The ``vaekit`` application object, its one error convention and what the command modules share.

Every command module (``vaekit.cli.train``, ``.generate``, ...) adds its commands to :data:`app`; bad input
ends every command with a one-line ``error: ...`` on stderr and exit code 2 (``VAEKIT_DEBUG=1`` re-raises)."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

BAD_INPUT_EXIT_CODE = 2

# Recent typer vendors click (typer._click), older typer uses click itself: reach click's ClickException through
# typer's public BadParameter, one of its subclasses in both.
_ClickException: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineErrorGroup(TyperGroup):
    """The root command group: click's own usage errors (a bad or missing option value, an unknown command)
    print one ``error: ...`` line like every other bad input, instead of usage text and a boxed panel."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_click_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_click_errors():
            return super().invoke(ctx)


@contextlib.contextmanager
def _one_line_click_errors() -> Iterator[None]:
    try:
        yield
    except _ClickException as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            raise  # the help is already printed (typer's own check, by name)
        typer.echo(f"error: {error.format_message()}", err=True)  # type: ignore[attr-defined]
        raise typer.Exit(error.exit_code) from None  # type: ignore[attr-defined]  (Exit ends quietly)


app = typer.Typer(
    name="vaekit",
    cls=_OneLineErrorGroup,
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
            help="CPU threads torch and scikit-learn may use (default: 1 for training models under 2M parameters, "
            "whose operations are too small to gain from more, else the libraries' choice).",
            min=1,
        ),
    ] = None,
) -> None:
    global _threads_chosen
    _threads_chosen = threads is not None
    if threads is not None:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)  # scikit-learn's OpenMP and BLAS pools too (probes, metrics)


@contextlib.contextmanager
def threads_for(model: Any) -> Iterator[None]:
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


# ------------------------------------------------------ shared options and helpers
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


def open_run(run: Path, device: str = "cpu") -> Any:
    from vaekit.runs import open_model

    return open_model(run, device)


def load_examples(loaded: Any, data: str | None, split: str) -> tuple[Any, Any]:
    """(model inputs, labels for the model) and the raw split."""
    from vaekit.runs import check_fits, load_data_for

    examples = load_data_for(loaded, data, split)
    check_fits(loaded, examples)
    if len(examples) == 0:
        raise fail("the data has no examples")
    return examples, loaded.preprocessing.model_inputs(examples.x)


def labels_of(loaded: Any, examples: Any) -> Any:
    from vaekit.runs import labels_for

    return labels_for(loaded.model, examples)


def report(paths: list[Path]) -> None:
    for path in paths:
        typer.echo(f"wrote {path}")


def parse_label(loaded: Any, label: str | None) -> int | None:
    """The class index of ``--label`` (a class name or an index) for a conditional model."""
    if label is None:
        return None
    conditioner = getattr(loaded.model, "conditioner", None)
    if conditioner is None:
        raise fail("--label needs a conditional model (a CVAE, M2, or a VQ-VAE with a class-conditional prior)")
    names = loaded.preprocessing.class_names or []
    if label in names:
        return names.index(label)
    try:
        index = int(label)
    except ValueError:
        raise fail(f"unknown label {label!r}; classes: {names or 'integers'}") from None
    n_classes = getattr(conditioner, "n_classes", None)
    if n_classes is not None and not 0 <= index < n_classes:
        raise fail(f"label {index} is out of range: this model's classes are 0..{n_classes - 1}")
    return index


def main() -> None:
    """Entry point of the ``vaekit`` command."""
    import vaekit.cli  # noqa: F401  (imports every command module, which registers its commands)

    try:
        app()
    except _bad_input_types() as error:  # raised outside a command, e.g. while typer converts an option
        if os.environ.get("VAEKIT_DEBUG"):
            raise
        typer.echo(f"error: {error}", err=True)
        sys.exit(BAD_INPUT_EXIT_CODE)
