"""``vaekit explore RUN``: a latent-space explorer in the browser, served on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vaekit.cli.app import DataOption, SplitOption, app, clean_errors, fail, threads_for


@app.command()
@clean_errors
def explore(
    run: Annotated[
        Path, typer.Argument(help="A run folder, a saved model folder, or a saved anomaly detector folder.")
    ],
    data: DataOption = None,
    split: SplitOption = "test",
    host: Annotated[
        str, typer.Option(help="Address to listen on. Anything but 127.0.0.1/localhost needs --allow-remote.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)] = 8765,
    allow_remote: Annotated[
        bool,
        typer.Option(help="Allow listening on another address than this machine's loopback (prints a warning)."),
    ] = False,
    points: Annotated[int, typer.Option(help="Explore at most this many examples (the first ones).", min=1)] = 5000,
    sliders: Annotated[int, typer.Option(help="Latent dimensions with a slider (the most active).", min=1)] = 8,
    key: Annotated[str | None, typer.Option(help="Array name inside a .npz file (anomaly detectors).")] = None,
    stop_after: Annotated[
        float | None, typer.Option(help="Stop by itself after this many seconds (default: run until Ctrl-C).", min=0)
    ] = None,
) -> None:
    """Start a local web server to explore a model's latent space, and print its URL.

    The page shows a map of the encoded examples, sliders for the most active latent dimensions,
    interpolation and samples; for an anomaly detector (with --data), its scores and heat maps.
    """
    try:
        from vaekit.explore.server import create_app
        from vaekit.explore.serving import LOCAL_HOST, LOOPBACK_NAMES, RunningServer
    except ImportError as error:
        raise fail(f"the explorer needs FastAPI and uvicorn: pip install 'vaekit[explore]' ({error})") from None
    from vaekit.explore import open_explorer

    local = host in (LOCAL_HOST, "localhost", "::1")
    if not local and not allow_remote:
        raise fail(f"--host {host} would let other machines reach the explorer: add --allow-remote if you mean it")
    explorer = open_explorer(run, data, split, max_points=points, sliders=sliders, key=key)
    app = create_app(explorer, allowed_hosts=LOOPBACK_NAMES if local else None)
    server = RunningServer(app, LOCAL_HOST if host == "localhost" else host, port)
    if not local:
        typer.echo(
            f"warning: listening on {host}: anyone who can reach this address can use the explorer "
            "(it has no login); stop it with Ctrl-C when done",
            err=True,
        )
    typer.echo(f"vaekit explorer for {run}: {server.url}  (Ctrl-C stops it)")
    with threads_for(explorer.model):
        server.serve_forever(stop_after)
