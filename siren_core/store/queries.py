"""Every statement the engine runs, as small functions over a ``Connection``.

Aggregation happens in SQL (``GROUP BY``) and bulk writes go through ``executemany`` or
``INSERT … SELECT``; nothing here builds an ORM object per row. The statements every
single recording runs go straight through the driver (:func:`driver_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core import domain
from siren_core.errors import ConfigurationChanged
from siren_core.store import tables
from siren_core.store.engine import dialect_insert, is_sqlite


def _inserted_key(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


collaborator = tables.table(tables.Collaborator)
distributor = tables.table(tables.Distributor)
distributor_config = tables.table(tables.DistributorConfig)
distributor_stamp = tables.table(tables.DistributorStamp)
distribution = tables.table(tables.Distribution)
source_event = tables.table(tables.SourceEvent)
score_credit = tables.table(tables.ScoreCredit)
credit_skip = tables.table(tables.CreditSkip)
allocation = tables.table(tables.Allocation)
obligation = tables.table(tables.Obligation)


# -- collaborators ---------------------------------------------------------------------

def insert_collaborator_once(conn: Connection, value: domain.Collaborator,
                             now: datetime) -> bool:
    """Insert a collaborator unless its external id is taken (by a committed or a
    concurrent transaction: PostgreSQL waits for it); whether it was inserted."""
    statement = _insert_ignoring_conflict(conn, collaborator, ["external_id"]).values(
        external_id=value.id, name=value.name, email=value.email, status=value.status,
        created_at=now, updated_at=now)
    return conn.execute(statement.returning(collaborator.c.id)).first() is not None


def collaborator_exists(conn: Connection, external_id: str) -> bool:
    query = sa.select(collaborator.c.id).where(collaborator.c.external_id == external_id)
    return conn.execute(query).first() is not None


def collaborator_keys(conn: Connection, external_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """external id → (store id, status) for the ids that exist."""
    if isinstance(external_ids, Collection) and len(external_ids) == 1:
        # a single recording's actor: a plain indexed look-up
        [name] = external_ids
        rows = driver_rows(conn, marks(conn, _COLLABORATOR_KEY), (name,))
        return {name: (rows[0][0], rows[0][1])} if rows else {}
    rows = rows_among(conn, collaborator, ["external_id", "id", "status"], "external_id",
                      external_ids)
    return {external_id: (key, status) for external_id, key, status in rows}


_COLLABORATOR_KEY = "SELECT id, status FROM collaborator WHERE external_id = ?"


def rows_among(conn: Connection, table: sa.Table, columns: list[str], column: str,
               values: Iterable[str], equal: tuple[str, Any] | None = None
               ) -> list[tuple[Any, ...]]:
    """``columns`` of the rows whose ``column`` is among ``values`` (and whose
    ``equal[0]`` is ``equal[1]``), as plain tuples.

    One statement straight through the driver's cursor, in the connection's transaction:
    bulk ingestion looks up every event of a batch this way, where SQLAlchemy's
    expanding ``IN`` and result rows cost more than the query. The values go as one
    parameter: a JSON array joined through ``json_each`` on SQLite (twice as fast there
    as ``IN (…)``), an array for ``= ANY`` on PostgreSQL, planned with that array every
    time: a generic plan (what PostgreSQL may reuse for a prepared statement) cannot
    hash the array, and on a table it takes for small it scans the rows and compares each
    with every value (5,000 collaborators looked up once a batch: 8 ms, then 98 ms a
    batch from the sixth on, once psycopg had prepared the statement).
    """
    wanted = list(set(values))
    quote = conn.dialect.identifier_preparer.quote
    name = quote(table.name)
    selected = ", ".join(f"{name}.{quote(c)}" for c in columns)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conditions: list[str] = []
    parameters: list[Any] = []
    if is_sqlite(conn):
        # CROSS JOIN: SQLite then loops over the values and probes the index; a plain
        # JOIN may let it scan the table by ``equal`` instead (every recorded event).
        source = (f"json_each({mark}) AS wanted CROSS JOIN {name} ON "
                  f"{name}.{quote(column)} = wanted.value")
        parameters.append(json.dumps(wanted))
    else:
        source = name
        conditions.append(f"{name}.{quote(column)} = ANY({mark})")
        parameters.append(wanted)
    if equal is not None:
        conditions.append(f"{name}.{quote(equal[0])} = {mark}")
        parameters.append(equal[1])
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return driver_rows(conn, f"SELECT {selected} FROM {source}{where}", parameters,
                       planned_each_time=True)


def driver_rows(conn: Connection, statement: str, parameters: Sequence[Any], *,
                whole_numerics: bool = False, planned_each_time: bool = False
                ) -> list[tuple[Any, ...]]:
    """Run ``statement`` (already in the driver's parameter style) straight through the
    driver's cursor, in the connection's transaction; its rows (none for a statement
    without a result). Where SQLAlchemy's per-statement work (compiled cache look-up,
    events, result set-up: 40-60 µs) costs more than the statement itself, as on the
    single recording path. A driver error is raised as SQLAlchemy's (``IntegrityError``,
    ``OperationalError``...), as ``conn.execute`` would.

    ``whole_numerics``: the statement's ``numeric`` values are whole numbers (sums of
    integers on PostgreSQL), read as ints, exact at any size (psycopg: no ``Decimal``
    per value, nor a second list of rows to convert them; see :func:`reads_whole_numerics`).

    ``planned_each_time``: never run as a server-side prepared statement (psycopg
    prepares a statement it has run five times, and PostgreSQL may then reuse a generic
    plan, made without the parameters' values; see :func:`rows_among`)."""
    # (the body of driver_cursor without its generator: this runs for every statement of
    # a single recording)
    fairy = conn.connection
    rows: list[tuple[Any, ...]]
    try:
        if conn.dialect.name == "sqlite":  # sqlite3's own execute: no cursor to manage,
            # and no rows is []; nothing else of _run applies to it
            driver: Any = fairy.dbapi_connection
            rows = driver.execute(statement, parameters).fetchall()
            return rows
        cursor: Any = fairy.cursor()
        try:
            _run(conn, cursor, statement, parameters, whole_numerics, planned_each_time)
            rows = [] if cursor.description is None else cursor.fetchall()
            return rows
        finally:
            cursor.close()
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, statement, parameters, exc) from exc


