"""The ``vaekit`` command line, one module per command group.

Importing this package imports every command module; each adds its commands to the one
:data:`vaekit.cli.app.app`. A new command group is a module here that decorates its functions with
``@app.command()`` (and :func:`clean_errors`), listed in :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import importlib

from vaekit.cli.app import BAD_INPUT_EXIT_CODE, app, clean_errors, fail, main

COMMAND_MODULES = (
    "vaekit.cli.train",
    "vaekit.cli.generate",
    "vaekit.cli.evaluate",
    "vaekit.cli.config",
    "vaekit.cli.vq",
    "vaekit.cli.anomaly",
    "vaekit.cli.explore",
    "vaekit.cli.molecules",
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module)

__all__ = ["BAD_INPUT_EXIT_CODE", "COMMAND_MODULES", "app", "clean_errors", "fail", "main"]
