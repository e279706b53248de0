"""``vaekit train``: train a model from a config and write a run folder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vaekit.cli.app import ConfigArgument, SetOption, app, clean_errors, fail, threads_for
from vaekit.cli.evaluate import format_metrics

if TYPE_CHECKING:
    from vaekit.config import RunConfig


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
    from vaekit.music.runs import is_music_config, train_music_run
    from vaekit.runs import RUN_CONFIG, prepare_run, train_prepared
    from vaekit.text import is_text_config, train_text_run
    from vaekit.train import NonFiniteLossError

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
    if is_music_config(run_config):
        return _train_domain(
            train_music_run, run_config, out, resume, started, "melodies (MIDI, WAV, PNG under melodies/)"
        )
    if is_text_config(run_config):
        return _train_domain(train_text_run, run_config, out, resume, started, "samples and homotopy (*.txt)")
    prepared = prepare_run(run_config)
    with threads_for(prepared.model):
        try:
            metrics = train_prepared(prepared, out, resume=resume, log=lambda line: typer.echo(line, err=True))
        except NonFiniteLossError as error:  # e.g. too high a learning rate: the message says what to try
            raise fail(str(error)) from None
    typer.echo(format_metrics(metrics))
    typer.echo(f"run folder: {out}  ({time.time() - started:.0f} s)")
    typer.echo(f"  pictures: {out}/*.png   metrics: {out}/metrics.json   model: {out}/model")


def _train_domain(
    train_fn: Callable[..., dict], run_config: RunConfig, out: Path, resume: bool, started: float, outputs: str
) -> None:
    """``vaekit train`` for a domain's run path (text: ptb, a .txt file or a tokenizer named; music: folk tunes
    or a MIDI folder): ``train_fn(config, out, resume=, log=)`` writes the run folder and returns the metrics."""
    from vaekit.train import NonFiniteLossError

    try:
        metrics = train_fn(run_config, out, resume=resume, log=lambda line: typer.echo(line, err=True))
    except NonFiniteLossError as error:
        raise fail(str(error)) from None
    typer.echo(format_metrics(metrics))
    typer.echo(f"run folder: {out}  ({time.time() - started:.0f} s)")
    typer.echo(f"  {outputs}: {out}   metrics: {out}/metrics.json   model: {out}/model")
