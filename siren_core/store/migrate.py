"""Schema migrations: every upgrade of siren-core brings its schema changes as Alembic
revisions (``siren_core/store/migrations/versions``), applied by ``siren db upgrade`` or
automatically when a kernel opens a store.

A store with no siren-core tables is created from the models in one step and stamped with
the newest revision (the test suite proves that the revisions, applied from nothing, give
exactly that schema); a store with tables is upgraded revision by revision.
"""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from siren_core.errors import InvalidInput
from siren_core.store.tables import metadata

VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("siren_core.store") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The revision the store is at (``None``: not a siren-core store yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


FIRST_TABLES = frozenset({"collaborator", "distributor", "distributor_config", "distribution",
                          "source_event", "score_credit", "allocation", "obligation"})
"""The tables of revision 0001, to recognise stores made before migrations existed."""


def _unversioned_revision(existing: set[str]) -> str | None:
    """The revision of a store that has tables but no version table (made by an early
    build that created tables directly), or ``None`` when it is not recognisable."""
    if existing >= set(metadata.tables):
        return "head"
    if existing >= FIRST_TABLES:
        return "0001_initial"
    return None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the store to ``revision``, creating it when it is empty."""
    with engine.begin() as connection:
        existing = set(sa.inspect(connection).get_table_names())
        config = alembic_config(connection)
        if revision == "head" and not existing & set(metadata.tables):
            metadata.create_all(connection)
            command.stamp(config, "head")
            return
        if VERSION_TABLE not in existing and existing & set(metadata.tables):
            found = _unversioned_revision(existing)
            if found is None:
                raise InvalidInput("database", engine.url.render_as_string(),
                                   "has some siren-core tables but no schema version; "
                                   "it cannot be upgraded automatically")
            command.stamp(config, found)
        command.upgrade(config, revision)
