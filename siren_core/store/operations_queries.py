"""What an operator reads: the failures of periods that would not distribute, a
collaborator's score credits with the source events behind them, and the credits that
explain an allocation, the obligations a distributor issued. Read-only, except
:func:`record_failure`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store.exchange_queries import credit_conversion
from siren_core.store.queries import (
    allocation,
    collaborator,
    distribution,
    distributor,
    obligation,
    score_credit,
    source_event,
)
from siren_core.store.tables import LAST_ERROR_LENGTH


@attrs.frozen
class PeriodFailure:
    """A period whose distribution failed (and was rolled back) ``failures`` times."""

    distribution_id: int
    distributor: str
    period_start: datetime
    period_end: datetime
    status: str
    failures: int
    last_error: str | None
    last_failed_at: datetime | None


@attrs.frozen
class CreditLine:
    """One score credit and the source event that made it."""

    id: int
    collaborator: str
    distributor: str
    metric_type: str
    rule: str
    layer: int
    points: int
    revenue: int
    units: str | None
    """The currency of ``revenue``: the source event's, or the distributor's units the
    event was converted into."""
    effective_at: datetime
    late: bool
    event_type: str
    event_id: str
    event_at: datetime
    rate: str | None = None
    """The exchange rate the event's money was converted at (``None``: not converted);
    1 ``original_units`` = ``rate`` ``units``."""
    original_amount: int | None = None
    """The event's own amount, in minor units of ``original_units`` (converted events)."""
    original_units: str | None = None


def record_failure(conn: Connection, distribution_id: int, error: str, now: datetime) -> int:
    """Count one more failed attempt of a period, keeping its error; the new count."""
    d = distribution
    conn.execute(sa.update(d).where(d.c.id == distribution_id).values(
        failures=d.c.failures + 1, last_error=error[:LAST_ERROR_LENGTH], last_failed_at=now))
    return int(conn.execute(sa.select(d.c.failures).where(d.c.id == distribution_id))
               .scalar_one())


def period_failures(conn: Connection, *, open_only: bool = False,
                    distribution_ids: list[int] | None = None) -> list[PeriodFailure]:
    """Periods that failed at least once (``open_only``: still not distributed)."""
    d = distribution
    query = (sa.select(d.c.id, distributor.c.external_id, d.c.period_start, d.c.period_end,
                       d.c.status, d.c.failures, d.c.last_error, d.c.last_failed_at)
             .join(distributor, distributor.c.id == d.c.distributor_id)
             .where(d.c.failures > 0).order_by(d.c.period_end, distributor.c.external_id))
    if open_only:
        query = query.where(d.c.status == "open")
    if distribution_ids is not None:
        query = query.where(d.c.id.in_(distribution_ids))
    return [PeriodFailure(*row) for row in conn.execute(query)]


def _credit_query() -> sa.Select[Any]:
    c, e, x = score_credit, source_event, credit_conversion
    return (sa.select(c.c.id, collaborator.c.external_id, distributor.c.external_id,
                      c.c.metric_type, c.c.rule, c.c.layer, c.c.points, c.c.revenue,
                      sa.func.coalesce(x.c.quote, e.c.currency), c.c.effective_at, c.c.late,
                      e.c.kind, e.c.key, e.c.occurred_at, x.c.rate, x.c.amount, x.c.base)
            .join(e, e.c.id == c.c.source_event_id)
            .outerjoin(x, sa.and_(x.c.source_event_id == c.c.source_event_id,
                                  x.c.distributor_id == c.c.distributor_id,
                                  x.c.metric_type == c.c.metric_type))
            .join(distributor, distributor.c.id == c.c.distributor_id)
            .join(collaborator, collaborator.c.id == c.c.collaborator_id)
            .order_by(c.c.effective_at, c.c.id))


def _lines(conn: Connection, query: sa.Select[Any]) -> list[CreditLine]:
    return [CreditLine(id=r[0], collaborator=r[1], distributor=r[2], metric_type=r[3],
                       rule=r[4], layer=r[5], points=r[6], revenue=r[7], units=r[8],
                       effective_at=r[9], late=bool(r[10]), event_type=r[11], event_id=r[12],
                       event_at=r[13], rate=r[14], original_amount=r[15], original_units=r[16])
            for r in conn.execute(query)]


def collaborator_credits(conn: Connection, collaborator_id: str, *,
                         distributor_id: str | None = None) -> list[CreditLine]:
    """Every score credit of a collaborator, oldest first."""
    query = _credit_query().where(collaborator.c.external_id == collaborator_id)
    if distributor_id is not None:
        query = query.where(distributor.c.external_id == distributor_id)
    return _lines(conn, query)


def allocation_credits(conn: Connection, distribution_id: int) -> list[CreditLine]:
    """The credits counted in a distribution's window by the collaborators it allocated
    to (what their scores were summed from)."""
    d, a, c = distribution, allocation, score_credit
    allocated = sa.select(a.c.collaborator_id).where(a.c.distribution_id == distribution_id)
    query = (_credit_query()
             .join(d, sa.and_(d.c.id == distribution_id, d.c.distributor_id == c.c.distributor_id,
                              c.c.effective_at >= d.c.period_start,
                              c.c.effective_at < d.c.period_end))
             .where(c.c.collaborator_id.in_(allocated)))
    return _lines(conn, query)


def distributor_obligation_ids(conn: Connection, distributor_id: str) -> set[int]:
    """The obligations issued by the distributions of a distributor."""
    o, a, d = obligation, allocation, distribution
    query = (sa.select(o.c.id)
             .join(a, sa.and_(o.c.source == "allocation", o.c.source_id == a.c.id))
             .join(d, d.c.id == a.c.distribution_id)
             .join(distributor, distributor.c.id == d.c.distributor_id)
             .where(distributor.c.external_id == distributor_id))
    return {row[0] for row in conn.execute(query)}
