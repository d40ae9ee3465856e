"""``siren db upgrade`` and ``siren db current``: the store's schema version."""

from __future__ import annotations

import json

import click

from siren_core import store
from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console
from siren_core.store import migrate


@click.group()
def db() -> None:
    """The store's schema: its version, and upgrades."""


@db.command()
@DATABASE_OPTION
def upgrade(database: str) -> None:
    """Create the schema, or upgrade it to this release's version (safe to repeat)."""
    engine = store.open_engine(database)
    before = migrate.current(engine)
    migrate.upgrade(engine)
    after = migrate.current(engine)
    engine.dispose()
    if before == after:
        message = f"schema already at {after}"
    elif before is None:
        message = f"schema created at {after}"
    else:
        message = f"schema upgraded from {before} to {after}"
    console().print(message)


@db.command()
@DATABASE_OPTION
@JSON_OPTION
def current(database: str, as_json: bool) -> None:
    """Print the schema version of the store and the newest one this release knows."""
    engine = store.open_engine(database)
    found = migrate.current(engine)
    engine.dispose()
    if as_json:
        click.echo(json.dumps({"current": found, "head": migrate.head()}))
    else:
        console().print(f"current {found or 'none (empty store)'}, newest {migrate.head()}")


def register(cli: click.Group) -> None:
    cli.add_command(db)
