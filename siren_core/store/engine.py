"""Engines and units of work.

``open_engine(url)`` builds an engine for SQLite (the embedded default, WAL on) or
PostgreSQL (``postgresql+psycopg://…``; plain ``postgresql://`` means psycopg 3).
``unit_of_work`` is one transaction per business operation. On SQLite every write
transaction starts with ``BEGIN IMMEDIATE`` so that two writers serialize at the start
instead of failing half-way with "database is locked".

Connection settings for PostgreSQL come from the environment (or keyword arguments):

* ``SIREN_DB_POOL_SIZE`` — connections kept open per process (default 5);
* ``SIREN_DB_MAX_OVERFLOW`` — extra connections allowed under load (default 10);
* ``SIREN_DB_STATEMENT_TIMEOUT_MS`` — a statement running longer is cancelled (default:
  the server's setting).

For SQLite, ``SIREN_SQLITE_BUSY_TIMEOUT_MS`` is how long a writer waits for another
writer's lock before "database is locked" (default 60,000).

Anything else the driver understands can go in the URL's query string.

``open_store(url, create=...)`` is how a kernel opens a store: with ``create=False`` (every
read-only command) nothing is created, neither a file nor a schema, and a store that cannot
be used -- a missing SQLite file, an empty database, a schema of another release, a server
that refuses the connection -- is a :class:`StoreUnavailable` naming the URL, its password
masked.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from siren_core import environment
from siren_core.errors import Conflict, InvalidInput
from siren_core.store.tables import metadata

if TYPE_CHECKING:
    import sqlite3

DEFAULT_URL = "sqlite:///siren.db"
_SQLITE_BUSY_TIMEOUT_MS = 60_000
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
"""PostgreSQL's deadlock victim and serialization failure: the transaction was rolled
back whole, and running it again is safe."""
RETRY_ATTEMPTS = 5

T = TypeVar("T")


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def dialect_insert(conn: Engine | Connection, table: sa.Table) -> Any:
    """An ``INSERT`` into ``table`` with the store's ``ON CONFLICT`` clauses: SQLite's or
    PostgreSQL's, imported here so that a process loads only the dialect it uses."""
    if is_sqlite(conn):
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


def _postgres_options(options: dict[str, Any], statement_timeout_ms: int | None) -> None:
    for key, name, minimum in (("pool_size", "SIREN_DB_POOL_SIZE", 1),
                               ("max_overflow", "SIREN_DB_MAX_OVERFLOW", 0)):
        value = environment.integer(name, minimum)
        if value is not None:
            options.setdefault(key, value)
    timeout = statement_timeout_ms if statement_timeout_ms is not None else environment.integer(
        "SIREN_DB_STATEMENT_TIMEOUT_MS", 1)
    if timeout is not None:
        options.setdefault("connect_args", {})["options"] = f"-c statement_timeout={timeout}"


class StoreUnavailable(InvalidInput):
    """The store a URL names cannot be used as it is: it does not exist, has no schema or
    one of another release, or the server cannot be reached (``cause``: the driver's
    error, if one was raised). ``value`` is the URL with its password masked."""

    def __init__(self, url: str, problem: str, cause: sa.exc.DBAPIError | None = None
                 ) -> None:
        self.cause = cause
        super().__init__("database", url, problem)