@contextmanager
def driver_cursor(conn: Connection, statement: str, parameters: Sequence[Any], *,
                  whole_numerics: bool = False) -> Iterator[Any]:
    """The driver's cursor having run ``statement``, as :func:`driver_rows` runs it, for
    its rows to be read one at a time (a large result is never held as a list); a driver
    error, while it runs or while its rows are read, is raised as SQLAlchemy's. The cursor
    is closed on leaving."""
    cursor = conn.connection.cursor()
    try:
        _run(conn, cursor, statement, parameters, whole_numerics, False)
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, statement, parameters, exc) from exc
    finally:
        cursor.close()


def _run(conn: Connection, cursor: Any, statement: str, parameters: Sequence[Any],
         whole_numerics: bool, planned_each_time: bool) -> None:
    if whole_numerics and reads_whole_numerics(conn):
        from psycopg.types.numeric import IntLoader

        cursor.adapters.register_loader("numeric", IntLoader)  # this cursor only
    if planned_each_time and conn.dialect.driver == "psycopg":
        cursor.execute(statement, parameters, prepare=False)
    else:
        cursor.execute(statement, parameters)


def _driver_error(conn: Connection, statement: str, parameters: Sequence[Any] | None,
                  exc: Exception) -> sa.exc.StatementError:
    """A driver's error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``…)."""
    return sa.exc.DBAPIError.instance(statement, parameters, exc,
                                      conn.dialect.loaded_dbapi.Error)


def reads_whole_numerics(conn: Connection) -> bool:
    """Whether :func:`driver_rows` reads ``numeric`` values as ints on ``conn`` (psycopg);
    another PostgreSQL driver gives its ``Decimal``."""
    return conn.dialect.driver == "psycopg"


def driver_many(conn: Connection, statement: str, parameters: Iterable[Sequence[Any]]
                ) -> None:
    """``executemany`` of ``statement`` (in the driver's parameter style) straight through
    the driver, each parameter set built as it is sent; errors as :func:`driver_rows`."""
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(statement, parameters)  # type: ignore[arg-type]  # any iterable
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, statement, None, exc) from exc
    finally:
        cursor.close()


