"""The ``siren`` command line: ``root`` holds the group and ``main``; each other module is
one command group (``siren plugins``, ``siren obligations`` …) with a ``register(cli)``.

``cli`` and the command tree are imported on first use (PEP 562), and ``siren --version``
answers before any of them is: it needs nothing but the installed version.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siren_core.cli.root import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Entry point of the ``siren`` executable (see :func:`siren_core.cli.root.main`)."""
    if sys.argv[1:] == ["--version"]:
        from siren_core import __version__

        print(f"siren, version {__version__}")
        return
    from siren_core.cli.root import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "cli":
        from siren_core.cli.root import cli

        return cli
    raise AttributeError(f"module 'siren_core.cli' has no attribute {name!r}")