def masked(url: str | sa.engine.URL) -> str:
    """``url`` as text with its password replaced by ``***`` (for messages)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return str(url)
    if parsed.password is None:  # nothing to hide: the URL as the operator typed it
        return str(url) if isinstance(url, str) else parsed.render_as_string()
    return parsed.render_as_string(hide_password=True)


def _upgrade_hint(url: str) -> str:
    return f"run `siren db upgrade --database {url}`"


def open_engine(url: str = DEFAULT_URL, *, statement_timeout_ms: int | None = None,
                must_exist: bool = False, **options: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, a busy timeout and IMMEDIATE writes.

    With ``must_exist`` a SQLite file that does not exist is refused instead of created
    (and its journal mode is left as it is).
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput("database", url, "is not a database URL") from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        uri = parsed.query.get("uri") in ("true", "1")  # file:… URIs are SQLite's to read
        if must_exist and not (in_memory or uri) and not Path(str(parsed.database)).is_file():
            raise StoreUnavailable(masked(url), f"has no siren-core schema (there is no file "
                                   f"{parsed.database}): {_upgrade_hint(masked(url))}")
        if in_memory:  # one shared connection, or every connection sees its own database
            options.setdefault("poolclass", sa.pool.StaticPool)
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False}, **options)
        _configure_sqlite(engine, in_memory=in_memory, wal=not must_exist)
        return engine
    if parsed.get_backend_name() == "postgresql":
        _postgres_options(options, statement_timeout_ms)
    engine = sa.create_engine(parsed, **options)
    _ping_when_idle(engine)
    return engine


PING_AFTER_S = 1.0
"""A pooled connection idle at least this long is pinged when it is checked out again."""
_CHECKED_IN = "siren_checked_in"


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, without the round trip for a connection that was
    just in use and that the server has said nothing on since.

    A connection checked in less than :data:`PING_AFTER_S` ago, whose socket has nothing
    to read, is taken as it is: a server that ends a connection (a restart, an
    administrator's ``pg_terminate_backend``, an idle time-out) sends its reason or
    closes the socket, and either makes it readable. Any other connection is pinged, as
    ``pool_pre_ping`` pings every one, and replaced if the ping fails. The ping is a
    round trip as long as a single recording's statements (about an eighth of a
    recording's time on PostgreSQL); a connection lost without a word within that second
    (a network cut) fails its unit of work instead, as one lost during it would."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "connect")
    @event.listens_for(engine.pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        """(A new connection counts as just used.)"""
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if (checked_in is not None and time.monotonic() - checked_in < PING_AFTER_S
                and not _has_input(dbapi_connection)):
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(f"the pooled connection is gone: {exc}") from exc
        if not alive:
            raise sa.exc.DisconnectionError("the pooled connection is gone")


def _has_input(dbapi_connection: Any) -> bool:
    """Whether the idle connection's socket is readable (the server sent something, or
    closed it), without waiting; ``True`` when that cannot be told."""
    try:
        descriptor = dbapi_connection.fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(descriptor, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([descriptor], [], [], 0)[0])
    except (AttributeError, OSError, ValueError):
        return True


def _configure_sqlite(engine: Engine, *, in_memory: bool, wal: bool = True) -> None:
    busy_timeout_ms = environment.integer("SIREN_SQLITE_BUSY_TIMEOUT_MS", 0)
    if busy_timeout_ms is None:
        busy_timeout_ms = _SQLITE_BUSY_TIMEOUT_MS

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if wal and not in_memory:  # kept by the file: a store made by siren has it
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        driver = cast("sqlite3.Connection", connection.connection.driver_connection)
        if driver.in_transaction:  # a unit of work's, begun on the driver already
            return
        write = connection.get_execution_options().get("siren_write", True)
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        _on_driver(begin, driver.execute, begin)


def create_schema(engine: Engine) -> None:
    """Create the schema of an empty store, or upgrade an older one (Alembic)."""
    from siren_core.store.migrate import upgrade

    upgrade(engine)


def open_store(url: str = DEFAULT_URL, *, create: bool = True, **options: Any) -> Engine:
    """An engine on a usable store: created or upgraded when ``create``, else checked to
    be at this release's schema. Anything in the way is a :class:`StoreUnavailable`."""
    engine = open_engine(url, must_exist=not create, **options)
    try:
        at_head = _check_revision(engine, masked(url), upgrading=create)
        if create and not at_head:
            create_schema(engine)
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise StoreUnavailable(masked(url), f"cannot be used ({one_line(exc)})",
                               exc) from exc
    except StoreUnavailable:
        engine.dispose()
        raise
    return engine


def _check_revision(engine: Engine, url: str, *, upgrading: bool) -> bool:
    """Refuse a schema this release does not know (a newer one), and, unless upgrading, a
    store without a schema or with an older one; whether the store is at this release's
    schema (then nothing imports Alembic)."""
    from siren_core.store import migrate

    found, head = migrate.current(engine), migrate.head()
    if found == head:
        return True
    from alembic.script import ScriptDirectory

    known = {script.revision for script in
             ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()}
    if found is not None and found not in known:
        raise StoreUnavailable(url, f"has schema {found}, newer than this release knows "
                               f"(its newest is {head}): upgrade siren-core")
    if upgrading:
        return False
    if found is None:
        raise StoreUnavailable(url, f"has no siren-core schema: {_upgrade_hint(url)}")
    raise StoreUnavailable(url, f"has schema {found}, older than this release's {head}: "
                           f"{_upgrade_hint(url)}")


