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
    listings,
    obligations,
    operators,
    plugins,
    serve,
    webhooks,
)
from siren_core.cli.common import DATABASE_KEY
from siren_core.errors import SirenError
from siren_core.plugins import make_plugin_manager
from siren_core.store import DatabaseError, masked, one_line


class _SirenGroup(click.Group):
    """Turns engine errors into one clear line and exit code 2, never a traceback.

    A database error (a server gone, a refused connection…) is one line naming the
    database, its password masked, with exit code 2 too. Anything else is a bug: it is
    reported in one line with exit code 70 (set ``SIREN_DEBUG=1`` to see the traceback).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SirenError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except DatabaseError as exc:
            url = ctx.meta.get(DATABASE_KEY)
            where = f"database: {masked(url)!r} failed" if url else "database failed"
            click.echo(f"error: {where} ({one_line(exc)})", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort,
                SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("SIREN_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (SIREN_DEBUG=1 shows "
                       "the traceback; please report it)", err=True)
            ctx.exit(70)


HELP_OPTIONS = ["-h", "--help"]


@click.group(cls=_SirenGroup, context_settings={"help_option_names": HELP_OPTIONS})
@click.version_option(__version__, prog_name="siren")
def cli() -> None:
    """siren-core: scheduled collaborator rewards."""


def short_help_everywhere(command: click.Command) -> None:
    """``-h`` works like ``--help`` on ``command`` and every command below it (set on each
    command, since click caches a command's help option with the first context it sees)."""
    command.context_settings.setdefault("help_option_names", HELP_OPTIONS)
    if isinstance(command, click.Group):
        for child in command.commands.values():
            short_help_everywhere(child)


for module in (plugins, demo, distributions, listings, config, db, doctor, export, ingest,
               obligations, operators, serve, webhooks):
    module.register(cli)
short_help_everywhere(cli)


def main() -> None:
    """Entry point of the ``siren`` executable; plugins may add commands."""
    plugins.log_traces_to_stderr()
    try:
        pm, _report = make_plugin_manager()
    except SirenError:  # e.g. an unknown name in SIREN_DISABLE_PLUGINS: the command
        pass            # reports it in one line (exit 2), `siren plugins check` lists it
    else:
        pm.hook.siren_cli_commands(cli=cli)
    short_help_everywhere(cli)
    cli(prog_name="siren")
