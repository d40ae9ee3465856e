"""``siren operators``: the accounts that log in to the admin API and the dashboard."""

from __future__ import annotations

import json
import sys

import click
from rich.table import Table

from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console, reading
from siren_core.kernel import Kernel
from siren_core.service import operators as accounts
from siren_core.store.operator_queries import OperatorRow
from siren_core.times import iso_utc


@click.group()
def operators() -> None:
    """Operators of the admin API and the dashboard: create, list, disable."""


def _operator_json(row: OperatorRow) -> dict[str, object]:
    return {"id": row.id, "name": row.name, "status": row.status,
            "dateCreated": iso_utc(row.created_at), "disabledAt": iso_utc(row.disabled_at)}


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@operators.command()
@DATABASE_OPTION
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def create(database: str, name: str, password_stdin: bool) -> None:
    """Create operator NAME; the password (prompted, at least 12 characters) is kept only
    as an Argon2id hash."""
    password = _password(password_stdin)
    with Kernel(database) as kernel:
        row = accounts.create_operator(kernel, name, password)
    click.echo(f"operator {row.name} created")


@operators.command("list")
@DATABASE_OPTION
@JSON_OPTION
def list_(database: str, as_json: bool) -> None:
    """Every operator, with its status."""
    with reading(database) as kernel:
        rows = [_operator_json(row) for row in accounts.list_operators(kernel)]
    if as_json:
        click.echo(json.dumps({"operators": rows}))
        return
    table = Table("id", "name", "status", "created", "disabled", title="Operators")
    for row in rows:
        table.add_row(*(str(row[k] or "") for k in ("id", "name", "status", "dateCreated",
                                                     "disabledAt")))
    console().print(table)


@operators.command()
@DATABASE_OPTION
@click.argument("name")
def disable(database: str, name: str) -> None:
    """Disable operator NAME: its sessions end now and it cannot log in again."""
    with Kernel(database) as kernel:
        accounts.disable_operator(kernel, name)
    click.echo(f"operator {name} disabled")


def register(cli: click.Group) -> None:
    cli.add_command(operators)
