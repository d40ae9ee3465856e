"""``siren plugins`` (list, ``check``) and the ``SIREN_TRACE_PLUGINS`` log output of the CLI."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import pluggy
from rich.table import Table

from siren_core.cli.common import JSON_OPTION, console
from siren_core.errors import PluginError
from siren_core.plugin_check import check_plugins
from siren_core.plugin_description import QUALIFIER_OF, describe_plugins, find_schema
from siren_core.plugins import (
    Collision,
    PluginRegistry,
    make_plugin_manager,
)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON instead of a table: each plugin's ids per kind, metric "
                   "types, capabilities and the JSON Schema of every config.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List the installed plugins, their distribution, the hooks they implement and the ids
    they provide (disabled ones too).

    `siren plugins check` checks them instead (exit status 1 if one is broken);
    `siren plugins schema ID` prints the JSON Schema of one id's configuration.
    """
    if ctx.invoked_subcommand is not None:
        return
    pm, report = make_plugin_manager()
    rows = describe_plugins(pm, report)
    if as_json:
        collisions = [{"kind": c.kind, "id": c.id, "plugins": list(c.plugins),
                       "message": c.message} for c in _collisions(pm)]
        click.echo(json.dumps({"plugins": rows, "broken": report.broken,
                               "collisions": collisions}, indent=2))
        return
    table = Table(pad_edge=False)  # one hook a line; names fold rather than being cut
    table.add_column("plugin", overflow="fold")
    table.add_column("distribution", overflow="fold")
    table.add_column("version")
    table.add_column("hooks", overflow="fold")
    table.add_column("provides", overflow="fold")
    for row in rows:
        hooks = "\n".join(row["hooks"]) if row["enabled"] else "(disabled)"
        table.add_row(row["name"], row["distribution"], row["version"], hooks, _provided(row))
    out = console()
    out.print(table)
    for name, problem in report.broken:
        out.print(f"[red]broken[/red] {name}: {problem}")
    for collision in _collisions(pm):
        out.print(f"[red]collision[/red] {collision.message}")


def _provided(row: dict[str, Any]) -> str:
    return "\n".join(f"{QUALIFIER_OF[kind]} {record['id']}"
                     for kind, records in row["provides"].items() for record in records)


def _collisions(pm: pluggy.PluginManager) -> tuple[Collision, ...]:
    try:
        return PluginRegistry.collect(pm, tolerate_collisions=True).collisions
    except PluginError:  # a hook that raises: the rows list it with its plugin
        return ()


@plugins.command()
@click.argument("ident", metavar="ID")
def schema(ident: str) -> None:
    """Print the JSON Schema (draft 2020-12) of one id's configuration, as a distributor
    writes it (`calculator:top_score` checks `calculator = { id = "top_score", ... }`).

    ID is a trigger strategy (the schema of its event), a credit rule, a pool resolver or
    a calculator, by id or Siren's alias; qualify it as KIND:ID when two kinds share it
    (`credit:fixed`, `pool:fixed`; kinds: trigger, credit, pool, calculator). An unknown or
    ambiguous ID exits with status 2.
    """
    pm, report = make_plugin_manager()
    click.echo(json.dumps(find_schema(describe_plugins(pm, report), ident), indent=2))


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
