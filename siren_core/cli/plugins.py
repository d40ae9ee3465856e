"""``siren plugins`` (list, ``check``) and the ``SIREN_TRACE_PLUGINS`` log output of the CLI."""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table

from siren_core.cli.common import JSON_OPTION, console
from siren_core.plugin_check import check_plugins
from siren_core.plugins import describe_plugins, make_plugin_manager


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List the installed plugins, their distribution and the hooks they implement.

    `siren plugins check` checks them instead (exit status 1 if one is broken).
    """
    if ctx.invoked_subcommand is not None:
        return
    pm, report = make_plugin_manager()
    rows = describe_plugins(pm, report)
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": report.broken}, indent=2))
        return
    table = Table(pad_edge=False)  # one hook a line; names fold rather than being cut
    table.add_column("plugin", overflow="fold")
    table.add_column("distribution", overflow="fold")
    table.add_column("version")
    table.add_column("hooks", overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["distribution"], row["version"], "\n".join(row["hooks"]))
    out = console()
    out.print(table)
    for name, problem in report.broken:
        out.print(f"[red]broken[/red] {name}: {problem}")


@plugins.command()
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


def register(cli: click.Group) -> None:
    cli.add_command(plugins)
