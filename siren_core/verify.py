"""The invariant checker: what must hold in every store, whatever happened to it.

``verify(kernel)`` runs every check of :mod:`siren_core.store.verify_queries` in one
read-only transaction and returns the violations (an empty list: all invariants hold).
The reliability suites run it after every crash and every step; ``siren doctor --verify``
runs it against a live database.

One check needs the kernel's plugins: ``every_event_accounted`` re-runs each recorded
event's trigger strategy on its stored payload to learn its metric types, then asks,
for every distributor whose configuration in force when the event was recorded tracked
one of them (it scores the type, or its pool uses revenue and the metric has some), for
a score credit of the event there or a ``credit_skip`` row saying why not. Distributors
deleted before the event was recorded track nothing; events whose trigger strategy is no
longer installed cannot be audited and are passed over. The events are read in chunks,
so the check's memory does not grow with the store.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs

from siren_core.kernel import Kernel
from siren_core.metrics.shapes import Shapes
from siren_core.records import Metric
from siren_core.store import Connection, unit_of_work
from siren_core.store import verify_queries as vq
from siren_core.store.verify_queries import CHECKS

_CHUNK = 2_000


@attrs.frozen
class Violation:
    invariant: str
    rows: tuple[tuple[Any, ...], ...]

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.rows[:5]))
        more = f" (+{len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
        return f"{self.invariant}: {shown}{more}"


def verify(kernel: Kernel) -> list[Violation]:
    with unit_of_work(kernel.engine, write=False) as conn:
        found = [Violation(name, tuple(rows)) for name, check in CHECKS.items()
                 if (rows := check(conn))]
        if unaccounted := list(unaccounted_events(kernel, conn)):
            found.append(Violation("every_event_accounted", tuple(unaccounted)))
        return found


@attrs.frozen
class _Tracking:
    """What one configuration version of a distributor tracks, from when."""

    since: datetime
    metric_types: frozenset[str]
    uses_revenue: bool

    def tracks(self, metric: Metric) -> bool:
        return metric.metric_type in self.metric_types or (
            self.uses_revenue and bool(metric.revenue))


@attrs.frozen
class _Distributor:
    key: int
    external_id: str
    deleted_at: datetime | None
    versions: tuple[_Tracking, ...]

    def in_force(self, recorded_at: datetime) -> _Tracking | None:
        """The configuration in force at ``recorded_at`` (``None``: not tracking then)."""
        if self.deleted_at is not None and recorded_at >= self.deleted_at:
            return None
        index = bisect.bisect_right(self.versions, recorded_at, key=lambda v: v.since)
        return self.versions[index - 1] if index else None


def unaccounted_events(kernel: Kernel, conn: Connection) -> Iterator[tuple[Any, ...]]:
    """(kind, key, distributor, metric type) of every recorded event that neither
    credited nor skipped a distributor tracking its metric type when it was recorded."""
    distributors = _distributors(kernel, conn)
    shapes = Shapes(kernel.converter)
    after = max(vq.accounting_horizon(conn) - 1, 0)
    while chunk := vq.recorded_events(conn, after, _CHUNK):
        after = chunk[-1][0]
        done = vq.accounted(conn, chunk[0][0], after)
        for key, kind, external, recorded_at, payload in chunk:
            metrics = _metrics(kernel, shapes, kind, payload)
            for distributor in distributors:
                tracking = distributor.in_force(recorded_at)
                if tracking is None:
                    continue
                for metric_type in sorted({m.metric_type for m in metrics
                                           if tracking.tracks(m)}):
                    if (key, distributor.key, metric_type) not in done:
                        yield (kind, external, distributor.external_id, metric_type)


def _distributors(kernel: Kernel, conn: Connection) -> list[_Distributor]:
    rows: dict[int, list[vq.ConfigRow]] = {}
    for row in vq.distributor_configs(conn):
        rows.setdefault(row[0], []).append(row)
    found = []
    for key, versions in rows.items():
        _key, external, status, updated_at, _created, _config = versions[0]
        found.append(_Distributor(
            key, external, updated_at if status == "deleted" else None,
            tuple(_tracking(kernel, created, config)
                  for *_, created, config in versions)))
    return found


def _tracking(kernel: Kernel, since: datetime, config: dict[str, Any]) -> _Tracking:
    resolver = kernel.registry.pool_resolvers.get(str(config.get("pool", {}).get("resolver")))
    return _Tracking(since, frozenset(str(m.get("type")) for m in config.get("metrics", ())),
                     bool(resolver is not None and resolver.uses_revenue))


def _metrics(kernel: Kernel, shapes: Shapes, kind: str, payload: str) -> Sequence[Metric]:
    strategy = kernel.registry.trigger_strategies.get(kind)
    if strategy is None:
        return ()
    try:
        return tuple(strategy.metrics(shapes.structure(json.loads(payload),
                                                       strategy.event_type, prefix=kind)))
    except Exception:  # a plugin changed since: the event cannot be audited, not a breach
        return ()
