"""``python -m vaekit.cli``: the same as the ``vaekit`` command."""

from vaekit.cli import main

main()
