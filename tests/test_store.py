"""Engines: URLs, connection settings from the environment, SQLite pragmas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from siren_core import Kernel, store
from siren_core.errors import InvalidInput
from siren_core.store import tables

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
