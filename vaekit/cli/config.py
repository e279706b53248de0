"""``vaekit config``: print a resolved config, or every key with its default."""

from __future__ import annotations

from typing import Annotated

import typer

from vaekit.cli.app import ConfigArgument, SetOption, app, clean_errors


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
    from vaekit.runs import check_model_section, check_objective_section

    if keys:
        typer.echo(describe_options())
        return
    run_config = load_config(config, list(set_ or []))
    # The model and objective sections are free-form in the YAML: their keys are the builder's and objective's.
    check_model_section(run_config)
    check_objective_section(run_config)
    typer.echo(run_config.to_yaml(), nl=False)
