"""Refunds: a refund names its sale and takes back (part of) what the sale credited.

``kernel.record("refund", {"id": "r-1", "at": ..., "sale": "o-1", "amount": "120.00"})``;
without ``amount`` the whole remaining amount of the sale is refunded. ``("refund", id)``
is the idempotency key, as for every source event.

For each distributor the sale credited, the refund writes negative ``score_credit`` rows
(points and revenue, per collaborator, metric type, rule and layer):

* if the period holding the sale's credit is not distributed yet, with the sale's own
  ``effective_at``: the sale's period simply counts less;
* if it was distributed, as the distributor's ``late_events`` says (a distributed period
  and its allocations never change):

  - ``next_period`` (the default): in the distributor's open period (``effective_at`` =
    the later of the refund's time and the open period's start, ``late`` = true). The
    negative credit offsets the collaborator's points and the distributor's revenue in
    that period only; both are clamped at 0 when the period is distributed (nothing is
    carried further);
  - ``reject``: nothing is taken back at that distributor (what the closed period paid
    stands, and the open period is not charged for it); a ``credit_skip`` row with reason
    ``late_rejected`` is written per distributor and metric type instead, and the refund's
    result lists it. The refund itself is recorded (its amount counts against the sale,
    and other distributors reverse their share). Reversals are cumulative: should the
    distributor later switch to ``next_period``, its next reversal of that sale also
    takes back what the rejected ones left.

``RecordResult.late`` counts the late reversal rows and the ``late_rejected`` skips.

Partial refunds reverse pro rata, exactly: after refunds totalling ``R`` of a sale of
amount ``A``, a credit of ``p`` points has been reversed by ``R × p // A`` in total, so a
full refund reverses exactly what the sale gave. Refunding more than remains is an error.

A sale converted into a distributor's units (docs/currencies.md) is reversed the same way,
from its converted credits: a refund takes back at the *sale's* rate, whatever the rate
is on the refund's day. Its ``credit_conversion`` rows repeat the sale's rate and provider
with the refund's amount.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import attrs

from siren_core import outbox
from siren_core.catalog import Catalog
from siren_core.domain import CreditSkipped, RecordResult, check_identifier
from siren_core.errors import Conflict, InvalidInput
from siren_core.events import EventBus, MetricsTriggered
from siren_core.metrics.exchange import Conversion
from siren_core.metrics.shapes import Shapes
from siren_core.money import Currency, currency, format_minor, plain_text, to_minor
from siren_core.records import Metric
from siren_core.store import Connection, Engine, queries, unit_of_work
from siren_core.store import exchange_queries as xq
from siren_core.store import metrics_queries as mq

LATE_REJECTED = "late_rejected"
"""The skip reason of what a distributor whose ``late_events`` is ``reject`` refused."""

REFUND = "refund"
"""The source event type of refunds (reserved: no trigger strategy may use it)."""


@attrs.frozen
class Refund:
    """A refund of (part of) a recorded sale; ``amount`` in major units, default all left."""

    id: str
    at: datetime
    sale: str
    amount: Decimal | None = None
    currency: str | None = None
    reason: str = ""


class ParsedRefund(NamedTuple):
    refund: Refund
    digest: str
    payload: str



def recorded_result(conn: Connection, kind: str, external_id: str, digest: str,
                    existing: tuple[int, str]) -> RecordResult:
    """What recording ``(kind, external_id)`` gave the first time (``existing``: its store
    id and digest), answered to a repeat; other content under the same key is a
    :class:`Conflict`. Shared by events and refunds."""
    key, first_digest = existing
    if first_digest != digest:
        raise Conflict(f"{kind} {external_id!r} was already recorded with other content")
    skipped = tuple(CreditSkipped(*row) for row in queries.credit_skips(conn, key))
    late = queries.count_late_credits(conn, key) + sum(
        1 for skip in skipped if skip.reason == LATE_REJECTED)
    return RecordResult(kind, external_id, queries.count_credits(conn, key), duplicate=True,
                        skipped=skipped, late=late, source_event_id=key)

class Refunds:
    def __init__(self, engine: Engine, shapes: Shapes, bus: EventBus,
                 clock: Callable[[], datetime], catalog: Catalog) -> None:
        self._engine = engine
        self._catalog = catalog
        self._shapes = shapes
        self._bus = bus
        self._clock = clock

    def parse(self, payload: Mapping[str, Any] | Refund) -> ParsedRefund:
        refund = self._shapes.structure(payload, Refund, prefix=REFUND)
        check_identifier("refund.id", refund.id)
        return ParsedRefund(refund, *self._shapes.digest(refund))

    def record(self, payload: Mapping[str, Any] | Refund) -> RecordResult:
        parsed = self.parse(payload)
        with unit_of_work(self._engine) as conn:
            result, metric = self.write(conn, parsed)
            announce = [] if metric is None else [MetricsTriggered(
                strategy_id=REFUND, source_event_id=result.event_id, metrics=(metric,))]
            outbox.record(conn, announce)
        self._bus.dispatch_all(announce)
        return result

    def write(self, conn: Connection, parsed: ParsedRefund) -> tuple[RecordResult, Metric | None]:
        """Write one refund in ``conn``'s transaction; the metric to announce (or ``None``)."""
        refund = parsed.refund
        first = self._first_result(conn, parsed)
        if first is not None:
            return first, None
        # The sale's row is locked (PostgreSQL; SQLite writers are serialized already)
        # before what was refunded is read: concurrent refunds of one sale take turns,
        # and each sees what the ones before it took back.
        sale = self._sale(conn, refund)
        first = self._first_result(conn, parsed)  # the same refund, committed meanwhile
        if first is not None:
            return first, None
        unit = currency(sale.currency or "POINTS", field="refund.currency")
        refunded = mq.refunded_total(conn, sale.id)
        amount = self._amount(refund, unit, sale.amount - refunded)
        rows, skips, skipped = self._reversals(conn, refund, sale.id, refunded + amount,
                                               sale.amount)
        source_id = mq.insert_source_event_once(conn, (  # mq.SOURCE_EVENT_VALUES
            REFUND, refund.id, queries.store_time(conn, refund.at),
            queries.store_time(conn, self._clock()), sale.collaborator_id, amount, unit.code,
            parsed.digest, parsed.payload))
        if source_id is None:  # recorded concurrently under another sale's lock
            first = self._first_result(conn, parsed)
            assert first is not None
            return first, None
        mq.insert_sale_refund(conn, source_id, sale.id, amount)
        queries.insert_credits(conn, [{**row, "source_event_id": source_id} for row in rows])
        xq.insert_conversions(conn, [{**row, "source_event_id": source_id}
                                     for row in _conversions(conn, sale.id, rows, amount)])
        queries.insert_credit_skips(conn, [{**skip, "source_event_id": source_id}
                                           for skip in skips])
        credits = sum(1 for row in rows if row["collaborator_id"] is not None)
        return (RecordResult(REFUND, refund.id, credits, skipped=skipped,
                             late=sum(1 for row in rows if row["late"]) + len(skips),
                             source_event_id=source_id),
                Metric(metric_type=REFUND, collaborator=None, amount=amount, currency=unit))

    @staticmethod
    def _first_result(conn: Connection, parsed: ParsedRefund) -> RecordResult | None:
        """The result of the refund's first recording, if its id is recorded already."""
        existing = queries.find_source_event(conn, REFUND, parsed.refund.id)
        if existing is None:
            return None
        return recorded_result(conn, REFUND, parsed.refund.id, parsed.digest, existing)

    @staticmethod
    def _sale(conn: Connection, refund: Refund) -> mq.SaleRow:
        sale = mq.sale_event(conn, refund.sale, lock=True)
        if sale is None:
            raise InvalidInput("refund.sale", refund.sale, "is not a recorded sale")
        if refund.at < sale.occurred_at:
            raise InvalidInput("refund.at", refund.at.isoformat(),
                               f"is before the sale it refunds ({sale.occurred_at.isoformat()})")
        if refund.currency is not None and refund.currency != sale.currency:
            raise InvalidInput("refund.currency", refund.currency,
                               f"differs from the sale's currency {sale.currency!r}")
        return sale

    @staticmethod
    def _amount(refund: Refund, unit: Currency, remaining: int) -> int:
        if remaining <= 0:
            raise InvalidInput("refund.sale", refund.sale, "is already fully refunded")
        if refund.amount is None:
            return remaining
        amount = to_minor(plain_text(refund.amount), unit, field="refund.amount")
        if amount == 0:
            raise InvalidInput("refund.amount", str(refund.amount), "must be more than 0")
        if amount > remaining:
            raise InvalidInput("refund.amount", str(refund.amount),
                               f"exceeds what remains of sale {refund.sale!r} "
                               f"({format_minor(remaining, unit)} {unit.code})")
        return amount

    def _rejecting(self, conn: Connection) -> dict[int, str]:
        """The distributors whose ``late_events`` is ``reject`` (store key → id)."""
        return {d.key: d.spec.id for d in self._catalog.all(conn)
                if d.spec.late_events == "reject"}

    def _reversals(self, conn: Connection, refund: Refund, sale_id: int, cumulative: int,
                   sale_amount: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                              tuple[CreditSkipped, ...]]:
        """The reversal rows, and the ``late_rejected`` skips (as rows and as results) of
        the distributors whose ``late_events`` refuses a reversal in a distributed period."""
        groups = mq.sale_credits(conn, sale_id)
        done = mq.reversed_credits(conn, sale_id)
        keys = sorted({group.distributor_id for group in groups})
        starts = queries.open_period_starts(conn, keys, lock=True)
        closed = mq.distributed_at(conn, {g.distributor_id: g.effective_at for g in groups})
        rejecting = self._rejecting(conn) if closed else {}
        rows: list[dict[str, Any]] = []
        skips: list[dict[str, Any]] = []
        for group in groups:
            points_done, revenue_done = done.get(group.key, (0, 0))
            points = cumulative * group.points // sale_amount + points_done
            revenue = cumulative * group.revenue // sale_amount + revenue_done
            if not points and not revenue:
                continue
            late = group.distributor_id in closed
            if late:
                start = starts.get(group.distributor_id)
                if start is None:  # no open period (distributor deleted): nothing to book
                    continue
                if group.distributor_id in rejecting:
                    skip = {"distributor_id": group.distributor_id,
                            "metric_type": group.metric_type, "reason": LATE_REJECTED}
                    if skip not in skips:
                        skips.append(skip)
                    continue
                effective_at = max(refund.at, start)
            else:
                effective_at = group.effective_at
            rows.append({"distributor_id": group.distributor_id,
                         "collaborator_id": group.collaborator_id,
                         "metric_type": group.metric_type, "rule": group.rule,
                         "layer": group.layer, "points": -points, "revenue": -revenue,
                         "effective_at": effective_at, "late": late})
        skipped = tuple(CreditSkipped(rejecting[skip["distributor_id"]], skip["metric_type"],
                                      skip["reason"]) for skip in skips)
        return rows, skips, skipped


def _conversions(conn: Connection, sale_id: int, rows: list[dict[str, Any]],
                 amount: int) -> list[dict[str, Any]]:
    """The ``credit_conversion`` rows of a refund of ``amount``: the rate its sale was
    converted at, per distributor and metric type it reverses."""
    rates = xq.sale_conversions(conn, sale_id)
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["distributor_id"], row["metric_type"])
        sale_rate = rates.get(key)
        if sale_rate is not None and key not in found:
            conversion = Conversion(currency(sale_rate.base), currency(sale_rate.quote),
                                    Decimal(sale_rate.rate), sale_rate.provider)
            found[key] = conversion.row(*key, amount)
    return list(found.values())
