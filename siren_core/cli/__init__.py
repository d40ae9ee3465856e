"""The ``siren`` command line: ``root`` holds the group and ``main``; each other module is
one command group (``siren plugins``, ``siren obligations`` …) with a ``register(cli)``."""

from siren_core.cli.root import cli, main

__all__ = ["cli", "main"]
