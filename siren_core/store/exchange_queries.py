"""Exchange rates and the conversions made with them (docs/currencies.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.records import ExchangeRate
from siren_core.store import tables
from siren_core.store.engine import dialect_insert
from siren_core.store.metrics_queries import insert_many

exchange_rate = tables.table(tables.ExchangeRate)
credit_conversion = tables.table(tables.CreditConversion)


class SaleConversion(NamedTuple):
    """The rate a sale was converted at for one distributor and metric type."""

    base: str
    quote: str
    rate: str
    provider: str


def _rate(row: Any) -> ExchangeRate:
    return ExchangeRate(row.base, row.quote, Decimal(row.rate), row.valid_from)


def pair_rates(conn: Connection, base: str, quote: str) -> list[ExchangeRate]:
    """Every stored rate of one pair, oldest ``since`` first."""
    r = exchange_rate.c
    query = (sa.select(r.base, r.quote, r.rate, r.valid_from)
             .where(r.base == base, r.quote == quote).order_by(r.valid_from))
    return [_rate(row) for row in conn.execute(query)]


def list_rates(conn: Connection, *, base: str | None = None,
               quote: str | None = None) -> list[ExchangeRate]:
    """The stored rates, by pair then ``since``; optionally of one base and/or quote."""
    r = exchange_rate.c
    query = sa.select(r.base, r.quote, r.rate, r.valid_from).order_by(
        r.base, r.quote, r.valid_from)
    if base is not None:
        query = query.where(r.base == base)
    if quote is not None:
        query = query.where(r.quote == quote)
    return [_rate(row) for row in conn.execute(query)]


def set_rate(conn: Connection, base: str, quote: str, since: datetime, rate: str,
             now: datetime) -> str | None:
    """Store a pair's rate from ``since``, replacing the one stored from that instant (one
    upsert: two writers setting the same rate at once do not collide); the rate text it
    replaced, if any."""
    r = exchange_rate.c
    previous = conn.execute(sa.select(r.rate).where(
        r.base == base, r.quote == quote, r.valid_from == since)).scalar_one_or_none()
    statement = dialect_insert(conn, exchange_rate).values(
        base=base, quote=quote, valid_from=since, rate=rate, created_at=now, updated_at=now)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["base", "quote", "valid_from"],
        set_={"rate": statement.excluded.rate, "updated_at": statement.excluded.updated_at}))
    return None if previous is None else str(previous)


def insert_conversions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """``credit_conversion`` rows (nothing is run for none: same-currency events)."""
    insert_many(conn, credit_conversion, rows)


def sale_conversions(conn: Connection, sale_event_id: int
                     ) -> dict[tuple[int, str], SaleConversion]:
    """(distributor, metric type) → the rate a recorded sale was converted at."""
    c = credit_conversion.c
    query = sa.select(c.distributor_id, c.metric_type, c.base, c.quote, c.rate,
                      c.provider).where(c.source_event_id == sale_event_id)
    return {(row[0], row[1]): SaleConversion(*row[2:]) for row in conn.execute(query)}
