"""The ``siren`` command: the root group, error handling, and every command module's
registration (one module per command group in this package)."""

from __future__ import annotations

import os
from typing import Any

import click

from siren_core import __version__
from siren_core.cli import (
    config,
    db,
    demo,
    distributions,
    doctor,
    export,
    ingest,
    obligations,
    plugins,
)
from siren_core.errors import SirenError
from siren_core.plugins import make_plugin_manager


class _SirenGroup(click.Group):
    """Turns engine errors into one clear line and exit code 2, never a traceback.

    Anything else is a bug: it is reported in one line with exit code 70 (set
    ``SIREN_DEBUG=1`` to see the traceback).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SirenError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("SIREN_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (SIREN_DEBUG=1 shows "
                       "the traceback; please report it)", err=True)
            ctx.exit(70)


@click.group(cls=_SirenGroup)
@click.version_option(__version__, prog_name="siren")
def cli() -> None:
    """siren-core: scheduled collaborator rewards."""


for module in (plugins, demo, distributions, config, db, doctor, export, ingest,
               obligations):
    module.register(cli)


def main() -> None:
    """Entry point of the ``siren`` executable; plugins may add commands."""
    plugins.log_traces_to_stderr()
    try:
        pm, _report = make_plugin_manager()
    except SirenError:  # e.g. an unknown name in SIREN_DISABLE_PLUGINS: the command
        pass            # reports it in one line (exit 2), `siren plugins check` lists it
    else:
        pm.hook.siren_cli_commands(cli=cli)
    cli(prog_name="siren")