def drop_schema(engine: Engine) -> None:
    metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


_enclosing: ContextVar[tuple[Engine, Connection] | None] = ContextVar(
    "siren_enclosing_transaction", default=None)


def unit_of_work(engine: Engine, *, write: bool = True
                 ) -> AbstractContextManager[Connection]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Inside :func:`enclosing_transaction` on the same engine, the unit of work joins the
    enclosing transaction as a savepoint instead: its failure undoes only its own writes,
    and nothing is committed until the enclosing block ends.

    (The context manager of the case at hand is returned as it is, not wrapped in one
    more: a single recording is a few statements, and each layer costs a generator.)
    """
    enclosing = _enclosing.get()
    if enclosing is not None and enclosing[0] is engine:
        return _joined(enclosing[1])
    if is_sqlite(engine):
        return _DriverTransaction(engine, write=write)
    return _pooled(engine, write=write)


@contextmanager
def _joined(joined: Connection) -> Iterator[Connection]:
    """A unit of work inside the enclosing transaction: a savepoint of it."""
    with (_driver_savepoint(joined) if _on_driver_alone(joined)
          else joined.begin_nested()):
        yield joined


@contextmanager
def _pooled(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """A unit of work on a pooled connection (the one :func:`connection_held` holds, if
    it is free)."""
    held = _free_held(engine)
    if held is not None:
        with held.begin():
            yield held
        return
    with (engine.connect().execution_options(siren_write=write) as connection,
          connection.begin()):
        yield connection


def _free_held(engine: Engine) -> Connection | None:
    """The connection :func:`connection_held` holds on ``engine``, if no transaction is
    open on it."""
    held = _held.get()
    if held is not None and held[0] is engine and not held[1].in_transaction():
        return held[1]
    return None


_held: ContextVar[tuple[Engine, Connection] | None] = ContextVar(
    "siren_held_connection", default=None)


def single_read(engine: Engine) -> AbstractContextManager[Connection]:
    """A read of **one** statement, in no transaction of its own on PostgreSQL.

    There a statement alone is its own transaction, with one snapshot, so ``BEGIN`` and
    ``COMMIT``, each a round trip as long as an indexed ``SELECT``, are not sent: the idle
    heartbeat's two reads cost two round trips instead of six. The block must run a
    single statement (two would see two snapshots). On SQLite (in-process, no round
    trips) and inside :func:`enclosing_transaction` it is ``unit_of_work(write=False)``.
    """
    enclosing = _enclosing.get()
    if is_sqlite(engine) or (enclosing is not None and enclosing[0] is engine):
        return unit_of_work(engine, write=False)
    return _autocommitted(engine)


@contextmanager
def _autocommitted(engine: Engine) -> Iterator[Connection]:
    """A pooled connection (the held one, if free) with the driver in autocommit mode for
    the block; SQLAlchemy's autobegun transaction is committed after it, which psycopg
    does without a round trip when the server is idle (no transaction open)."""
    held = _free_held(engine)
    if held is not None:
        yield from _autocommitting(held)
        return
    with engine.connect().execution_options(siren_write=False) as connection:
        yield from _autocommitting(connection)


def _autocommitting(connection: Connection) -> Iterator[Connection]:
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.autocommit = True
    try:
        yield connection
        connection.commit()
    finally:
        try:
            if connection.in_transaction():
                connection.rollback()
            driver.autocommit = False  # refused only by a broken connection
        except Exception:  # never back to the pool in autocommit mode
            connection.invalidate()


@contextmanager
def connection_held(engine: Engine) -> Iterator[None]:
    """The units of work on ``engine`` inside the block (in this thread) run one after
    the other on one connection, checked out (and pinged) once, each still its own
    transaction: a heartbeat distributing 1,000 small periods would otherwise pay a
    checkout and the pool's ping, a round trip as long as a small period's statement,
    for each. A unit of work begun while another is open on it checks out its own, as
    outside the block. SQLite keeps a connection per engine anyway (:class:`_Kept`)."""
    held = _held.get()
    if is_sqlite(engine) or (held is not None and held[0] is engine):
        yield
        return
    with engine.connect() as connection:
        token = _held.set((engine, connection))
        try:
            yield
        finally:
            _held.reset(token)


_DRIVER_TRANSACTION = "siren_driver_transaction"
"""The key, in the connection's ``info``, of the driver transaction under way."""


