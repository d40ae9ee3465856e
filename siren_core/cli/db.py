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
    """Create the schema, or upgrade it to this release's version (safe to repeat).

    A SQLite file that does not exist is created; a PostgreSQL database must exist.
    """
    engine = store.open_engine(database)
    before = migrate.current(engine)
    engine.dispose()
    engine = store.open_store(database, create=True)
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
    """Print the schema version of the store and the newest one this release knows.

    Creates nothing: a missing SQLite file or a database without siren-core's schema is
    an error (exit 2) naming the URL.
    """
    engine = store.open_engine(database, must_exist=True)
    found = migrate.current(engine)
    engine.dispose()
    if found is None:
        url = store.masked(database)
        raise store.StoreUnavailable(url, "has no siren-core schema: run `siren db upgrade "
                                     f"--database {url}`")
    if as_json:
        click.echo(json.dumps({"current": found, "head": migrate.head()}))
    else:
        console().print(f"current {found}, newest {migrate.head()}")


def register(cli: click.Group) -> None:
    cli.add_command(db)
