"""The ``siren`` command: the root group, error handling, and every command module's
registration (one module per command group in this package).

The command modules are imported on first use: ``siren --help`` lists them from
``command_index`` (generated from the commands by ``python -m siren_core.cli.docgen``, and
checked by ``--check``), and ``siren NAME`` imports only the module that registers NAME.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from siren_core import __version__
from siren_core.cli.command_index import COMMANDS
from siren_core.errors import SirenError

COMMAND_MODULES = tuple(f"siren_core.cli.{name}" for name in (
    "plugins", "demo", "distributions", "listings", "config", "db", "doctor", "export",
    "ingest", "obligations", "rates", "serve", "operators", "webhooks"))
"""Every module with a ``register(cli)``, in registration order."""


class _SirenGroup(click.Group):
    """Turns engine errors into one clear line and exit code 2, never a traceback.

    A database error (a server gone, a refused connection…) is one line naming the
    database, its password masked, with exit code 2 too. Anything else is a bug: it is
    reported in one line with exit code 70 (set ``SIREN_DEBUG=1`` to see the traceback).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded: set[str] = set()

    def load(self, module: str) -> None:
        """Import a command module and register its commands (once)."""
        if module not in self.loaded:
            self.loaded.add(module)
            importlib.import_module(module).register(self)
            short_help_everywhere(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            entry = COMMANDS.get(cmd_name)
            for module in [entry[0]] if entry else COMMAND_MODULES:  # stale index: all
                self.load(module)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands' short help, without importing the commands not loaded yet (a
        stand-in with the indexed help gives the same line)."""
        stand_ins = {name: click.Command(name, help=text, short_help=short, hidden=hidden)
                     for name, (_module, text, short, hidden) in COMMANDS.items()
                     if name not in self.commands}
        commands = [(name, self.commands.get(name) or stand_ins[name])
                    for name in self.list_commands(ctx)]
        rows = [(name, command) for name, command in commands if not command.hidden]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _command in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in rows])

    def invoke(self, ctx: click.Context) -> Any:
        from siren_core.cli.common import DATABASE_KEY
        from siren_core.store import DatabaseError, masked, one_line

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


def log_traces_to_stderr() -> None:
    """With ``SIREN_TRACE_PLUGINS`` on, print the hook-call trace on standard error."""
    from siren_core.plugins import PluginSettings, trace_log

    if not PluginSettings.from_environment().trace or trace_log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("siren trace: %(message)s"))
    trace_log.addHandler(handler)
    trace_log.setLevel(logging.INFO)


def main() -> None:
    """Entry point of the ``siren`` executable; plugins may add commands."""
    from siren_core.plugins import make_plugin_manager

    log_traces_to_stderr()
    try:
        pm, _report = make_plugin_manager()
    except SirenError:  # e.g. an unknown name in SIREN_DISABLE_PLUGINS: the command
        pass            # reports it in one line (exit 2), `siren plugins check` lists it
    else:
        pm.hook.siren_cli_commands(cli=cli)
    short_help_everywhere(cli)
    cli(prog_name="siren")
