"""Engines: URLs, connection settings from the environment, SQLite pragmas."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel, store
from siren_core.errors import InvalidInput
from siren_core.store import engine as engine_module
from siren_core.store import queries, tables
from siren_core.store.engine import current_transaction

from conftest import at, monthly, sale

POSTGRES_URL = os.environ.get("SIREN_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL not configured: "
                                    "set SIREN_TEST_POSTGRES_URL to run")


def test_sqlite_files_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_a_bad_url_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="database: 'nonsense' is not a database URL"):
        store.open_engine("nonsense")


@needs_postgres
def test_postgres_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert POSTGRES_URL
    monkeypatch.setenv("SIREN_DB_POOL_SIZE", "3")
    monkeypatch.setenv("SIREN_DB_STATEMENT_TIMEOUT_MS", "1500")
    engine = store.open_engine(POSTGRES_URL)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "1500ms"
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            conn.execute(sa.text("SELECT pg_sleep(3)"))
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    engine.dispose()


@needs_postgres
def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert POSTGRES_URL
    engine = store.open_engine(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"))
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIREN_DB_POOL_SIZE", "lots")
    with pytest.raises(InvalidInput, match="SIREN_DB_POOL_SIZE: 'lots' is not an integer"):
        store.open_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_the_table_models_build_no_validators(kernel: Kernel) -> None:
    """The store works with Core tables only: recording, distributing and reading back
    never validate through a table model, so none builds its pydantic schema (deferred
    in ``tables._Table``; building all of them costs a worker about half a megabyte)."""
    kernel.create_distributor(monthly())
    kernel.create_collaborator("ann")
    kernel.record("sale", sale("s-1", "ann", "10.00"))
    assert len(kernel.heartbeat(at("2026-02-01")).completed) == 1
    assert [a.amount for a in kernel.allocations()] == [100_000]
    models = tables._Table.__subclasses__()
    assert len(models) == len(tables.metadata.tables)
    assert not [model.__name__ for model in models if model.__pydantic_complete__]
def _traced(engine: sa.Engine) -> list[str]:
    """Every statement SQLite's driver runs for ``engine`` from now on."""
    seen: list[str] = []
    sa.event.listen(engine, "checkout",
                    lambda driver, _record, _proxy: driver.set_trace_callback(seen.append))
    return seen