class _DriverTransaction:
    """SQLite: a transaction begun and ended on the driver's connection (``BEGIN
    [IMMEDIATE]`` … ``COMMIT``), not through SQLAlchemy's ``Transaction``, whose begin
    and commit (the object, its events and execution options: about 10 µs) cost as much
    as a single recording's statements; on the engine's kept connection
    (:class:`_Kept`). A statement through SQLAlchemy inside autobegins SQLAlchemy's
    transaction on top of it (the begin listener sees the driver's and sends nothing);
    SQLAlchemy then ends it. (A class, not a generator under ``contextmanager``: one
    for every unit of work.)"""

    __slots__ = ("_connection", "_driver", "_engine", "_kept", "_write")

    def __init__(self, engine: Engine, *, write: bool) -> None:
        self._engine = engine
        self._write = write

    def __enter__(self) -> Connection:
        kept = self._kept = _Kept.of(self._engine)
        connection = self._connection = kept.take(self._engine)
        try:
            driver = self._driver = cast("sqlite3.Connection",
                                         connection.connection.driver_connection)
            begin = "BEGIN IMMEDIATE" if self._write else "BEGIN"
            _on_driver(begin, driver.execute, begin)
        except BaseException:  # its transaction may be open: the pool rolls it back
            connection.close()
            raise
        connection.info[_DRIVER_TRANSACTION] = object()
        return connection

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        connection = self._connection
        ended = False
        try:
            _end(connection, self._driver, commit=kind is None)
            ended = True
        finally:
            connection.info.pop(_DRIVER_TRANSACTION, None)
            if ended:
                self._kept.keep(self._engine, connection)
            else:  # its transaction may still be open: the pool rolls it back
                connection.close()


def _end(connection: Connection, driver: sqlite3.Connection, *, commit: bool) -> None:
    if connection.in_transaction():
        connection.commit() if commit else connection.rollback()
    elif commit:
        _on_driver("COMMIT", driver.commit)
    else:
        _on_driver("ROLLBACK", driver.rollback)


class _Kept:
    """The SQLite connection an engine keeps checked out between units of work, so that
    the next one skips the pool's checkout and check-in and SQLAlchemy's ``Connection``
    set-up (about as many instructions as a single recording's statements). One per
    engine: a unit of work that finds it taken checks one out of the pool as before.
    Kept for the engine's pool and process: after ``engine.dispose()`` or a fork it is
    not used again (:func:`dispose` closes it)."""

    _ATTRIBUTE = "siren_kept_connection"

    def __init__(self, pool: sa.pool.Pool) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection: Connection | None = None
        self.lock = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> _Kept:
        kept: _Kept | None = getattr(engine, cls._ATTRIBUTE, None)
        if kept is None or kept.pool is not engine.pool or kept.pid != os.getpid():
            if kept is not None and kept.pid == os.getpid():
                kept.close(disposed=True)
            kept = cls(engine.pool)
            setattr(engine, cls._ATTRIBUTE, kept)
        return kept

    def take(self, engine: Engine) -> Connection:
        with self.lock:
            found, self.connection = self.connection, None
        return engine.connect() if found is None else found

    def keep(self, engine: Engine, connection: Connection) -> None:
        with self.lock:
            if self.connection is None and self.pool is engine.pool:
                self.connection = connection
                return
        connection.close()

    def close(self, *, disposed: bool = False) -> None:
        """Give the kept connection back to the pool, or (``disposed``: the pool was)
        close it."""
        with self.lock:
            found, self.connection = self.connection, None
        if found is not None:
            if disposed:
                found.invalidate()
            found.close()


