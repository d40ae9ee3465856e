"""Statements of metrics ingestion beyond single events: refunds and bulk writes.

Bulk writes are set-based: ``insert_many`` (multi-row ``INSERT`` on SQLite, ``COPY`` on
PostgreSQL) straight through the driver, with the columns' bind processors applied; the
bulk look-ups take all their keys as one parameter (``queries.rows_among``). Nothing here builds
an ORM object per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.engine import is_sqlite
from siren_core.store.queries import (
    binary_copy_types,
    copy_rows,
    credit_skip,
    distribution,
    driver_rows,
    marks,
    rows_among,
    score_credit,
    source_event,
)

sale_refund = cast(sa.Table, tables.SaleRefund.__table__)  # type: ignore[attr-defined]
credit_conversion = tables.table(tables.CreditConversion)


class SaleRow(NamedTuple):
    id: int
    occurred_at: datetime
    amount: int
    currency: str | None
    collaborator_id: int | None


class CreditGroup(NamedTuple):
    """The summed credit rows of one source event sharing who/what/where."""

    distributor_id: int
    collaborator_id: int | None
    metric_type: str
    rule: str
    layer: int
    effective_at: datetime
    points: int
    revenue: int

    @property
    def key(self) -> tuple[int, int | None, str, str, int]:
        return (self.distributor_id, self.collaborator_id, self.metric_type, self.rule,
                self.layer)


def sale_event(conn: Connection, key: str, *, lock: bool = False) -> SaleRow | None:
    """A recorded sale; with ``lock`` its row is locked ``FOR UPDATE`` on PostgreSQL (the
    refunds of one sale take turns; SQLite writers are serialized already)."""
    e = source_event.c
    query = sa.select(e.id, e.occurred_at, e.amount, e.currency, e.collaborator_id).where(
        e.kind == "sale", e.key == key)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else SaleRow(row[0], row[1], row[2] or 0, row[3], row[4])


def refunded_total(conn: Connection, sale_event_id: int) -> int:
    query = sa.select(sa.func.coalesce(sa.func.sum(sale_refund.c.amount), 0)).where(
        sale_refund.c.sale_event_id == sale_event_id)
    return int(conn.execute(query).scalar_one())


def _grouped(where: Any) -> sa.Select[Any]:
    c = score_credit.c
    return (sa.select(c.distributor_id, c.collaborator_id, c.metric_type, c.rule, c.layer,
                      sa.func.min(c.effective_at), sa.func.sum(c.points), sa.func.sum(c.revenue))
            .where(where)
            .group_by(c.distributor_id, c.collaborator_id, c.metric_type, c.rule, c.layer)
            .order_by(c.distributor_id, c.collaborator_id, c.metric_type, c.rule, c.layer))


def sale_credits(conn: Connection, sale_event_id: int) -> list[CreditGroup]:
    """What the sale credited, summed per distributor, collaborator, type, rule and layer."""
    rows = conn.execute(_grouped(score_credit.c.source_event_id == sale_event_id))
    return [CreditGroup(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7]))
            for r in rows]


def reversed_credits(conn: Connection, sale_event_id: int
                     ) -> dict[tuple[int, int | None, str, str, int], tuple[int, int]]:
    """What earlier refunds of the sale reversed (negative sums), by credit group key."""
    refunds = sa.select(sale_refund.c.refund_event_id).where(
        sale_refund.c.sale_event_id == sale_event_id)
    rows = conn.execute(_grouped(score_credit.c.source_event_id.in_(refunds)))
    return {(r[0], r[1], r[2], r[3], r[4]): (int(r[6]), int(r[7])) for r in rows}


def distributed_at(conn: Connection, moments: Mapping[int, datetime]) -> set[int]:
    """The distributors (store ids) whose period holding the given moment is distributed."""
    if not moments:
        return set()
    d = distribution.c
    holds = [sa.and_(d.distributor_id == key, d.period_start <= at, d.period_end > at)
             for key, at in moments.items()]
    query = sa.select(d.distributor_id).where(d.status != "open", sa.or_(*holds))
    return {row[0] for row in conn.execute(query)}


def insert_sale_refund(conn: Connection, refund_event_id: int, sale_event_id: int,
                       amount: int) -> None:
    conn.execute(sale_refund.insert().values(refund_event_id=refund_event_id,
                                             sale_event_id=sale_event_id, amount=amount))


# -- one recording ---------------------------------------------------------------------

def insert_source_event_once(conn: Connection, source: Sequence[Any]) -> int | None:
    """Insert a source event, given as its stored values (the order of
    :data:`SOURCE_EVENT_VALUES`, times through ``queries.store_time``), unless its
    ``(kind, key)`` is taken; its store id, or ``None`` when another transaction recorded
    the key first.

    ``ON CONFLICT DO NOTHING``: on PostgreSQL a concurrent insert of the same key waits
    for the other transaction and then does nothing if it committed, so the caller can
    read the first event (committed, visible to its next statement) instead of failing
    with a unique violation.
    """
    statement = _RECORD_ONCE.get(conn.dialect.name)
    if statement is None:
        statement = _RECORD_ONCE[conn.dialect.name] = marks(conn, (
            f"INSERT INTO source_event ({', '.join(SOURCE_EVENT_VALUES)}) VALUES "
            f"({', '.join('?' * len(SOURCE_EVENT_VALUES))}) ON CONFLICT (kind, key) "
            "DO NOTHING RETURNING id"))
    found = driver_rows(conn, statement, source)
    return int(found[0][0]) if found else None


_RECORD_ONCE: dict[str, str] = {}
"""dialect name → the insert-once statement (built once: a single recording runs it for
every event)."""


def insert_recording(conn: Connection, source: Sequence[Any],
                     credits: Sequence[tuple[Any, ...]], skips: Sequence[dict[str, Any]],
                     conversions: Sequence[dict[str, Any]]) -> int | None:
    """Insert a source event unless its ``(kind, key)`` is taken, with the rows it
    writes beside itself; its store id, or ``None`` (nothing written) when another
    transaction recorded the key first (:func:`insert_source_event_once`).
    ``source``: its stored values, as :func:`insert_source_event_once` takes them;
    ``credits``: tuples of stored values in the order of :data:`CREDIT_VALUES` (as bulk
    ingestion gives them); ``skips`` and ``conversions``: rows by column.

    PostgreSQL: one statement, every insert a data-modifying ``WITH`` that takes the
    event's id from the insert-once (so nothing else is written on a conflict): one round
    trip instead of one a table. SQLite (no round trips): the insert-once, then
    :func:`write_recording`.
    """
    if is_sqlite(conn):
        source_id = insert_source_event_once(conn, source)
        if source_id is not None:
            write_recording(conn, source_id, credits, skips, conversions)
        return source_id
    beside = [(table, tuple(rows[0]), len(rows)) for table, rows in ((credit_skip, skips),
              (credit_conversion, conversions)) if rows]
    if credits:
        beside.insert(0, (score_credit, CREDIT_VALUES, len(credits)))
    shape = tuple((table.name, columns, count) for table, columns, count in beside)
    statement = _RECORDINGS.get(shape)
    if statement is None:
        statement = _RECORDINGS[shape] = _recording_statement(conn, beside)
    values = [*source, *chain.from_iterable(credits)]
    for table, rows in ((credit_skip, skips), (credit_conversion, conversions)):
        if rows:
            values += chain.from_iterable(map(_row_builder(conn, table, tuple(rows[0])), rows))
    found = driver_rows(conn, statement, values)
    return int(found[0][0]) if found else None


def _recording_statement(conn: Connection,
                         beside: Sequence[tuple[sa.Table, tuple[str, ...], int]]) -> str:
    """``WITH e AS (INSERT INTO source_event … ON CONFLICT DO NOTHING RETURNING id),
    t1 AS (INSERT INTO score_credit (…, source_event_id) SELECT v.*, e.id FROM e,
    (VALUES (…), …) AS v), … SELECT id FROM e``; each value cast to its column's type
    (a parameter in ``VALUES`` has none of its own)."""
    quote = conn.dialect.identifier_preparer.quote
    parts = [f"e AS (INSERT INTO source_event ({', '.join(map(quote, SOURCE_EVENT_VALUES))})"
             f" VALUES ({', '.join(['%s'] * len(SOURCE_EVENT_VALUES))}) ON CONFLICT (kind, key)"
             " DO NOTHING RETURNING id)"]
    for number, (table, columns, count) in enumerate(beside):
        casts = ", ".join(f"CAST(%s AS {_cast_type(conn, table.c[name].type)})"
                          for name in columns)
        values = ", ".join([f"({casts})"] * count)
        parts.append(f"t{number} AS (INSERT INTO {quote(table.name)} "
                     f"({', '.join(map(quote, columns))}, source_event_id) "
                     f"SELECT v.*, e.id FROM e, (VALUES {values}) AS v)")
    return f"WITH {', '.join(parts)} SELECT id FROM e"


def _cast_type(conn: Connection, column_type: Any) -> str:
    """The column's SQL type for a cast, without a length (an explicit cast to
    ``VARCHAR(n)`` would cut a longer text where the insert refuses it)."""
    text: str = column_type.compile(dialect=conn.dialect)
    return "VARCHAR" if text.startswith("VARCHAR") else text


_RECORDINGS: dict[tuple[Any, ...], str] = {}
"""The statements of :func:`insert_recording` on PostgreSQL, by the shape of the rows
beside the source event."""


def write_recording(conn: Connection, source_event_id: int,
                    credits: Sequence[tuple[Any, ...]], skips: Sequence[dict[str, Any]],
                    conversions: Sequence[dict[str, Any]]) -> None:
    """The rows one recorded source event writes beside itself, given their store id
    (``credits`` as :func:`insert_recording` takes them): its ``score_credit``,
    ``credit_skip`` and ``credit_conversion`` rows, each table's in one statement through
    the driver (a table without rows runs none)."""
    if credits:
        values: list[Any] = []
        for row in credits:  # (a loop, not a comprehension: a recording's one or two)
            values += row
            values.append(source_event_id)
        _insert_few_values(conn, score_credit, (*CREDIT_VALUES, "source_event_id"),
                           len(credits), values)
    if skips:
        insert_few(conn, credit_skip, [{**row, "source_event_id": source_event_id}
                                       for row in skips])
    if conversions:
        insert_few(conn, credit_conversion, [{**row, "source_event_id": source_event_id}
                                             for row in conversions])


def insert_few(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """A handful of rows (all with the keys of the first) in one multi-row ``INSERT``
    through the driver, stored exactly as :func:`insert_many` stores them (``COPY`` would
    cost more than the rows for a few)."""
    if rows:
        columns = tuple(rows[0])
        _insert_few_values(conn, table, columns, len(rows), list(
            chain.from_iterable(map(_row_builder(conn, table, columns), rows))))


def _insert_few_values(conn: Connection, table: sa.Table, columns: tuple[str, ...],
                       count: int, values: list[Any]) -> None:
    """``count`` rows of stored values (``columns`` order, one flat list) in one
    multi-row ``INSERT`` through the driver."""
    key = (conn.dialect.name, table.name, columns, count)
    statement = _FEW.get(key)
    if statement is None:
        quote = conn.dialect.identifier_preparer.quote
        row = f"({', '.join('?' * len(columns))})"
        statement = _FEW[key] = marks(conn, (
            f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
            f"VALUES {', '.join([row] * count)}"))
    driver_rows(conn, statement, values)


_FEW: dict[tuple[str, str, tuple[str, ...], int], str] = {}
"""The statements of :func:`insert_few`, by dialect, table, columns and row count."""


# -- bulk ------------------------------------------------------------------------------

def existing_events(conn: Connection, kind: str, keys: Iterable[str]) -> dict[str, str]:
    """key → digest of the already recorded source events of ``kind`` among ``keys``."""
    return dict(rows_among(conn, source_event, ["key", "digest"], "key", keys,
                           ("kind", kind)))


def reserve_source_event_ids(conn: Connection, count: int) -> list[int] | None:
    """``count`` fresh ``source_event`` ids for explicit inserts, or ``None`` if this
    database cannot hand them out safely.

    SQLite: the transaction holds the database's write lock (``BEGIN IMMEDIATE``), so the
    ids after the current maximum are ours (what SQLite would pick itself). PostgreSQL:
    drawn from the column's sequence in one statement, safe with concurrent writers.
    """
    if count == 0:
        return []
    if is_sqlite(conn):
        top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(source_event.c.id), 0)))
        first = int(top.scalar_one()) + 1
        return list(range(first, first + count))
    if conn.dialect.name == "postgresql":  # through the driver: plain tuples, not rows
        return [row[0] for row in driver_rows(conn, _NEXT_IDS, (count,))]
    return None


SOURCE_EVENT_VALUES = ("kind", "key", "occurred_at", "recorded_at", "collaborator_id",
                       "amount", "currency", "digest", "payload")
"""The values of a source event row for :func:`insert_source_event_values` (no id)."""
CREDIT_VALUES = ("distributor_id", "metric_type", "rule", "collaborator_id", "layer",
                 "points", "revenue", "late", "effective_at")
"""The values of a credit row for :func:`insert_credit_values` (``source_event_id`` after)."""


_NEXT_IDS = ("WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('source_event', 'id')"
             "::regclass AS seq) SELECT nextval(s.seq) FROM s CROSS JOIN generate_series(1, %s)")
"""The sequence looked up once (written inside ``nextval``, the look-up ran for every id:
25 ms for 10,000 ids against 5 ms, PostgreSQL 15)."""


def insert_source_event_values(conn: Connection, values: Sequence[tuple[Any, ...]]
                               ) -> list[int]:
    """Insert many source events given as tuples of stored values (the order of
    :data:`SOURCE_EVENT_VALUES`, times through :func:`stored_time`); their store ids, in
    the order of ``values``.

    Ids are reserved first and inserted explicitly (:func:`insert_tuples`); where that is
    not possible, one ``INSERT … RETURNING`` each.
    """
    if not values:
        return []
    ids = reserve_source_event_ids(conn, len(values))
    if ids is None:
        return [_insert_returning(conn, row) for row in values]
    insert_tuples(conn, source_event, (*SOURCE_EVENT_VALUES, "id"),
                  [(*row, key) for row, key in zip(values, ids, strict=True)])
    return ids


def _insert_returning(conn: Connection, row: tuple[Any, ...]) -> int:
    quote = conn.dialect.identifier_preparer.quote
    statement = marks(conn, f"INSERT INTO {quote(source_event.name)} "
                            f"({', '.join(map(quote, SOURCE_EVENT_VALUES))}) VALUES "
                            f"({', '.join('?' * len(row))}) RETURNING id")
    return int(driver_rows(conn, statement, row)[0][0])


def insert_credit_values(conn: Connection, values: Sequence[tuple[Any, ...]]) -> None:
    """Many ``score_credit`` rows given as tuples of stored values: the order of
    :data:`CREDIT_VALUES`, then ``source_event_id``."""
    insert_tuples(conn, score_credit, (*CREDIT_VALUES, "source_event_id"), values)


def stored_time(conn: Connection) -> Callable[[datetime], Any]:
    """``convert(instant)``: an aware datetime as the store keeps it, exactly as the
    ``UTCDateTime`` columns' bind processing gives it (the event times of a batch are
    mostly distinct: nothing is remembered)."""
    return _bind(conn, source_event.c.occurred_at.type)


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (all with the keys of the first) by the database's fastest path.

    Each column's bind processor (``UTCDateTime``'s conversion, the dialect's date format)
    is applied to the values, so the rows are stored exactly as
    ``conn.execute(table.insert(), rows)`` would store them; then PostgreSQL (psycopg)
    takes them by ``COPY``, SQLite by multi-row ``INSERT … VALUES (…), (…)`` statements
    (a third fewer microseconds per row than one-row ``executemany``), others by
    ``executemany``.
    """
    if not rows:
        return
    columns = list(rows[0])
    insert_tuples(conn, table, columns, list(map(_row_builder(conn, table, tuple(columns)),
                                                 rows)))


