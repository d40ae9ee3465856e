"""Recording source events: trigger strategy → metrics → score credits.

One source event is one transaction. Its ``(type, id)`` pair is its idempotency key: the
same pair with the same content again is a no-op that returns the first result; with other
content it is a :class:`~siren_core.errors.Conflict`.

Credits are computed when the event is recorded, with the distributor configuration in
force then, and count in the period whose window holds the event's time. An event whose
period was already distributed counts in the distributor's open period instead (it is
marked ``late``); a distributed period never changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import cattrs
from sqlalchemy.engine import Connection, Engine

from siren_core.catalog import Catalog, ConfiguredDistributor, ConfiguredMetric
from siren_core.config import structure
from siren_core.domain import RecordResult
from siren_core.errors import Conflict, InvalidInput, PluginError
from siren_core.events import EventBus, MetricsTriggered
from siren_core.plugins import PluginRegistry
from siren_core.records import Credit, CreditContext, Metric, TriggerStrategy
from siren_core.store import queries, unit_of_work


@attrs.frozen
class ParsedEvent:
    strategy: TriggerStrategy
    event: Any
    metrics: tuple[Metric, ...]
    digest: str
    payload: str


class Ingestor:
    def __init__(self, engine: Engine, registry: PluginRegistry, converter: cattrs.Converter,
                 catalog: Catalog, bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._registry = registry
        self._converter = converter
        self._catalog = catalog
        self._bus = bus
        self._clock = clock

    def parse(self, kind: str, payload: Mapping[str, Any] | Any) -> ParsedEvent:
        """Validate a source event and run its trigger strategy (nothing is written)."""
        strategy = self._registry.trigger_strategies.get(kind)
        if strategy is None:
            known = ", ".join(sorted(self._registry.trigger_strategies))
            raise InvalidInput("type", kind, f"is not a known trigger strategy (known: {known})")
        if isinstance(payload, strategy.event_type):
            event = payload
            data = self._converter.unstructure(event)
        else:
            data = dict(payload)
            event = structure(self._converter, data, strategy.event_type, prefix=kind)
            data = self._converter.unstructure(event)
        if not event.id:
            raise InvalidInput(f"{kind}.id", event.id, "must not be empty")
        metrics = tuple(self._run_strategy(strategy, event))
        text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
        return ParsedEvent(strategy, event, metrics,
                           hashlib.sha256(text.encode()).hexdigest(), text)

    def _run_strategy(self, strategy: TriggerStrategy, event: Any) -> Sequence[Metric]:
        try:
            metrics = strategy.metrics(event)
        except InvalidInput:
            raise
        except Exception as exc:
            raise PluginError(f"trigger strategy {strategy.id!r} failed: {exc}",
                              plugin=self._registry.owner("trigger_strategies", strategy.id),
                              hook="siren_trigger_strategies") from exc
        for metric in metrics:
            if not isinstance(metric, Metric):
                raise PluginError(f"trigger strategy {strategy.id!r} returned {metric!r}",
                                  plugin=self._registry.owner("trigger_strategies", strategy.id),
                                  hook="siren_trigger_strategies")
        return metrics

    def record(self, kind: str, payload: Mapping[str, Any] | Any) -> RecordResult:
        parsed = self.parse(kind, payload)
        with unit_of_work(self._engine) as conn:
            result = self._write(conn, parsed)
        if not result.duplicate:
            self._bus.dispatch(MetricsTriggered(strategy_id=kind, source_event_id=result.event_id,
                                                metrics=parsed.metrics))
        return result

    def _write(self, conn: Connection, parsed: ParsedEvent) -> RecordResult:
        kind, event = parsed.strategy.id, parsed.event
        existing = queries.find_source_event(conn, kind, event.id)
        if existing is not None:
            key, digest = existing
            if digest != parsed.digest:
                raise Conflict(f"{kind} {event.id!r} was already recorded with other content")
            return RecordResult(kind, event.id, queries.count_credits(conn, key), duplicate=True)
        actors = self._actors(conn, kind, parsed.metrics)
        planner = _CreditPlanner(conn, kind, actors, self._registry)
        planned = [(d, row) for d in self._catalog.active(conn)
                   for metric in parsed.metrics for row in planner.rows(d, metric)]
        starts = queries.open_period_starts(conn, sorted({d.key for d, _ in planned}), lock=True)
        actor = actors.get(parsed.metrics[0].collaborator or "") if parsed.metrics else None
        source_id = queries.insert_source_event(conn, {
            "kind": kind, "key": event.id, "occurred_at": event.at, "recorded_at": self._clock(),
            "collaborator_id": actor[0] if actor else None,
            "amount": parsed.metrics[0].amount if parsed.metrics else None,
            "currency": _currency_code(parsed.metrics),
            "digest": parsed.digest, "payload": parsed.payload})
        rows = []
        for distributor, row in planned:
            start = starts.get(distributor.key)
            if start is None:
                continue
            late = event.at < start
            rows.append({**row, "source_event_id": source_id, "late": late,
                         "effective_at": start if late else event.at})
        queries.insert_credits(conn, rows)
        return RecordResult(kind, event.id, sum(1 for r in rows if r["collaborator_id"]))

    @staticmethod
    def _actors(conn: Connection, kind: str,
                metrics: Sequence[Metric]) -> dict[str, tuple[int, str]]:
        wanted = {m.collaborator for m in metrics if m.collaborator is not None}
        found = queries.collaborator_keys(conn, wanted)
        for name in sorted(wanted - found.keys()):
            raise InvalidInput(f"{kind}.collaborator", name, "is not a known collaborator")
        return found


def _currency_code(metrics: Sequence[Metric]) -> str | None:
    return next((m.currency.code for m in metrics if m.currency is not None), None)


class _CreditPlanner:
    """Turns one metric into credit rows for one distributor, through its credit rules."""

    def __init__(self, conn: Connection, kind: str, known: dict[str, tuple[int, str]],
                 registry: PluginRegistry) -> None:
        self._conn = conn
        self._kind = kind
        self._known = dict(known)
        self._registry = registry

    def _lookup(self, collaborator: str) -> tuple[int, str] | None:
        if collaborator not in self._known:
            self._known.update(queries.collaborator_keys(self._conn, [collaborator]))
        return self._known.get(collaborator)

    def is_eligible(self, collaborator: str) -> bool:
        found = self._lookup(collaborator)
        return found is not None and found[1] == "active"

    def rows(self, distributor: ConfiguredDistributor, metric: Metric) -> list[dict[str, Any]]:
        revenue = self._revenue(distributor, metric)
        rows = [self._row(distributor, metric, credit, rule) for credit, rule in
                self._credits(distributor, metric)]
        if revenue:
            if rows:
                rows[0]["revenue"] = revenue
            else:
                rows.append(self._row(distributor, metric, None, "revenue", revenue))
        return rows

    def _check_currency(self, distributor: ConfiguredDistributor, metric: Metric) -> None:
        if metric.currency is not None and metric.currency != distributor.currency:
            raise InvalidInput(f"{self._kind}.currency", metric.currency.code,
                               f"differs from distributor {distributor.spec.id!r}'s units "
                               f"{distributor.currency.code!r}")

    def _revenue(self, distributor: ConfiguredDistributor, metric: Metric) -> int:
        if not metric.revenue or not distributor.pool_resolver.uses_revenue:
            return 0
        self._check_currency(distributor, metric)
        return sum(-line.amount if line.kind == "discount" else line.amount
                   for line in metric.revenue)

    def _credits(self, distributor: ConfiguredDistributor,
                 metric: Metric) -> list[tuple[Credit, str]]:
        configured = distributor.metrics.get(metric.metric_type, ())
        if not configured or metric.collaborator is None:
            return []
        if not self.is_eligible(metric.collaborator):
            return []
        found: list[tuple[Credit, str]] = []
        for entry in configured:
            if entry.spec.value == "amount":
                self._check_currency(distributor, metric)
                points = metric.amount or 0
            else:
                points = entry.spec.points * metric.quantity
            context = CreditContext(distributor=distributor.spec.id,
                                    metric_type=metric.metric_type, actor=metric.collaborator,
                                    points=points, is_eligible=self.is_eligible)
            found += [(credit, entry.rule.id) for credit in self._call_rule(entry, context)
                      if credit.points and self.is_eligible(credit.collaborator)]
        return found

    def _call_rule(self, entry: ConfiguredMetric, context: CreditContext) -> Sequence[Credit]:
        owner = self._registry.owner("credit_rules", entry.rule.id)
        try:
            credits: Sequence[Credit] = entry.rule.credit(context, entry.rule_config)
        except InvalidInput:
            raise
        except Exception as exc:
            raise PluginError(f"credit rule {entry.rule.id!r} failed: {exc}", plugin=owner,
                              hook="siren_credit_rules") from exc
        for credit in credits:
            if not isinstance(credit, Credit) or type(credit.points) is not int:
                raise PluginError(f"credit rule {entry.rule.id!r} returned {credit!r}",
                                  plugin=owner, hook="siren_credit_rules")
        return credits

    def _row(self, distributor: ConfiguredDistributor, metric: Metric, credit: Credit | None,
             rule: str, revenue: int = 0) -> dict[str, Any]:
        found = self._lookup(credit.collaborator) if credit else None
        return {"distributor_id": distributor.key, "metric_type": metric.metric_type,
                "rule": rule, "collaborator_id": found[0] if found else None,
                "layer": credit.layer if credit else 0, "points": credit.points if credit else 0,
                "revenue": revenue}