def dispose(engine: Engine) -> None:
    """Close the engine's connections (its kept one too, see :class:`_Kept`)."""
    kept: _Kept | None = getattr(engine, _Kept._ATTRIBUTE, None)
    if kept is not None and kept.pid == os.getpid():
        kept.close()
    engine.dispose()


def _on_driver_alone(connection: Connection) -> bool:
    """Whether ``connection``'s transaction is a driver transaction that SQLAlchemy has
    not joined (no statement of its own ran in it)."""
    return _DRIVER_TRANSACTION in connection.info and not connection.in_transaction()


_SAVEPOINT = "siren_unit"
"""A nested unit of work's savepoint (SQLite releases or rolls back to the innermost of
that name: nesting needs no other)."""


@contextmanager
def _driver_savepoint(connection: Connection) -> Iterator[None]:
    """A savepoint of a driver transaction, on the driver (SQLAlchemy's own is a compiled
    statement each way, and would begin SQLAlchemy's transaction first)."""
    driver = cast("sqlite3.Connection", connection.connection.driver_connection)
    savepoint = f"SAVEPOINT {_SAVEPOINT}"
    _on_driver(savepoint, driver.execute, savepoint)
    try:
        yield
    except BaseException:
        for statement in (f"ROLLBACK TO {_SAVEPOINT}", f"RELEASE {_SAVEPOINT}"):
            _on_driver(statement, driver.execute, statement)
        raise
    release = f"RELEASE {_SAVEPOINT}"
    _on_driver(release, driver.execute, release)


def _on_driver(statement: str, call: Callable[..., Any], *args: Any) -> None:
    """``call(*args)``, a driver call that runs ``statement``; its error as SQLAlchemy's,
    as ``exec_driver_sql`` raises it."""
    try:
        call(*args)
    except Exception as exc:
        import sqlite3  # loaded already: only SQLite's driver calls come here

        if not isinstance(exc, sqlite3.Error):
            raise
        raise sa.exc.DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc


def current_transaction(connection: Connection) -> object | None:
    """What identifies the transaction under way on ``connection`` (``None``: none): an
    object no later transaction shares, for a per-transaction cache."""
    found = connection.info.get(_DRIVER_TRANSACTION)
    return found if found is not None else connection.get_transaction()


@contextmanager
def enclosing_transaction(engine: Engine) -> Iterator[Connection]:
    """Run several business operations as one transaction (e.g. ``siren apply``)."""
    with unit_of_work(engine) as connection:
        token = _enclosing.set((engine, connection))
        try:
            yield connection
        finally:
            _enclosing.reset(token)


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is a deadlock or serialization failure reported by the driver."""
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) in RETRYABLE_SQLSTATES


def retrying(engine: Engine, work: Callable[[], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
    """Run ``work`` (one or more whole units of work on ``engine``) and run it again if
    PostgreSQL chose it as a deadlock or serialization victim, up to ``attempts`` times,
    with a short random back-off. Inside :func:`enclosing_transaction` nothing can be
    retried (the enclosing transaction is lost): the failure is a :class:`Conflict`, as it
    is once the attempts are spent."""
    enclosing = _enclosing.get()
    retry = enclosing is None or enclosing[0] is not engine
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except sa.exc.DBAPIError as exc:
            if not is_retryable(exc):
                raise
            if not retry or attempt == attempts:
                raise Conflict(f"a concurrent transaction kept deadlocking with this one "
                               f"({attempt} attempt(s)); nothing was changed, try again"
                               ) from exc
        time.sleep(random.uniform(0, 0.005 * 2 ** attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def transient(exc: sa.exc.DBAPIError) -> bool:
    """A lost connection, a server restart, a lock or deadlock: worth trying again.

    Anything else (a missing table, a constraint broken) is a bug, not an outage.
    """
    return bool(exc.connection_invalidated) or isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError)


def one_line(exc: sa.exc.DBAPIError) -> str:
    """The driver's error, in one line (``OperationalError: connection refused``)."""
    cause = exc.orig if exc.orig is not None else exc
    lines = str(cause).strip().splitlines() or [""]
    return f"{type(cause).__name__}: {lines[0]}"
