"""Engines and units of work.

``open_engine(url)`` builds an engine for SQLite (the embedded default, WAL on) or
PostgreSQL (``postgresql+psycopg://…``). ``UnitOfWork`` is one transaction per business
operation. On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` so that two
writers serialize at the start instead of failing half-way with "database is locked".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from siren_core.errors import InvalidInput
from siren_core.store.tables import metadata

DEFAULT_URL = "sqlite:///siren.db"
_SQLITE_BUSY_TIMEOUT_MS = 60_000


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def open_engine(url: str = DEFAULT_URL, **options: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, a busy timeout and IMMEDIATE writes."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput("database", url, "is not a database URL") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        if in_memory:  # one shared connection, or every connection sees its own database
            options.setdefault("poolclass", sa.pool.StaticPool)
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False}, **options)
        _configure_sqlite(engine, in_memory=in_memory)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True, **options)


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("siren_write", True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet."""
    metadata.create_all(engine)


def drop_schema(engine: Engine) -> None:
    metadata.drop_all(engine)


_enclosing: ContextVar[tuple[Engine, Connection] | None] = ContextVar(
    "siren_enclosing_transaction", default=None)


@contextmanager
def unit_of_work(engine: Engine, *, write: bool = True) -> Iterator[Connection]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Inside :func:`enclosing_transaction` on the same engine, the unit of work joins the
    enclosing transaction as a savepoint instead: its failure undoes only its own writes,
    and nothing is committed until the enclosing block ends.
    """
    enclosing = _enclosing.get()
    if enclosing is not None and enclosing[0] is engine:
        with enclosing[1].begin_nested():
            yield enclosing[1]
        return
    with (engine.connect().execution_options(siren_write=write) as connection,
          connection.begin()):
        yield connection


@contextmanager
def enclosing_transaction(engine: Engine) -> Iterator[Connection]:
    """Run several business operations as one transaction (e.g. ``siren apply``)."""
    with unit_of_work(engine) as connection:
        token = _enclosing.set((engine, connection))
        try:
            yield connection
        finally:
            _enclosing.reset(token)