def insert_tuples(conn: Connection, table: sa.Table, columns: Sequence[str],
                  values: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows given as tuples of stored values (``columns`` order, bind processors
    already applied) by the database's fastest path, as :func:`insert_many` does."""
    if not values:
        return
    quote = conn.dialect.identifier_preparer.quote
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        copy_rows(conn, quote(table.name), [quote(name) for name in columns], values,
                  binary_copy_types(table, columns, values))
        return
    target = f"{quote(table.name)} ({', '.join(quote(name) for name in columns)})"
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    row = f"({', '.join([mark] * len(columns))})"
    per = _ROWS_PER_STATEMENT if is_sqlite(conn) else 1
    whole = len(values) - len(values) % per
    if whole:
        statement = f"INSERT INTO {target} VALUES {', '.join([row] * per)}"
        conn.exec_driver_sql(statement, [tuple(chain.from_iterable(values[start:start + per]))
                                         for start in range(0, whole, per)])
    if whole < len(values):
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES {row}", values[whole:])


_ROWS_PER_STATEMENT = 200  # 200 rows x ~10 columns: far under SQLite's 32,766 parameters


_BUILDERS: dict[tuple[str, str, tuple[str, ...]], Callable[[Mapping[str, Any]], tuple[Any, ...]]
                ] = {}


def _row_builder(conn: Connection, table: sa.Table, columns: tuple[str, ...]
                 ) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``build(row)``: the row's values in ``columns`` order, each through its column's
    bind processor, as one generated expression (it runs for every row of a bulk write)."""
    key = (conn.dialect.name, table.name, columns)
    if key not in _BUILDERS:
        scope: dict[str, Any] = {}
        values = []
        for index, name in enumerate(columns):
            if _processor(conn, table.c[name].type) is None:
                values.append(f"row[{name!r}]")
            else:
                scope[f"convert{index}"] = _memoized(conn, table.c[name].type)
                values.append(f"convert{index}(row[{name!r}])")
        source = f"def build(row):\n    return ({', '.join(values)},)"
        exec(compile(source, f"<siren row builder {table.name}>", "exec"), scope)
        _BUILDERS[key] = scope["build"]
    return _BUILDERS[key]


def _processor(conn: Connection, column_type: Any) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = column_type.dialect_impl(
        conn.dialect).bind_processor(conn.dialect)
    return processor


_MEMOS: dict[tuple[str, str], tuple[Callable[[Any], Any], dict[Any, Any]]] = {}


def _memoized(conn: Connection, column_type: Any) -> Callable[[Any], Any]:
    """The column type's bind processor, remembering its results (bounded).

    A batch repeats its instants (an event's time is its credits' ``effective_at``; every
    row of a batch has the same ``recorded_at``), so most conversions are look-ups. The
    memory is shared by columns of the same type on the same dialect: bind processors are
    pure functions of the value, and equal values convert equally.
    """
    key = (conn.dialect.name, repr(column_type))
    if key not in _MEMOS:
        _MEMOS[key] = (_bind(conn, column_type), {})
    processor, memo = _MEMOS[key]

    def convert(value: Any) -> Any:
        try:
            found = memo.get(value, memo)  # (the memory itself: "not there")
        except TypeError:  # unhashable
            return processor(value)
        if found is memo:
            if len(memo) >= 100_000:
                memo.clear()
            found = memo[value] = processor(value)
        return found
    return convert


def _bind(conn: Connection, column_type: Any) -> Callable[[Any], Any]:
    """The column type's bind processor (one that has one), in one step for a plain UTC
    datetime on SQLite."""
    processor = _processor(conn, column_type)
    assert processor is not None
    if is_sqlite(conn) and isinstance(column_type, tables.UTCDateTime):
        return _sqlite_utc_text(processor)
    return processor


def _sqlite_utc_text(general: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``UTCDateTime``'s bind processor on SQLite, in one step for the common value (a
    plain UTC datetime): what the processor chain gives, ``YYYY-MM-DD HH:MM:SS.ffffff``
    (its ISO text without the ``+00:00``; ``replace(tzinfo=None)`` would cost more)."""
    def convert(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC:
            return value.isoformat(" ", "microseconds")[:-6]
        return general(value)
    return convert
