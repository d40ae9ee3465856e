"""``siren plugins check`` and the ``SIREN_TRACE_PLUGINS`` log output of the CLI."""

from __future__ import annotations

import json
import logging
import sys

import click

from siren_core.cli_common import JSON_OPTION, console
from siren_core.plugin_check import check_plugins
from siren_core.plugins import PluginSettings, trace_log


@click.command()
@JSON_OPTION
def check(as_json: bool) -> None:
    """Check every installed plugin; exit 1 listing the problems if any is broken."""
    result = check_plugins()
    if as_json:
        click.echo(json.dumps({"plugins": list(result.plugins),
                               "problems": list(result.problems)}, indent=2))
    else:
        out = console()
        for problem in result.problems:
            out.print(f"[red]problem[/red] {problem}")
        verdict = "no problems" if result.ok else f"{len(result.problems)} problem(s)"
        out.print(f"{len(result.plugins)} plugins checked: {verdict}")
    if not result.ok:
        sys.exit(1)


def log_traces_to_stderr() -> None:
    """With ``SIREN_TRACE_PLUGINS`` on, print the hook-call trace on standard error."""
    if not PluginSettings.from_environment().trace or trace_log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("siren trace: %(message)s"))
    trace_log.addHandler(handler)
    trace_log.setLevel(logging.INFO)


def register(cli: click.Group) -> None:
    plugins = cli.commands["plugins"]
    assert isinstance(plugins, click.Group)
    plugins.add_command(check)
