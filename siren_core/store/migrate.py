"""Schema migrations: every upgrade of siren-core brings its schema changes as Alembic
revisions (``siren_core/store/migrations/versions``), applied by ``siren db upgrade`` or
automatically when a kernel opens a store.

A store with no siren-core tables is created from the models in one step and stamped with
the newest revision (the test suite proves that the revisions, applied from nothing, give
exactly that schema); a store with tables is upgraded revision by revision.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siren_core.errors import InvalidInput
from siren_core.store.tables import metadata

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("siren_core.store") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_ASSIGNMENT = re.compile(
    r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE)


def head() -> str:
    """The newest revision: the one no other revision revises, read from the revision
    files' ``revision`` and ``down_revision`` lines without Alembic (about 12 MB and
    0.1 s of imports that a kernel opening a store already at this revision does not
    need; ``tests/test_migrations.py`` holds it to Alembic's ``get_current_head``). A
    history this cannot read as one line is asked of Alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in (files("siren_core.store") / "migrations" / "versions").iterdir():
        if not script.name.endswith(".py") or script.name.startswith("_"):
            continue
        found = dict((name, value) for name, value in _ASSIGNMENT.findall(script.read_text()))
        if "revision" not in found or not found["revision"]:
            return _alembic_head()
        revisions.add(found["revision"])
        if found.get("down_revision"):
            revised.add(found["down_revision"])
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 and revised <= revisions else _alembic_head()


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The revision the store is at (``None``: not a siren-core store yet): its version
    row, read without Alembic (Alembic answers when there is not exactly one)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").all()
        if len(rows) == 1:
            return str(rows[0][0])
        from alembic.runtime.migration import MigrationContext

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
    from alembic import command

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