def test_a_sqlite_unit_of_work_is_one_driver_transaction_whatever_runs_in_it(
        tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    seen = _traced(engine)
    insert = sa.text("INSERT INTO t VALUES (:x)")
    with store.unit_of_work(engine) as conn:
        queries.driver_rows(conn, "INSERT INTO t VALUES (1)", ())
        first = current_transaction(conn)
        conn.execute(insert, {"x": 2})  # SQLAlchemy's transaction begins on top of it
        assert current_transaction(conn) is first
    with pytest.raises(RuntimeError), store.unit_of_work(engine) as conn:
        assert current_transaction(conn) not in (None, first)
        queries.driver_rows(conn, "INSERT INTO t VALUES (3)", ())
        conn.execute(insert, {"x": 4})
        raise RuntimeError("undo both")
    with pytest.raises(RuntimeError), store.unit_of_work(engine) as conn:
        queries.driver_rows(conn, "INSERT INTO t VALUES (5)", ())
        raise RuntimeError("undo the driver's alone")
    with store.unit_of_work(engine, write=False) as conn:
        found = [row[0] for row in queries.driver_rows(conn, "SELECT x FROM t", ())]
    assert found == [1, 2]
    control = [s.split()[0] for s in seen
               if s.split()[0] in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT")]
    assert control == ["BEGIN", "COMMIT", "BEGIN", "ROLLBACK", "BEGIN", "ROLLBACK",
                       "BEGIN", "COMMIT"]
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"] * 3 + ["BEGIN"]
    engine.dispose()


def test_nested_units_of_work_on_sqlite_undo_only_their_own_writes(tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    seen = _traced(engine)

    def insert(conn: sa.Connection, x: int) -> None:
        queries.driver_rows(conn, f"INSERT INTO t VALUES ({x})", ())

    with store.enclosing_transaction(engine) as outer:
        insert(outer, 1)
        with store.unit_of_work(engine) as inner:
            insert(inner, 2)
            with pytest.raises(RuntimeError), store.unit_of_work(engine) as innermost:
                insert(innermost, 3)
                raise RuntimeError("undo 3")
            insert(inner, 4)
        with pytest.raises(RuntimeError), store.unit_of_work(engine) as inner:
            insert(inner, 5)
            inner.execute(sa.text("INSERT INTO t VALUES (6)"))  # SQLAlchemy's, inside
            raise RuntimeError("undo 5 and 6")
        with store.unit_of_work(engine) as inner:  # SQLAlchemy's transaction now: its own
            insert(inner, 7)
    with store.unit_of_work(engine, write=False) as conn:
        found = [row[0] for row in queries.driver_rows(conn, "SELECT x FROM t", ())]
    assert found == [1, 2, 4, 7]
    assert not [s for s in seen if s.startswith("ROLLBACK") and "TO" not in s]
    engine.dispose()


def _driver_of(engine: sa.Engine) -> Any:
    with store.unit_of_work(engine, write=False) as conn:
        return conn.connection.driver_connection


def test_a_sqlite_engine_keeps_one_connection_between_units_of_work(tmp_path: Path) -> None:
    engine = store.open_engine(f"sqlite:///{tmp_path / 'x.db'}")
    kept = _driver_of(engine)
    assert _driver_of(engine) is kept  # the next unit of work takes it again
    inside = threading.Event()
    drivers: list[Any] = []

    def hold() -> None:
        with store.unit_of_work(engine, write=False) as conn:
            drivers.append(conn.connection.driver_connection)
            inside.set()
            done.wait(10)

    done = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(10)
    other = _driver_of(engine)  # the kept one is taken: one from the pool
    done.set()
    holder.join()
    assert drivers == [kept] and other is not kept
    assert _driver_of(engine) is other  # the first back is kept; one is, not two
    assert _driver_of(engine) is other
    engine.dispose()  # a kept connection of the old pool is closed, not used again
    renewed = _driver_of(engine)
    assert renewed is not other
    with pytest.raises(sqlite3.ProgrammingError):
        other.execute("SELECT 1")
    store.dispose(engine)
    with pytest.raises(sqlite3.ProgrammingError):
        renewed.execute("SELECT 1")


def test_a_unit_of_work_that_could_not_begin_leaves_the_engine_usable(
        tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = store.open_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    _driver_of(engine).execute("PRAGMA busy_timeout=0")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer: this BEGIN IMMEDIATE fails
    with pytest.raises(store.OperationalError, match="locked"), store.unit_of_work(engine):
        pass
    blocker.execute("ROLLBACK")
    with store.unit_of_work(engine) as conn:
        queries.driver_rows(conn, "INSERT INTO t VALUES (1)", ())
    assert blocker.execute("SELECT x FROM t").fetchall() == [(1,)]
    blocker.close()
    store.dispose(engine)


def _alone(conn: sa.Connection) -> bool:
    """PostgreSQL: whether this statement is a transaction of its own (``now()`` is its
    transaction's start, earlier than the statement in a transaction begun before it)."""
    return bool(conn.exec_driver_sql("SELECT now() = statement_timestamp()").scalar())


def _postgres_engine(database_url: str) -> sa.Engine:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's BEGIN and COMMIT: on SQLite a single read is a read "
                    "unit of work, tested as one")
    return store.open_store(database_url)


@pytest.mark.parametrize("held", [False, True], ids=["pooled", "held"])
def test_a_single_read_sends_no_begin_and_leaves_units_of_work_transactional(
        database_url: str, held: bool) -> None:
    engine = _postgres_engine(database_url)
    with store.connection_held(engine) if held else contextlib.nullcontext():
        for _ in range(2):
            with store.single_read(engine) as conn:
                assert _alone(conn)
            with store.unit_of_work(engine) as conn:
                conn.exec_driver_sql("SELECT 1")
                assert not _alone(conn)  # in a transaction again
        with pytest.raises(store.DatabaseError, match="division by zero"), \
                store.single_read(engine) as conn:
            conn.exec_driver_sql("SELECT 1/0")
        with store.unit_of_work(engine) as conn:
            conn.exec_driver_sql("SELECT 1")
            assert not _alone(conn)
    store.dispose(engine)


def _backend_pid(engine: sa.Engine) -> int:
    with store.unit_of_work(engine) as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)


def _terminate(database_url: str, pid: int) -> None:
    killer = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with killer.connect() as other:
        other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    killer.dispose()


def test_a_connection_idle_long_enough_is_pinged_and_a_dropped_one_replaced(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pooled connection checked in at least ``PING_AFTER_S`` ago is pinged on its next
    checkout; one the server dropped meanwhile is replaced without the unit of work
    seeing it."""
    engine = _postgres_engine(database_url)
    monkeypatch.setattr(engine_module, "PING_AFTER_S", 0.0)
    pid = _backend_pid(engine)
    _terminate(database_url, pid)
    assert _backend_pid(engine) != pid
    store.dispose(engine)


def test_a_connection_just_used_is_pinged_only_if_the_server_spoke(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No round trip for a connection just checked in whose socket is quiet; one the
    server ended meanwhile (its socket then readable) is pinged and replaced, and the
    unit of work does not see it."""
    engine = _postgres_engine(database_url)
    monkeypatch.setattr(engine_module, "PING_AFTER_S", 3600.0)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping",
                        lambda connection: pings.append(connection) or ping(connection))
    pid = _backend_pid(engine)  # (the store's open used the connection just before)
    for _ in range(5):
        assert _backend_pid(engine) == pid
    assert pings == []
    _terminate(database_url, pid)
    deadline = time.monotonic() + 5  # until the server's goodbye reaches the socket
    while time.monotonic() < deadline and not engine_module._has_input(
            engine.pool._pool.queue[0].dbapi_connection):  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert _backend_pid(engine) != pid
    assert len(pings) == 1
    store.dispose(engine)


def test_a_single_read_whose_connection_broke_does_not_return_it_to_the_pool(
        database_url: str) -> None:
    engine = _postgres_engine(database_url)
    killer = sa.create_engine(database_url)
    with pytest.raises(store.DatabaseError), store.single_read(engine) as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with killer.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid or 0)})")
        conn.exec_driver_sql("SELECT 1")
    with store.unit_of_work(engine) as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
        assert not _alone(conn)
    killer.dispose()
    store.dispose(engine)
