"""Shared fixtures: every store test runs on SQLite, and on PostgreSQL when
``SIREN_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it; elsewhere those runs skip)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel, store

BACKENDS = ["sqlite", "postgresql"]


def _worker_url(url: str | None) -> str | None:
    """Under pytest-xdist, each worker's own PostgreSQL database: ``<name>_gw0`` for the
    worker ``gw0`` (the tests empty the database they are given, so two workers never
    share one). Outside xdist, and for a URL that already names the worker's database (a
    pytest this run started), the URL as given."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = sa.engine.make_url(url)
    if not parsed.database or parsed.database.endswith(f"_{worker}"):
        return url
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(
        hide_password=False)


# Set for the whole worker process at import, before any test module reads it: the
# modules that read SIREN_TEST_POSTGRES_URL themselves, and the processes the tests start,
# get the worker's database too.
POSTGRES_URL = _worker_url(os.environ.get("SIREN_TEST_POSTGRES_URL"))
if POSTGRES_URL:
    os.environ["SIREN_TEST_POSTGRES_URL"] = POSTGRES_URL


def _create_database(url: str) -> None:
    """Create the database ``url`` names if it is missing."""
    name = sa.engine.make_url(url).database
    admin = sa.create_engine(sa.engine.make_url(url).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                  {"name": name}).first()
            if exists is None:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Plain ``pytest`` runs on one pytest-xdist worker a CPU (``-n auto``), idle workers
    taking tests queued on busy ones (``--dist worksteal``: the long crash and soak tests
    do not hold up the rest). ``-n 0`` or ``-p no:xdist`` runs in one process. Set here
    rather than in ``addopts`` so that ``-p no:xdist`` is not refused for an unknown
    ``-n``; this runs before xdist's own ``pytest_cmdline_main`` reads the option."""
    if (not config.pluginmanager.hasplugin("xdist") or os.environ.get("PYTEST_XDIST_WORKER")
            or config.option.numprocesses is not None):
        return
    config.option.numprocesses = "auto"
    if config.option.dist == "no":
        config.option.dist = "worksteal"


def pytest_configure(config: pytest.Config) -> None:
    if POSTGRES_URL and os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            _create_database(POSTGRES_URL)
        except sa.exc.SQLAlchemyError as error:
            raise pytest.UsageError(
                f"cannot create this worker's PostgreSQL database "
                f"{store.masked(POSTGRES_URL)}: {error}") from error


def _reset_postgres(url: str) -> None:
    engine = store.open_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=False,
                     help="run the reliability suites with five times more seeds")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'siren.db'}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set SIREN_TEST_POSTGRES_URL to run")
    _reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def make_kernel(database_url: str) -> Iterator[Callable[..., Kernel]]:
    """Build kernels on the test database (several may share it, like several workers)."""
    kernels: list[Kernel] = []

    def build(**options: Any) -> Kernel:
        kernel = Kernel(database_url, **options)
        kernels.append(kernel)
        return kernel

    yield build
    for kernel in kernels:
        kernel.close()


@pytest.fixture
def kernel(make_kernel: Callable[..., Kernel]) -> Kernel:
    return make_kernel()


def at(text: str) -> datetime:
    """An aware UTC datetime from ``YYYY-MM-DD[THH:MM]``."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def monthly(id: str = "monthly-bonus", **overrides: Any) -> dict[str, Any]:
    """A monthly USD distributor starting 2026-01-01 UTC, scoring 10 points per sale."""
    spec: dict[str, Any] = {
        "id": id, "name": "Monthly sales bonus", "units": "USD", "schedule": "monthly",
        "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "1000.00"},
        "calculator": {"id": "proportional"},
        "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}],
    }
    spec.update(overrides)
    return spec


def sale(id: str, collaborator: str | None, amount: str, when: str = "2026-01-05T10:00:00Z",
         currency: str = "USD") -> dict[str, Any]:
    event = {"id": id, "at": when, "amount": amount, "currency": currency}
    if collaborator is not None:
        event["collaborator"] = collaborator
    return event


@contextmanager
def statements(kernel: Kernel) -> Iterator[list[str]]:
    """The SQL statements ``kernel`` runs in the block (transaction control excluded)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split()[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            seen.append(statement)

    sa.event.listen(kernel.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(kernel.engine, "before_cursor_execute", record)

@contextmanager
def driver_statements(kernel: Kernel) -> Iterator[list[str]]:
    """On SQLite, every statement the driver runs for ``kernel`` in the block (its trace
    callback), those sent straight through the driver included (transaction control
    excluded); on PostgreSQL, nothing (psycopg has no such hook: use ``statements``)."""
    seen: list[str] = []
    traced: list[Any] = []

    def record(statement: str) -> None:
        if statement.split()[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            seen.append(statement)

    def checked_out(driver: Any, _record: Any, _proxy: Any) -> None:
        # at checkout: a unit of work begins its transaction on the driver, not through
        # SQLAlchemy's (no "begin" event)
        if driver not in traced:
            driver.set_trace_callback(record)
            traced.append(driver)

    sqlite = kernel.engine.dialect.name == "sqlite"
    if sqlite:
        sa.event.listen(kernel.engine, "checkout", checked_out)
        with store.unit_of_work(kernel.engine, write=False) as conn:  # the kept connection
            checked_out(conn.connection.driver_connection, None, None)
    try:
        yield seen
    finally:
        if sqlite:
            sa.event.remove(kernel.engine, "checkout", checked_out)
        for driver in traced:
            driver.set_trace_callback(None)


def install_distribution(site: Path, name: str, entry_points: dict[str, str],
                         modules: dict[str, str] | None = None) -> None:
    """Lay out an installed distribution the way pip does: modules and a dist-info with
    ``siren`` entry points (put ``site`` on ``sys.path`` to install it)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[siren]\n" + "".join(f"{key} = {value}\n" for key, value in entry_points.items()))
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(source)
