"""Bulk ingestion: many source events, written set-based, one transaction per batch.

``kernel.record_many(events)`` takes an iterable of ``{"type": ..., ...}`` dictionaries
(``type`` is the trigger strategy id, or ``refund``; the other keys are the event as
``kernel.record`` takes it) and returns a :class:`BulkReport`. Events are read in batches
(10,000 by default); each batch is validated event by event, then written in one
transaction: existing idempotency keys are looked up in one query, collaborators
likewise, and the source events and their score credits are inserted by the database's
bulk path (multi-row ``INSERT`` on SQLite, ``COPY`` on PostgreSQL; never an ORM object
per row). A bad event is rejected with its position and reason and rejects only itself;
an id seen before (earlier in the input or in the store) with the same content is
counted as a duplicate, with other content it is rejected as a conflict. Refunds in a
batch are written after the batch's other events, so a refund may follow its sale in the
same batch; refunds are written one by one, so a batch's transaction stops taking them
after about a second and the rest go in further transactions (a batch of many refunds
is several transactions; each is all-or-nothing, and sending the batch again records only
what is missing). ``MetricsTriggered`` fires for every inserted event after its batch commits.
Python's cyclic garbage collector is paused while a batch is parsed and written (see
:func:`siren_core.collector.paused`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import partial
from itertools import islice
from typing import Any, NamedTuple

import attrs

from siren_core import collector, outbox
from siren_core.catalog import Catalog
from siren_core.errors import ConfigurationChanged, Conflict, InvalidInput, PluginError
from siren_core.events import EventBus, MetricsTriggered
from siren_core.metrics import DEFAULT_BATCH_SIZE
from siren_core.metrics.ingest import (
    CreditRow,
    Ingestor,
    ParsedEvent,
    _CreditPlanner,
    place_credit_rows,
    plan_credits,
    source_values,
)
from siren_core.metrics.refunds import LATE_REJECTED, REFUND, ParsedRefund
from siren_core.metrics.reports import BulkReport, Rejection
from siren_core.plugins import PluginRegistry
from siren_core.store import (
    Connection,
    Engine,
    IntegrityError,
    OperationalError,
    is_retryable,
    is_sqlite,
    queries,
    unit_of_work,
)
from siren_core.store import exchange_queries as xq
from siren_core.store import metrics_queries as mq


@attrs.define
class _Tally:
    """A :class:`BulkReport` while the ingestion runs (its lists grow batch by batch)."""

    inserted: int = 0
    duplicates: int = 0
    credits: int = 0
    skipped: int = 0
    late: int = 0
    late_positions: list[int] = attrs.Factory(list)
    rejected: list[Rejection] = attrs.Factory(list)

    def add(self, other: _Tally) -> None:
        """Count ``other`` (a committed transaction's tally) in this one."""
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.credits += other.credits
        self.skipped += other.skipped
        self.late += other.late
        self.late_positions.extend(other.late_positions)
        self.rejected.extend(other.rejected)

    def report(self) -> BulkReport:
        return BulkReport(self.inserted, self.duplicates, self.credits, self.skipped,
                          self.late, tuple(sorted(self.late_positions)),
                          tuple(sorted(self.rejected, key=lambda r: r.position)))


class _Item(NamedTuple):
    """One validated event of a batch (built by :data:`_item`: there are many)."""

    position: int
    kind: str
    parsed: ParsedEvent | ParsedRefund
    key: str


_item: Callable[[tuple[int, str, ParsedEvent | ParsedRefund, str]], _Item] = partial(
    tuple.__new__, _Item)
"""``_Item`` of its four values without the Python call of its ``__new__``."""


class BulkIngestor:
    def __init__(self, engine: Engine, registry: PluginRegistry, catalog: Catalog,
                 ingestor: Ingestor, bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._registry = registry
        self._catalog = catalog
        self._ingestor = ingestor
        self._bus = bus
        self._clock = clock

    def ingest(self, numbered: Iterable[tuple[int, Any]], *,
               batch_size: int = DEFAULT_BATCH_SIZE,
               progress: Callable[[int], None] | None = None) -> BulkReport:
        """Record ``(position, event)`` pairs; an event may be an ``InvalidInput`` to reject."""
        if batch_size < 1:
            raise InvalidInput("batch_size", batch_size, "must be at least 1")
        report = _Tally()
        for batch in _batches(numbered, batch_size):
            with collector.paused():
                announce = self._ingest_batch(batch, report)
            self._bus.dispatch_all(announce)
            if progress is not None:
                progress(len(batch))
        return report.report()

    def _ingest_batch(self, batch: list[tuple[int, Any]],
                      report: _Tally) -> list[MetricsTriggered]:
        """Parse and write one batch; its parsed events are freed on return, before the
        collector is back (else its first run would take them all for survivors)."""
        return self._write_batch(self._parse(batch, report), report)

    # -- validation (nothing written) ---------------------------------------------------

    def _parse(self, batch: list[tuple[int, Any]], report: _Tally) -> list[_Item]:
        """Validate a batch; duplicates within it are counted (earlier batches are in the
        store by then, and found there)."""
        items = []
        seen: dict[tuple[str, str], str] = {}
        parse_one = self._parse_one
        for position, raw in batch:
            try:
                item = parse_one(position, raw)
            except InvalidInput as exc:
                report.rejected.append(_rejection(position, raw, exc))
                continue
            except PluginError as exc:
                kind = raw.get("type") if isinstance(raw, Mapping) else None
                report.rejected.append(Rejection(position, kind, _id_of(raw), "type", kind,
                                                 f"could not be processed: {exc}"))
                continue
            identity = (item.kind, item.key)
            first = seen.get(identity)
            if first is not None:
                if first == item.parsed.digest:
                    report.duplicates += 1
                else:
                    report.rejected.append(_conflict(item))
                continue
            seen[identity] = item.parsed.digest
            items.append(item)
        return items

    def _parse_one(self, position: int, raw: Any) -> _Item:
        if type(raw) is not dict:  # the common case skips the slower checks below
            if isinstance(raw, InvalidInput):
                raise raw
            if not isinstance(raw, Mapping):
                raise InvalidInput("event", raw, "is not an object with a 'type' key")
        body = dict(raw)
        kind = body.pop("type", None)
        if not isinstance(kind, str):
            raise InvalidInput("type", kind, "is required (a trigger strategy id or 'refund')")
        if kind == REFUND:
            refund = self._ingestor.refunds.parse(body)
            return _item((position, kind, refund, refund.refund.id))
        parsed = self._ingestor.parse(kind, body)
        return _item((position, kind, parsed, parsed.event.id))

    # -- writing ---------------------------------------------------------------------------

    def _write_batch(self, items: list[_Item], report: _Tally) -> list[MetricsTriggered]:
        """Write one batch: its events and as many refunds as fit in the lock budget in one
        transaction, the remaining refunds in further transactions (see
        :data:`_LOCK_BUDGET_S`)."""
        announce: list[MetricsTriggered] = []
        pending = items
        while pending:
            if pending is not items and is_sqlite(self._engine):
                time.sleep(_SQLITE_TURN_S)
            written, pending = self._write_retrying(pending, report)
            announce += written
        return announce

    def _write_retrying(self, items: list[_Item], report: _Tally
                        ) -> tuple[list[MetricsTriggered], list[_Item]]:
        """Write one transaction, retried when a concurrent writer recorded one of its keys
        first (or, on PostgreSQL, the two deadlocked): the keys are then found in the
        store and counted as duplicates or conflicts. Returns the refunds left over."""
        for attempt in range(1, _ATTEMPTS + 1):
            outcome = _Tally()
            try:
                with unit_of_work(self._engine) as conn:
                    announce, left = self._write(conn, items, outcome)
                    outbox.record(conn, announce)
            except (IntegrityError, OperationalError) as exc:
                if attempt == _ATTEMPTS or not _retryable(exc):
                    raise
                continue
            except ConfigurationChanged:  # planned with units that changed: plan again
                if attempt == _ATTEMPTS:
                    raise
                continue
            report.add(outcome)
            return announce, left
        raise AssertionError("unreachable")

    def _write(self, conn: Connection, items: list[_Item], report: _Tally
               ) -> tuple[list[MetricsTriggered], list[_Item]]:
        deadline = time.monotonic() + _LOCK_BUDGET_S
        fresh = self._not_recorded(conn, items, report)
        events = [item for item in fresh if isinstance(item.parsed, ParsedEvent)]
        announce = self._write_events(conn, events, report)
        refunds = [item for item in fresh if isinstance(item.parsed, ParsedRefund)]
        for index, item in enumerate(refunds):
            if index and time.monotonic() > deadline:
                return announce, refunds[index:]
            announce += self._write_refund(conn, item, report)
        return announce, []

    def _not_recorded(self, conn: Connection, items: list[_Item],
                      report: _Tally) -> list[_Item]:
        by_kind: dict[str, list[str]] = {}
        for item in items:
            if item.kind != REFUND:  # refunds check their key as they are written
                by_kind.setdefault(item.kind, []).append(item.key)
        known = {kind: mq.existing_events(conn, kind, keys) for kind, keys in by_kind.items()}
        if not any(known.values()):  # the common case: nothing of the batch recorded yet
            return items
        fresh = []
        for item in items:
            digest = known.get(item.kind, {}).get(item.key)
            if digest is None:
                fresh.append(item)
            elif digest == item.parsed.digest:
                report.duplicates += 1
            else:
                report.rejected.append(_conflict(item))
        return fresh

    def _write_events(self, conn: Connection, items: list[_Item],
                      report: _Tally) -> list[MetricsTriggered]:
        if not items:
            return []
        wanted = {metric.collaborator for item in items for metric in _metrics(item)
                  if metric.collaborator is not None}
        known = queries.collaborator_keys(conn, wanted)
        distributors = self._catalog.all(conn)
        active = [d for d in distributors if d.spec.status == "active"]
        starts = queries.open_period_starts(conn, [d.key for d in active], lock=True,
                                            units={d.key: d.currency.code for d in active})
        batch = _Batch(conn, known, starts, self._clock())
        planners: dict[str, _CreditPlanner] = {}
        sources: list[tuple[Any, ...]] = []
        credits: list[list[CreditRow]] = []
        skipped: list[tuple[int, list[dict[str, Any]]]] = []
        converted: list[tuple[int, list[dict[str, Any]]]] = []
        written: list[_Item] = []
        for item in items:
            planner = planners.get(item.kind)
            if planner is None:
                planner = planners[item.kind] = _CreditPlanner(
                    conn, item.kind, known, self._registry, distributors,
                    self._ingestor.group_views)
            try:
                source, rows, skips, conversions = batch.plan(item, planner)
            except InvalidInput as exc:
                report.rejected.append(_rejection(item.position, item, exc))
                continue
            except PluginError as exc:  # a credit rule or compiler failed on this event
                report.rejected.append(Rejection(item.position, item.kind, item.key, "type",
                                                 item.kind, f"could not be processed: {exc}"))
                continue
            if skips:
                skipped.append((len(sources), skips))
            if conversions:
                converted.append((len(sources), conversions))
            sources.append(source)
            credits.append(rows)
            written.append(item)
        ids = mq.insert_source_event_values(conn, sources)
        mq.insert_credit_values(conn, [(*row, key) for key, rows in zip(ids, credits, strict=True)
                                       for row in rows])
        mq.insert_many(conn, queries.credit_skip, _identified(ids, skipped))
        xq.insert_conversions(conn, _identified(ids, converted))
        self._count(report, written, credits, skipped)
        if not self._bus.listening:  # nobody would receive them: do not build them
            return []
        return [MetricsTriggered(strategy_id=item.kind, source_event_id=item.key,
                                 metrics=_metrics(item)) for item in written]

    @staticmethod
    def _count(report: _Tally, written: list[_Item], credits: list[list[CreditRow]],
               skipped: list[tuple[int, list[dict[str, Any]]]]) -> None:
        report.inserted += len(written)
        report.skipped += sum(len(skips) for _, skips in skipped)
        rejected = {index: sum(1 for skip in skips if skip["reason"] == LATE_REJECTED)
                    for index, skips in skipped}
        credited = 0
        for index, (item, rows) in enumerate(zip(written, credits, strict=True)):
            late = rejected.get(index, 0)
            for _key, _type, _rule, collaborator, _layer, _points, _revenue, is_late, _at in rows:
                late += is_late
                credited += collaborator is not None
            if late:
                report.late += late
                report.late_positions.append(item.position)
        report.credits += credited

    def _write_refund(self, conn: Connection, item: _Item,
                      report: _Tally) -> list[MetricsTriggered]:
        assert isinstance(item.parsed, ParsedRefund)
        try:
            result, metric = self._ingestor.refunds.write(conn, item.parsed)
        except InvalidInput as exc:
            report.rejected.append(_rejection(item.position, item, exc))
            return []
        except Conflict:
            report.rejected.append(_conflict(item))
            return []
        if result.duplicate or metric is None:
            report.duplicates += 1
            return []
        report.inserted += 1
        report.credits += result.credits
        report.skipped += len(result.skipped)
        if result.late:
            report.late += result.late
            report.late_positions.append(item.position)
        return [MetricsTriggered(strategy_id=REFUND, source_event_id=item.key,
                                 metrics=(metric,))]


_ATTEMPTS = 5
_LOCK_BUDGET_S = 1.0
"""A transaction stops taking refunds after this long: each refund reads and writes
credits one by one, and a batch of them must not hold SQLite's write lock (or, on
PostgreSQL, the open periods' share locks a heartbeat waits for) for minutes."""
_SQLITE_TURN_S = 0.12
"""The pause between two refund transactions on SQLite, so that a writer waiting for the
lock gets it (SQLite's busy handler tries again every 100 ms at most)."""


def _retryable(exc: IntegrityError | OperationalError) -> bool:
    """A unique key another writer took first, or a deadlock or serialization victim."""
    return isinstance(exc, IntegrityError) or is_retryable(exc)


class _Batch:
    """What every event of one batch's transaction is planned against besides its
    planner: the collaborators, the open periods, and the instants as the store keeps
    them (each converted once)."""

    def __init__(self, conn: Connection, known: dict[str, tuple[int, str]],
                 starts: Mapping[int, datetime], now: datetime) -> None:
        self._known = known
        self._starts = starts
        self._stored = mq.stored_time(conn)
        self._stored_starts = {key: self._stored(start) for key, start in starts.items()}
        self._now = self._stored(now)

    def plan(self, item: _Item, planner: _CreditPlanner
             ) -> tuple[tuple[Any, ...], list[CreditRow], list[dict[str, Any]],
                        list[dict[str, Any]]]:
        """The source event's values, credit rows, skip rows and currency conversions of
        one event (raises, writes nothing), as :meth:`Ingestor.record` plans them."""
        parsed = item.parsed
        assert isinstance(parsed, ParsedEvent)
        metrics, event = parsed.metrics, parsed.event
        known = self._known
        for metric in metrics:
            if metric.collaborator is not None and metric.collaborator not in known:
                raise InvalidInput(f"{item.kind}.collaborator", metric.collaborator,
                                   "is not a known collaborator")
        at = event.at
        stored_at = self._stored(at)
        planned, skips = plan_credits(planner, parsed)
        rows = place_credit_rows(planned, self._starts, at, skips, stored_at=stored_at,
                                 stored_starts=self._stored_starts)
        return (source_values(parsed, known, stored_at, self._now), rows, skips,
                planner.kept_conversions(rows))


def _identified(ids: list[int], rows: list[tuple[int, list[dict[str, Any]]]]
                ) -> list[dict[str, Any]]:
    """The rows of each written event (by its index), with its store id."""
    return [{**row, "source_event_id": ids[index]} for index, found in rows for row in found]


def _metrics(item: _Item) -> tuple[Any, ...]:
    return item.parsed.metrics if isinstance(item.parsed, ParsedEvent) else ()


def _batches(numbered: Iterable[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    iterator = iter(numbered)
    while batch := list(islice(iterator, size)):
        yield batch


def _id_of(raw: Any) -> str | None:
    if isinstance(raw, Mapping):
        value = raw.get("id")
        return value if isinstance(value, str) else None
    if isinstance(raw, _Item):
        return raw.key
    return None


def _rejection(position: int, raw: Any, exc: InvalidInput) -> Rejection:
    kind = raw.kind if isinstance(raw, _Item) else (
        raw.get("type") if isinstance(raw, Mapping) else None)
    return Rejection(position, kind if isinstance(kind, str) else None, _id_of(raw),
                     exc.field, exc.value, exc.problem)


def _conflict(item: _Item) -> Rejection:
    return Rejection(item.position, item.kind, item.key, f"{item.kind}.id", item.key,
                     "was already recorded with other content (conflict)")
