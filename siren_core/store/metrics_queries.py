"""Statements of metrics ingestion beyond single events: refunds and bulk writes.

Bulk writes are set-based: ``executemany`` (SQLAlchemy's *insertmanyvalues* batches many
rows per statement, with ``RETURNING`` where ids are needed); lookups go in chunks of
``IN (…)``. Nothing here builds an ORM object per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.engine import is_sqlite
from siren_core.store.queries import collaborator, distribution, score_credit, source_event

sale_refund = cast(sa.Table, tables.SaleRefund.__table__)  # type: ignore[attr-defined]

_CHUNK = 5_000  # well under the bind-parameter limits of SQLite (32,766) and PostgreSQL


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


def sale_event(conn: Connection, key: str) -> SaleRow | None:
    e = source_event.c
    row = conn.execute(sa.select(e.id, e.occurred_at, e.amount, e.currency, e.collaborator_id)
                       .where(e.kind == "sale", e.key == key)).first()
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


# -- bulk ------------------------------------------------------------------------------

def existing_events(conn: Connection, kind: str, keys: Iterable[str]) -> dict[str, str]:
    """key → digest of the already recorded source events of ``kind`` among ``keys``."""
    wanted = sorted(set(keys))
    found: dict[str, str] = {}
    e = source_event.c
    for start in range(0, len(wanted), _CHUNK):
        query = sa.select(e.key, e.digest).where(e.kind == kind,
                                                 e.key.in_(wanted[start:start + _CHUNK]))
        found.update({row[0]: row[1] for row in conn.execute(query)})
    return found


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
    if conn.dialect.name == "postgresql":
        query = sa.text("SELECT nextval(pg_get_serial_sequence('source_event', 'id')) "
                        "FROM generate_series(1, :count)")
        return [int(row[0]) for row in conn.execute(query, {"count": count})]
    return None


def collaborator_keys(conn: Connection, external_ids: Iterable[str]
                      ) -> dict[str, tuple[int, str]]:
    """external id → (store id, status): ``queries.collaborator_keys`` in larger chunks."""
    wanted = sorted(set(external_ids))
    found: dict[str, tuple[int, str]] = {}
    c = collaborator.c
    for start in range(0, len(wanted), _CHUNK):
        query = sa.select(c.external_id, c.id, c.status).where(
            c.external_id.in_(wanted[start:start + _CHUNK]))
        found.update({row[0]: (row[1], row[2]) for row in conn.execute(query)})
    return found


def insert_source_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert many source events; their store ids, in the order of ``rows``.

    Ids are reserved first and inserted explicitly (one plain ``executemany``); where that
    is not possible, ``INSERT … RETURNING`` in parameter order.
    """
    if not rows:
        return []
    ids = reserve_source_event_ids(conn, len(rows))
    if ids is None:
        statement = source_event.insert().returning(source_event.c.id,
                                                    sort_by_parameter_order=True)
        return [row[0] for row in conn.execute(statement, list(rows))]
    insert_many(conn, source_event, [{**row, "id": key} for row, key in zip(rows, ids,
                                                                          strict=True)])
    return ids


def insert_credits(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many ``score_credit`` rows, all with the same keys."""
    insert_many(conn, score_credit, rows)


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``executemany`` of one ``INSERT`` straight through the driver.

    The statement is compiled once and each column's bind processor (``UTCDateTime``'s
    conversion, the dialect's date format) is applied to the values, so the rows are
    stored exactly as ``conn.execute(table.insert(), rows)`` would store them, without
    its per-row parameter processing. Every row must have the keys of the first.
    """
    if not rows:
        return
    columns = list(rows[0])
    compiled = table.insert().values({name: sa.bindparam(name) for name in columns}).compile(
        dialect=conn.dialect)
    positional = conn.dialect.positional
    order = [str(name) for name in compiled.positiontup or ()] if positional else columns
    getter = itemgetter(*order)
    converters = [(index, _memoized(conn, table.c[name].type)) for index, name in enumerate(order)
                  if _processor(conn, table.c[name].type) is not None]
    values: list[Any] = []
    for row in rows:
        found = getter(row)
        if converters:
            found = list(found) if len(order) > 1 else [found]
            for index, convert in converters:
                found[index] = convert(found[index])
        values.append(tuple(found) if positional else dict(zip(order, found, strict=True)))
    conn.exec_driver_sql(str(compiled), values)


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
        processor = _processor(conn, column_type)
        assert processor is not None
        _MEMOS[key] = (processor, {})
    processor, memo = _MEMOS[key]

    def convert(value: Any) -> Any:
        try:
            return memo[value]
        except KeyError:
            if len(memo) >= 100_000:
                memo.clear()
            result = memo[value] = processor(value)
            return result
        except TypeError:  # unhashable
            return processor(value)
    return convert
