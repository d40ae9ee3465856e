"""The floor of bulk ingestion: the fastest raw side plus what the plugin contract obliges.

    python -m benchmarks.ingest --events 200000 --floor

``run_floor`` writes the rows of :func:`benchmarks.ingest.run_baseline` (``fastest``) and,
for each event, also does what any correct implementation of ``record_many`` must do with
the benchmark's plugins, written straight-line for this one configuration (one trigger
strategy, one distributor, the ``fixed`` rule, its compilers), as a generated
per-configuration function at its best would:

* per batch, in its transaction: the idempotency look-up of the batch's keys and the
  look-up of its collaborators' store ids and statuses (two statements, as the engine's);
* per event: the event structured into the strategy's record and its id checked, its
  canonical text and digest, the strategy's ``metrics``, each metric checked to be a
  ``Metric``, the collaborator known and active, the revenue through the distributor's
  transaction compilers (the engine's ``qualifying_revenue``), and the points; the
  ``fixed`` rule's ``credit`` is the kernel's ``credit_actor``, whose answer is known
  without a call (as the engine plans it).

It leaves out everything the engine does beyond that (rejections with positions,
duplicates within the input, late events, skips, conversions, other distributors, the
report), so it is a lower bound for the engine, not a competitor: if the floor is below
a target, no kernel code can meet it with these plugin calls. Its rows are checked
against the engine's like the raw side's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from hashlib import sha256
from itertools import islice
from typing import Any

from benchmarks.raw import Raw
from siren_core import Kernel
from siren_core.catalog import configure
from siren_core.domain import STORABLE_MAX, check_identifier
from siren_core.metrics.ingest import qualifying_revenue
from siren_core.metrics.shapes import FastShape
from siren_core.records import Metric, credit_actor
from siren_core.store import queries


def run_floor(kernel: Kernel, count: int, collaborators: int, batch_size: int) -> float:
    """Record the benchmark's sales with the least work the plugins allow; seconds."""
    from benchmarks.ingest import DISTRIBUTOR, events, write_fastest

    raw = Raw(kernel)
    spec = kernel.distributor(DISTRIBUTOR["id"]).spec
    with kernel.engine.connect() as conn:
        key = queries.distributor_rows(conn, external_id=spec.id)[0][0]
    distributor = configure(spec, kernel.registry, kernel.converter, key=key)
    strategy = kernel.registry.trigger_strategies["sale"]
    shape = FastShape(strategy.event_type)
    [entry] = distributor.metrics["sale"]
    plan = _Plan(distributor, entry, strategy.metrics, shape, kernel.registry)
    now = raw.time(datetime.now(UTC))
    stream = events(count, collaborators)
    started = time.perf_counter()
    next_id = 1
    while batch := list(islice(stream, batch_size)):
        cursor = raw.begin()
        keys = [event["id"] for event in batch]
        assert not _rows(raw, cursor, _EXISTING, keys), "the floor writes fresh events only"
        names = [event["collaborator"] for event in batch]
        known = {name: (store_id, status) for name, store_id, status
                 in _rows(raw, cursor, _COLLABORATORS, names)}
        write_fastest(raw, cursor, partial(plan.rows, known=known, stored=raw.time, now=now),
                      batch, next_id)
        raw.commit(cursor)
        next_id += len(batch)
    elapsed = time.perf_counter() - started
    raw.connection.close()
    return elapsed


_EXISTING = ("SELECT e.key FROM json_each(?) AS w CROSS JOIN source_event e "
             "ON e.kind = 'sale' AND e.key = w.value",
             "SELECT key FROM source_event WHERE kind = 'sale' AND key = ANY(%s)")
_COLLABORATORS = ("SELECT c.external_id, c.id, c.status FROM json_each(?) AS w "
                  "CROSS JOIN collaborator c ON c.external_id = w.value",
                  "SELECT external_id, id, status FROM collaborator WHERE external_id = ANY(%s)")


def _rows(raw: Raw, cursor: Any, statements: tuple[str, str], values: list[str]
          ) -> list[tuple[Any, ...]]:
    """One look-up of many values, as the engine's ``rows_among`` makes it (on PostgreSQL
    planned every time, never prepared)."""
    if raw.sqlite:
        cursor.execute(statements[0], (json.dumps(sorted(set(values))),))
    else:
        cursor.execute(statements[1], (sorted(set(values)),), prepare=False)
    return list(cursor.fetchall())


class _Plan:
    """The per-event work of the benchmark's one configuration, straight-line."""

    def __init__(self, distributor: Any, entry: Any, metrics: Callable[[Any], Any],
                 shape: FastShape, registry: Any) -> None:
        self.distributor, self.entry, self.metrics, self.shape, self.registry = (
            distributor, entry, metrics, shape, registry)

    def rows(self, batch: list[dict[str, Any]], first_id: int,
             known: dict[str, tuple[int, str]], stored: Callable[[datetime], Any], now: Any
             ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        distributor, entry, strategy = self.distributor, self.entry, self.metrics
        structure, canonical = self.shape.structure, self.shape.canonical
        rule, registry, key = entry.rule.credit, self.registry, distributor.key

        def eligible(collaborator: str) -> bool:
            found = known.get(collaborator)
            return found is not None and found[1] == "active"

        sources, credits = [], []
        for offset, raw_event in enumerate(batch):
            body = dict(raw_event)
            kind = body.pop("type")
            event = structure(body)
            assert event is not None, body
            check_identifier("sale.id", event.id)
            text = canonical(event)
            digest = sha256(text.encode()).hexdigest()
            [metric] = strategy(event)
            assert isinstance(metric, Metric)
            actor = metric.collaborator
            assert eligible(actor)
            revenue = qualifying_revenue(distributor, metric.revenue, registry)
            points = entry.spec.points * metric.quantity
            assert rule is credit_actor and abs(points) <= STORABLE_MAX  # its answer is known
            source_id = first_id + offset
            at = stored(event.at)
            store_id = known[actor][0]
            sources.append((source_id, kind, event.id, at, now, store_id, metric.amount,
                            metric.currency.code, digest, text))
            credits.append((key, source_id, store_id, metric.metric_type, entry.rule.id,
                            0, points, revenue, at, False))
        return sources, credits