def copy_rows(conn: Connection, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[Any]], types: Sequence[str] | None = None) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` (PostgreSQL, psycopg), in the
    connection's transaction, each row written as it comes; a database error is raised as
    SQLAlchemy's (``IntegrityError`` for a duplicate key), as ``execute`` would.

    ``types``: the columns' PostgreSQL types, for the binary format (see
    :func:`binary_copy_types`); the text format without them."""
    binary = " (FORMAT BINARY)" if types else ""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}"
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            if types:
                copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _driver_error(conn, statement, None, exc) from exc
    finally:
        cursor.close()


def binary_copy_types(table: sa.Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> list[str] | None:
    """The PostgreSQL types of ``columns`` for a binary ``COPY`` of ``rows``, or ``None``
    for the text format: when a column's type is not a plain integer, text, boolean or
    naive timestamp, or an ``integer`` column holds a value outside its 32 bits.

    The binary format spares psycopg writing every value as text (about a quarter of
    the client's time of a raw bulk ingestion), but psycopg wraps an int too large for
    ``int4`` silently where the text format's server refuses it: so every ``int4``
    value is checked first (the store ids and layers the engine writes always fit). The
    values must be of the columns' own Python types (``int``, ``str``, ``bool``, a naive
    ``datetime``), as the bulk writes' rows of stored values are."""
    types = [_binary_type(table.c[name].type) for name in columns]
    if None in types:
        return None
    low, high = -domain.INTEGER_MAX - 1, domain.INTEGER_MAX
    for index, kind in enumerate(types):
        if kind == "int4" and not all(row[index] is None or low <= row[index] <= high
                                      for row in rows):
            return None
    return cast(list[str], types)


def _binary_type(kind: sa.types.TypeEngine[Any]) -> str | None:
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.BigInteger):
        return "int8"
    if isinstance(kind, sa.Integer) and not isinstance(kind, sa.SmallInteger):
        return "int4"
    if isinstance(kind, sa.String) and not isinstance(kind, sa.Enum):
        return "text"
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.DateTime) and not kind.timezone:
        return "timestamp"
    return None


def marks(conn: Connection, statement: str) -> str:
    """``statement`` written with ``?`` marks, in the driver's parameter style."""
    return statement if conn.dialect.paramstyle == "qmark" else statement.replace("?", "%s")


def store_time(conn: Connection, value: datetime) -> Any:
    """An aware datetime as the store keeps it (``UTCDateTime``'s bind processing for
    the driver): naive UTC, as text on SQLite."""
    if value.tzinfo is not UTC:  # (UTC itself, the common value, has nothing to convert)
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6] if conn.dialect.name == "sqlite" else (
        value.replace(tzinfo=None))


def stored_time(value: Any) -> datetime:
    """A time read through the driver (text on SQLite, naive on PostgreSQL), aware UTC."""
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return cast(datetime, found).replace(tzinfo=UTC)


def set_collaborator_status(conn: Connection, external_id: str, status: str,
                            now: datetime) -> bool:
    result = conn.execute(collaborator.update().where(collaborator.c.external_id == external_id)
                          .values(status=status, updated_at=now))
    return result.rowcount == 1


def rename_collaborator(conn: Connection, external_id: str, name: str, email: str | None,
                        now: datetime) -> bool:
    result = conn.execute(collaborator.update().where(collaborator.c.external_id == external_id)
                          .values(name=name, email=email, updated_at=now))
    return result.rowcount == 1


def list_collaborators(conn: Connection) -> list[domain.Collaborator]:
    query = sa.select(collaborator.c.external_id, collaborator.c.name, collaborator.c.status,
                      collaborator.c.email).order_by(collaborator.c.external_id)
    return [domain.Collaborator(id=r[0], name=r[1], status=r[2], email=r[3])
            for r in conn.execute(query)]


def find_collaborator(conn: Connection, external_id: str, *,
                      lock: bool = False) -> domain.Collaborator | None:
    """One collaborator (its row locked with ``lock``, so that a change reports the state
    it replaced), or ``None``."""
    query = sa.select(collaborator.c.external_id, collaborator.c.name, collaborator.c.status,
                      collaborator.c.email).where(collaborator.c.external_id == external_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else domain.Collaborator(id=row[0], name=row[1], status=row[2],
                                                        email=row[3])


# -- distributors ----------------------------------------------------------------------

def raise_distributor_stamp(conn: Connection) -> None:
    """Raise the stamp of every distributor write (see :func:`distributor_stamp_value`);
    call it first in the writing transaction, before any ``distributor`` row is changed
    (on PostgreSQL the stamp's row lock then orders concurrent distributor writers and
    cannot deadlock with their row locks)."""
    statement = _RAISE_STAMP.get(conn.dialect.name)
    if statement is None:
        statement = _RAISE_STAMP[conn.dialect.name] = dialect_insert(
            conn, distributor_stamp).values(id=1, stamp=1).on_conflict_do_update(
            index_elements=["id"], set_={"stamp": distributor_stamp.c.stamp + 1})
    conn.execute(statement)


_RAISE_STAMP: dict[str, Any] = {}
"""dialect name → the stamp's upsert (built once a dialect)."""


def distributor_stamp_value(conn: Connection) -> int:
    """The stamp every distributor write raises, in its transaction: unchanged, no
    distributor changed (a primary-key look-up through the driver: every recording
    asks, whatever the number of distributors)."""
    rows = driver_rows(conn, "SELECT stamp FROM distributor_stamp WHERE id = 1", ())
    return int(rows[0][0]) if rows else 0


def insert_distributor(conn: Connection, external_id: str, name: str, units: str, status: str,
                       config: Mapping[str, Any], now: datetime) -> int:
    raise_distributor_stamp(conn)
    result = conn.execute(distributor.insert().values(
        external_id=external_id, name=name, units=units, status=status, config=dict(config),
        config_version=1, hold_days=config.get("hold_days"), created_at=now, updated_at=now))
    key = _inserted_key(result)
    conn.execute(distributor_config.insert().values(
        distributor_id=key, version=1, config=dict(config), created_at=now))
    return key


def update_distributor(conn: Connection, key: int, name: str, status: str,
                       config: Mapping[str, Any], now: datetime) -> int:
    """Store a new configuration version; returns the new version number."""
    raise_distributor_stamp(conn)
    version = cast(int, conn.execute(
        sa.select(distributor.c.config_version).where(distributor.c.id == key)).scalar_one()) + 1
    conn.execute(distributor.update().where(distributor.c.id == key).values(
        name=name, status=status, config=dict(config), config_version=version,
        hold_days=config.get("hold_days"), updated_at=now))
    conn.execute(distributor_config.insert().values(
        distributor_id=key, version=version, config=dict(config), created_at=now))
    return version


DistributorRow = tuple[int, str, str, dict[str, Any], int]
"""(store id, external id, status, config, config version)"""


def distributor_rows(conn: Connection, *, external_id: str | None = None,
                     statuses: Sequence[str] | None = None,
                     keys: Sequence[int] | None = None) -> list[DistributorRow]:
    query = sa.select(distributor.c.id, distributor.c.external_id, distributor.c.status,
                      distributor.c.config, distributor.c.config_version
                      ).order_by(distributor.c.external_id)
    if external_id is not None:
        query = query.where(distributor.c.external_id == external_id)
    if keys is not None:
        query = query.where(distributor.c.id.in_(keys))
    if statuses is not None:
        query = query.where(distributor.c.status.in_(statuses))
    return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(query)]


_VERSIONS = "SELECT id, config_version, status FROM distributor"


def distributor_versions(conn: Connection) -> dict[int, tuple[int, str]]:
    """store id → (config version, status) of every distributor: a cheap cache check
    (through the driver: every recording asks)."""
    return {row[0]: (row[1], row[2]) for row in driver_rows(conn, _VERSIONS, ())}


_VERSION = sa.select(distributor.c.config_version, distributor.c.status).where(
    distributor.c.id == sa.bindparam("key"))


def distributor_version(conn: Connection, key: int) -> tuple[int, str] | None:
    """(config version, status) of one distributor: a primary-key look-up."""
    row = conn.execute(_VERSION, {"key": key}).first()
    return None if row is None else (row[0], row[1])


def set_distributor_status(conn: Connection, key: int, status: str, now: datetime) -> None:
    raise_distributor_stamp(conn)
    conn.execute(distributor.update().where(distributor.c.id == key).values(
        status=status, updated_at=now))


KEY_MAX = domain.INTEGER_MAX
"""The largest store id (``INTEGER`` primary keys): a larger id names no row, and is not
sent to the database (PostgreSQL refuses it as out of range, SQLite beyond 64 bits)."""


# -- distributions ---------------------------------------------------------------------

_OPEN_PERIOD = distribution.insert().values(status="open")


def insert_distribution(conn: Connection, distributor_key: int, index: int, start: datetime,
                        end: datetime, units: str, carried_in: int = 0) -> int:
    """Open a period; ``units`` is the distributor's currency, kept by the period for good;
    ``carried_in``, the pool the period before passed on (``unallocated``)."""
    result = conn.execute(_OPEN_PERIOD, {
        "distributor_id": distributor_key, "period_index": index, "period_start": start,
        "period_end": end, "units": units, "carried_in": carried_in})
    return _inserted_key(result)


def open_period_starts(conn: Connection, distributor_keys: Sequence[int], *,
                       lock: bool, units: Mapping[int, str] | None = None,
                       locked: Mapping[int, tuple[datetime, str]] | None = None
                       ) -> dict[int, datetime]:
    """distributor store id → start of its open period.

    With ``lock`` (PostgreSQL) the open rows are locked ``FOR SHARE``: a heartbeat that
    distributes one of them waits for this transaction, and this transaction waits for a
    heartbeat already distributing, so a credit never lands in a period that closed under
    it. When such a wait ends, the period it waited for is no longer open and the
    statement drops it; the next one opened in the same transaction as the close, so the
    look-up is run again (a new statement: a new snapshot) for the distributors it missed.
    An event recorded then counts in the new open period (late) instead of in none.

    ``units`` (distributor store id → the currency the caller planned its credits in) is
    checked against the locked open periods: a units change that committed after the
    caller read the configuration raises :class:`ConfigurationChanged`, so that no amount
    lands in a period of another currency.

    ``locked``: (start, units) of open periods this transaction read already, as this
    function reads them (:func:`recording_prelude`); the others are looked up.
    """
    found: dict[int, tuple[datetime, str]] = {}
    missing = []
    for key in distributor_keys:  # (loops, not comprehensions: a recording's one or two)
        period = locked.get(key) if locked else None
        if period is None:
            missing.append(key)
        else:
            found[key] = period
    for _attempt in range(_OPEN_PERIOD_ATTEMPTS if missing else 0):
        found.update(_open_starts(conn, missing, lock=lock))
        missing = [key for key in missing if key not in found]
        if not missing or not lock or is_sqlite(conn) or not _have_open_period(conn, missing):
            break
    starts = {}
    for key, (start, stored) in found.items():
        planned = units.get(key, stored) if units is not None else stored
        if planned != stored:
            raise ConfigurationChanged(f"distributor {key}'s units changed from {planned} "
                                       f"to {stored} while an event was being recorded")
        starts[key] = start
    return starts


_OPEN_PERIOD_ATTEMPTS = 20
"""Each retry follows a period closed by a committed heartbeat: a few are plenty."""


_OPEN_STARTS = ("SELECT distributor_id, period_start, units FROM distribution"
                " WHERE status = 'open' AND distributor_id")


def _open_starts(conn: Connection, keys: Sequence[int], *,
                 lock: bool) -> dict[int, tuple[datetime, str]]:
    """Through the driver: every recording asks (``FOR SHARE`` with ``lock`` on
    PostgreSQL; SQLite's writers are serialized already)."""
    if is_sqlite(conn):
        statement = f"{_OPEN_STARTS} IN ({', '.join('?' * len(keys))})"
        parameters: Sequence[Any] = list(keys)
    else:
        statement = f"{_OPEN_STARTS} = ANY(%s){' FOR SHARE' if lock else ''}"
        parameters = [list(keys)]
    return {row[0]: (stored_time(row[1]), row[2])
            for row in driver_rows(conn, statement, parameters)}


def _have_open_period(conn: Connection, keys: Sequence[int]) -> bool:
    """Whether one of ``keys`` has an open period now (without locking): a distributor
    without one (deleted) is not waited for."""
    query = sa.select(distribution.c.id).where(
        distribution.c.distributor_id.in_(keys), distribution.c.status == "open").limit(1)
    return conn.execute(query).first() is not None


ClaimedRow = tuple[int, int, int, datetime, datetime, int, tuple[int, str], bool]
"""(distribution id, distributor store id, period index, period start, period end,
carried in, the distributor's (config version, status), whether any webhook subscription
is active): what distributing the period needs to know of it, read by the claim itself
(no statement more per period; without a subscription the outbox reads nothing)."""

_webhook_subscription = tables.table(tables.WebhookSubscription)


def claimed_columns() -> tuple[sa.ColumnElement[Any], ...]:
    """The columns of a :data:`ClaimedRow`, from ``distribution`` joined to its
    ``distributor``."""
    d, r = distribution.c, distributor.c
    subscribed = sa.exists().where(_webhook_subscription.c.status == "active")
    return (d.id, d.distributor_id, d.period_index, d.period_start, d.period_end,
            d.carried_in, r.config_version, r.status, subscribed.label("subscribed"))


def claimed_row(row: Sequence[Any]) -> ClaimedRow:
    return (row[0], row[1], row[2], row[3], row[4], int(row[5]), (row[6], row[7]),
            bool(row[8]))


def _claim_statements() -> dict[bool, sa.Select[Any]]:
    query = (sa.select(*claimed_columns())
             .join(distributor, distributor.c.id == distribution.c.distributor_id)
             .where(distribution.c.id == sa.bindparam("key"), distribution.c.status == "open"))
    return {False: query, True: query.with_for_update(of=distribution)}


_CLAIM = _claim_statements()


def claim_distribution(conn: Connection, distribution_id: int) -> ClaimedRow | None:
    """Lock an open period for distribution, or return ``None`` if someone else has it.

    SQLite write transactions already hold the database's write lock (``BEGIN
    IMMEDIATE``); on PostgreSQL the row is locked ``FOR UPDATE`` (not its distributor's).
    Either way the status is read again under the lock, so a period distributed meanwhile
    is not claimed twice.
    """
    row = conn.execute(_CLAIM[not is_sqlite(conn)], {"key": distribution_id}).first()
    return None if row is None else claimed_row(row)


_CLOSE_PERIOD = distribution.update().where(distribution.c.id == sa.bindparam("key"))


def complete_distribution(conn: Connection, distribution_id: int, *, status: str,
                          pool: int | None, revenue: int | None, reason: str | None,
                          config_version: int, calculator: str | None, now: datetime,
                          carried_out: int = 0) -> None:
    conn.execute(_CLOSE_PERIOD, {
        "key": distribution_id, "status": status, "pool": pool, "revenue": revenue,
        "reason": reason, "config_version": config_version, "calculator": calculator,
        "completed_at": now, "carried_out": carried_out})


def _distribution_query() -> sa.Select[Any]:
    d = distribution
    return (sa.select(d.c.id, distributor.c.external_id, d.c.period_index, d.c.period_start,
                      d.c.period_end, d.c.status, d.c.units, d.c.pool, d.c.revenue,
                      d.c.reason, d.c.config_version, d.c.calculator, d.c.completed_at,
                      d.c.carried_in, d.c.carried_out)
            .join(distributor, distributor.c.id == d.c.distributor_id))


def _to_distribution(r: Sequence[Any]) -> domain.Distribution:
    return domain.Distribution(
        id=r[0], distributor=r[1], period_index=r[2], period_start=r[3], period_end=r[4],
        status=r[5], units=r[6], pool=r[7], revenue=r[8], reason=r[9], config_version=r[10],
        calculator=r[11], completed_at=r[12], carried_in=r[13], carried_out=r[14])


def get_distribution(conn: Connection, distribution_id: int) -> domain.Distribution | None:
    if not 1 <= distribution_id <= KEY_MAX:  # beyond the column's range: no such row
        return None
    row = conn.execute(_distribution_query().where(distribution.c.id == distribution_id)).first()
    return None if row is None else _to_distribution(row)


def list_distributions(conn: Connection, *, distributor_id: str | None = None,
                       status: str | None = None) -> list[domain.Distribution]:
    query = _distribution_query().order_by(distribution.c.period_end, distributor.c.external_id)
    if distributor_id is not None:
        query = query.where(distributor.c.external_id == distributor_id)
    if status is not None:
        query = query.where(distribution.c.status == status)
    return [_to_distribution(row) for row in conn.execute(query)]


# -- metrics ---------------------------------------------------------------------------

_FIND_EVENT = "SELECT id, digest FROM source_event WHERE kind = ? AND key = ?"


class Prelude(NamedTuple):
    """What a single recording reads before it plans, in one statement
    (:func:`recording_prelude`)."""

    existing: tuple[int, str] | None
    """(store id, digest) of the event if its ``(kind, key)`` is recorded already."""
    actor: tuple[int, str] | None
    """(store id, status) of the collaborator asked for, if it exists."""
    stamp: int
    """The distributor stamp (:func:`distributor_stamp_value`)."""
    bindings: bool
    """Whether any distributor is bound to a group (else none needs reading)."""
    subscriptions: bool
    """Whether any webhook subscription is active (else the outbox has nothing to do)."""
    open_periods: dict[int, tuple[datetime, str]]
    """distributor store id → (start, units) of the open period, locked ``FOR SHARE``, of
    the distributors asked for (PostgreSQL; see :func:`open_period_starts`)."""


_PRELUDE = (
    "SELECT e.id, e.digest, c.id, c.status, s.stamp,"
    " EXISTS (SELECT 1 FROM collaborator_group_binding WHERE owner_type = 'distributor'),"
    " EXISTS (SELECT 1 FROM webhook_subscription WHERE status = 'active')"
    " FROM (SELECT 1 AS one) AS one"
    " LEFT JOIN source_event AS e ON e.kind = ? AND e.key = ?"
    " LEFT JOIN collaborator AS c ON c.external_id = ?"
    " LEFT JOIN distributor_stamp AS s ON s.id = 1")

def _prelude_with_periods(sqlite: bool, count: int) -> str:
    """The prelude with the open periods of ``count`` distributors."""
    key = (sqlite, count)
    found = _PRELUDES.get(key)
    if found is None:
        if sqlite:  # its writers are serialized already. One mark a key, and `+status`
            # (no index on that term): SQLite then searches the (distributor_id,
            # period_index) index; else it scans every open period (one a distributor)
            found = ("SELECT x.*, p.distributor_id, p.period_start, p.units"
                     f" FROM ({_PRELUDE}) AS x"
                     " LEFT JOIN distribution AS p ON +p.status = 'open'"
                     f" AND p.distributor_id IN ({', '.join('?' * count)})")
        else:  # locked as open_period_starts locks them (a lateral subquery: FOR SHARE
            # cannot lock the nullable side of an outer join)
            found = ("SELECT x.*, p.distributor_id, p.period_start, p.units"
                     f" FROM ({_PRELUDE.replace('?', '%s')}) AS x"
                     " LEFT JOIN LATERAL (SELECT distributor_id, period_start, units"
                     " FROM distribution WHERE status = 'open' AND distributor_id = ANY(%s)"
                     " FOR SHARE) AS p ON true")
        found = _PRELUDES[key] = found
    return found


_PRELUDES: dict[tuple[bool, int], str] = {}
"""(SQLite?, number of distributors) → the prelude statement with their open periods."""


def recording_prelude(conn: Connection, kind: str, key: str, collaborator_id: str | None,
                      periods_of: Sequence[int] = ()) -> Prelude:
    """The reads every single recording starts with, in one statement (one round trip
    on PostgreSQL): :func:`find_source_event`, the one collaborator's
    :func:`collaborator_keys` (``None``: none asked), :func:`distributor_stamp_value`,
    whether any distributor binding or active webhook subscription exists (so that the
    common recording, with neither, reads neither), and the open periods of the
    distributors ``periods_of``, locked ``FOR SHARE`` on PostgreSQL as
    :func:`open_period_starts` locks them (the caller's guess of the distributors it will
    credit, from its cached catalog: one it missed is looked up after planning)."""
    parameters: list[Any] = [kind, key, collaborator_id]
    if periods_of:
        sqlite = is_sqlite(conn)
        statement = _prelude_with_periods(sqlite, len(periods_of) if sqlite else 0)
        rows = driver_rows(conn, statement, [*parameters, *periods_of] if sqlite
                           else [*parameters, list(periods_of)])
    else:
        rows = driver_rows(conn, marks(conn, _PRELUDE), parameters)
    row = rows[0]
    return Prelude(existing=None if row[0] is None else (row[0], row[1]),
                   actor=None if row[2] is None else (row[2], row[3]),
                   stamp=int(row[4] or 0), bindings=bool(row[5]), subscriptions=bool(row[6]),
                   open_periods={found[7]: (stored_time(found[8]), found[9]) for found in rows
                                 if len(found) > 7 and found[7] is not None})


def find_source_event(conn: Connection, kind: str, key: str) -> tuple[int, str] | None:
    """(store id, digest) of an already recorded source event (the unique index,
    through the driver: every recording asks)."""
    rows = driver_rows(conn, marks(conn, _FIND_EVENT), (kind, key))
    return (rows[0][0], rows[0][1]) if rows else None


def count_credits(conn: Connection, source_event_id: int) -> int:
    query = sa.select(sa.func.count()).where(score_credit.c.source_event_id == source_event_id,
                                             score_credit.c.collaborator_id.is_not(None))
    return int(conn.execute(query).scalar_one())


def count_late_credits(conn: Connection, source_event_id: int) -> int:
    """The event's ``score_credit`` rows marked late (revenue-only rows included)."""
    query = sa.select(sa.func.count()).where(score_credit.c.source_event_id == source_event_id,
                                             score_credit.c.late.is_(True))
    return int(conn.execute(query).scalar_one())


def _insert_ignoring_conflict(conn: Connection, table: sa.Table,
                              unique: list[str]) -> Any:
    return dialect_insert(conn, table).on_conflict_do_nothing(index_elements=unique)




def insert_credits(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(score_credit.insert(), list(rows))


def insert_credit_skips(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """``credit_skip`` rows: (source event, distributor, metric type, reason)."""
    if rows:
        conn.execute(credit_skip.insert(), list(rows))


def credit_skips(conn: Connection, source_event_id: int) -> list[tuple[str, str, str]]:
    """(distributor external id, metric type, reason) of an event's skips, as written."""
    s = credit_skip.c
    query = (sa.select(distributor.c.external_id, s.metric_type, s.reason)
             .join(distributor, distributor.c.id == s.distributor_id)
             .where(s.source_event_id == source_event_id).order_by(s.id))
    return [(row[0], row[1], row[2]) for row in conn.execute(query)]


# -- exact sums ------------------------------------------------------------------------

def sqlite_overflowed(error: sa.exc.OperationalError) -> bool:
    """Whether SQLite refused a ``SUM`` whose total left the signed 64-bit range.

    (PostgreSQL's ``SUM`` of a ``BIGINT`` is a ``NUMERIC`` and never overflows; SQLite
    raises. The callers then sum the rows in Python, exactly; the normal case costs
    nothing.)"""
    return "integer overflow" in str(error.orig)


def sums_by(conn: Connection, key: sa.ColumnElement[Any], value: sa.ColumnElement[Any],
            where: sa.ColumnElement[bool]) -> dict[Any, int]:
    """``SUM(value) GROUP BY key`` over the rows matching ``where``, exact at any size."""
    query = sa.select(key, sa.func.sum(value)).where(where).group_by(key)
    try:
        return {row[0]: int(row[1]) for row in conn.execute(query)}
    except sa.exc.OperationalError as exc:
        if not sqlite_overflowed(exc):
            raise
    totals: dict[Any, int] = {}
    for group, amount in conn.execute(sa.select(key, value).where(where)):
        totals[group] = totals.get(group, 0) + amount
    return totals


def table_counts(conn: Connection) -> dict[str, int]:
    """Row count of every table (used by tests and ``siren doctor``)."""
    return {name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for name, table in tables.metadata.tables.items()}
