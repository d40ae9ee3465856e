"""``siren apply``, ``simulate``, ``recipes`` and ``init``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import click
from rich.table import Table

from siren_core import store
from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console, instant
from siren_core.config.apply import Change, apply, plan
from siren_core.config.converter import parse_date
from siren_core.config.files import load_config, parse_config
from siren_core.config.recipes import recipe_names, recipe_starting, recipe_summary, recipe_text
from siren_core.config.simulate import simulate as run_simulation
from siren_core.errors import InvalidInput
from siren_core.kernel import Kernel

_MARKS = {"create": "+", "unchanged": "=", "unbind": "-", "bind": "+"}


def _print_plan(changes: list[Change], as_json: bool, *, dry_run: bool) -> None:
    """The plan: one row per step, and under it each field that changes (old → new)."""
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "changes": [
            {"kind": c.kind, "id": c.id, "action": c.verb, "detail": c.detail,
             **({"owner": c.owner} if c.owner else {}),
             "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in c.fields]}
            for c in changes]}, default=str))
        return
    click.echo("Plan (nothing written):" if dry_run else "Applied:")
    for change in changes:
        kind = f"{change.kind} of {change.owner}" if change.owner else change.kind
        detail = f" ({change.detail})" if change.detail else ""
        click.echo(f"{_MARKS.get(change.verb, '~')} {kind} {change.id}: {change.verb}{detail}")
        if change.verb == "update":
            for field in change.fields:
                click.echo(f"    {field.text()}")


@click.command("apply")
@click.argument("config", type=click.Path(dir_okay=False))
@DATABASE_OPTION
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@JSON_OPTION
def apply_command(config: str, database: str, dry_run: bool, as_json: bool) -> None:
    """Create or update what CONFIG (TOML or JSON) declares, in one transaction."""
    with Kernel(database) as kernel:
        parsed = parse_config(load_config(config), kernel.converter, kernel.registry)
        changes = plan(kernel, parsed) if dry_run else apply(kernel, parsed)
    _print_plan(changes, as_json, dry_run=dry_run)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.argument("events", type=click.Path(dir_okay=False))
@click.option("--until", required=True, help="Run the heartbeat up to this instant "
              "(ISO 8601 with a timezone, e.g. 2026-04-01T00:00:00Z).")
@click.option("--with-listeners", is_flag=True, help="Deliver the simulation's events to "
              "the installed listener plugins (siren_on_event) too; by default none is "
              "called.")
def simulate(config: str, events: str, until: str, with_listeners: bool) -> None:
    """Replay EVENTS (JSON lines) against CONFIG in a throwaway store; print JSON.

    A sandbox: installed listeners hear nothing unless --with-listeners. A period that
    fails to distribute is listed under "failed" with its error, the error is printed on
    stderr too, and the exit status is 1.
    """
    end = instant("--until", until)
    data = load_config(config)
    try:
        lines = Path(events).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput("events", events, f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput("events", events, f"is not UTF-8 text (byte {exc.start})") from None
    result = run_simulation(data, lines, end, with_listeners=with_listeners)
    click.echo(json.dumps(result, indent=2))
    for failure in result["failed"]:
        click.echo(f"error: {failure['distributor']} for {failure['period_start']}: "
                   f"{failure['error']}", err=True)
    if result["failed"]:
        raise SystemExit(1)


@click.group()
def recipes() -> None:
    """Ready-made configurations for Siren's documented programs."""


@recipes.command("list")
@JSON_OPTION
def recipes_list(as_json: bool) -> None:
    """List the recipes that ship with siren-core."""
    if as_json:
        click.echo(json.dumps({"recipes": [{"name": n, "summary": recipe_summary(n)}
                                           for n in recipe_names()]}))
        return
    table = Table("recipe", "what it is")
    for name in recipe_names():
        table.add_row(name, recipe_summary(name))
    console().print(table)


@recipes.command("show")
@click.argument("name")
def recipes_show(name: str) -> None:
    """Print recipe NAME as TOML (redirect it to a file to start from it)."""
    click.echo(recipe_text(name), nl=False)


@click.command()
@click.option("--recipe", default="monthly-sales-bonus", show_default=True,
              help="The recipe to start from.")
@click.option("--start", default=None, metavar="DATE",
              help="The local date the distributors' first period starts (YYYY-MM-DD); "
                   "default: the start of the current period.")
@click.option("--force", is_flag=True, help="Overwrite an existing siren.toml.")
def init(recipe: str, start: str | None, force: bool) -> None:
    """Write siren.toml (from a recipe) and create the SQLite store siren.db here.

    The recipe's distributors start at the period holding today (in each distributor's
    timezone), or at --start: the first heartbeat closes no empty past periods.
    """
    first = _start_date(start)
    target = Path("siren.toml")
    if target.exists() and not force:
        raise InvalidInput("siren.toml", str(target.resolve()),
                           "already exists (use --force to overwrite)")
    text = recipe_starting(recipe, datetime.now(UTC), first)
    target.write_text(text, encoding="utf-8")
    engine = store.open_engine("sqlite:///siren.db")
    store.create_schema(engine)
    engine.dispose()
    console().print(f"wrote siren.toml (recipe {recipe}) and created siren.db; next: "
                    "[bold]siren apply siren.toml[/bold], then [bold]siren worker[/bold]")


def _start_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise InvalidInput("--start", value, str(exc)) from None


def register(cli: click.Group) -> None:
    for command in (apply_command, simulate, recipes, init):
        cli.add_command(command)
