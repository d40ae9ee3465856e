"""Recording source events: trigger strategy → metrics → score credits.

One source event is one transaction. Its ``(type, id)`` pair is its idempotency key: the
same pair with the same content again is a no-op that returns the first result; with other
content it is a :class:`~siren_core.errors.Conflict`.

Credits are computed when the event is recorded, with the distributor configuration in
force then, and count in the period whose window holds the event's time. An event whose
period was already distributed counts in the distributor's open period instead (it is
marked ``late``), or is refused there, as the distributor's ``late_events`` says (see
:func:`place_credit_rows`); a distributed period never changes. An event recorded while a
heartbeat closes its period waits for the close, then counts late (see
:func:`~siren_core.store.queries.open_period_starts`); an event dated before a
distributor's first period belongs to no period there.

Every distributor that tracks one of the event's metric types gets credit rows or a
``credit_skip`` row with the reason it got none (:func:`plan_credits`), so that every
recorded event can be accounted for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import cattrs

from siren_core import outbox
from siren_core.catalog import Catalog, ConfiguredDistributor, ConfiguredMetric
from siren_core.domain import (
    LAYER_MAX,
    STORABLE_MAX,
    CreditSkipped,
    RecordResult,
    check_identifier,
)
from siren_core.errors import ConfigurationChanged, InvalidInput, PluginError
from siren_core.events import EventBus, MetricsTriggered
from siren_core.groups.eligibility import DistributorScopes, GroupViews, Scope
from siren_core.metrics.exchange import Exchange
from siren_core.metrics.refunds import LATE_REJECTED, REFUND, Refunds, recorded_result
from siren_core.metrics.shapes import Shapes
from siren_core.plugins import PluginRegistry
from siren_core.records import (
    Credit,
    CreditContext,
    GroupView,
    Metric,
    RevenueLine,
    TriggerStrategy,
    credit_actor,
)
from siren_core.store import Connection, Engine, queries, unit_of_work
from siren_core.store import metrics_queries as mq

_ATTEMPTS = 3
"""Recording plans again when a distributor's units changed under it (rare)."""


Signature = tuple[tuple[str, bool], ...]
"""What decides an event's lanes: its metrics' types, and whether each carries revenue."""


class ParsedEvent(NamedTuple):
    strategy: TriggerStrategy
    event: Any
    metrics: tuple[Metric, ...]
    digest: str
    payload: str
    signature: Signature
    """The metrics' :func:`signature`."""


_parsed_event: Callable[[tuple[TriggerStrategy, Any, tuple[Metric, ...], str, str,
                               Signature]],
                        ParsedEvent] = functools.partial(tuple.__new__, ParsedEvent)
"""``ParsedEvent`` of its six values without the Python call of its ``__new__`` (one
per recorded event)."""


class Ingestor:
    def __init__(self, engine: Engine, registry: PluginRegistry, converter: cattrs.Converter,
                 catalog: Catalog, bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._registry = registry
        self._converter = converter
        self._catalog = catalog
        self._bus = bus
        self._clock = clock
        self._shapes = Shapes(converter)
        self._planning: PlanningCache | None = None
        self.refunds = Refunds(engine, self._shapes, bus, clock, catalog)
        self.group_views = GroupViews(registry)

    def parse(self, kind: str, payload: Mapping[str, Any] | Any) -> ParsedEvent:
        """Validate a source event and run its trigger strategy (nothing is written)."""
        strategy = self._registry.trigger_strategies.get(kind)
        if strategy is None:
            known = ", ".join(sorted([*self._registry.trigger_strategies, REFUND]))
            raise InvalidInput("type", kind, f"is not a known trigger strategy (known: {known})")
        event, digest, text = self._shapes.parse(payload, strategy.event_type, prefix=kind)
        check_identifier(f"{kind}.id", event.id)
        metrics = tuple(self._run_strategy(strategy, event))
        return _parsed_event((strategy, event, metrics, digest, text, signature(metrics)))

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
        if kind == REFUND:
            return self.refunds.record(payload)
        parsed = self.parse(kind, payload)
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with unit_of_work(self._engine) as conn:
                    result, subscribed = self._write(conn, parsed)
                    # built only for a subscription that wants it, or a listener
                    outbox.record(conn, functools.partial(_triggered, kind, parsed, result)
                                  if subscribed else (), any_subscription=subscribed)
                break
            except ConfigurationChanged:  # planned with units that changed: plan again
                if attempt == _ATTEMPTS:
                    raise
        if self._bus.listening:
            self._bus.dispatch_all(_triggered(kind, parsed, result))
        return result

    def _write(self, conn: Connection, parsed: ParsedEvent) -> tuple[RecordResult, bool]:
        """The event's rows, and whether any webhook subscription is active."""
        kind, event = parsed.strategy.id, parsed.event
        wanted = {m.collaborator for m in parsed.metrics if m.collaborator is not None}
        single = next(iter(wanted)) if len(wanted) == 1 else None
        prelude = queries.recording_prelude(conn, kind, event.id, single,
                                            self._cache_of(self._catalog.cached())
                                            .likely_credited(parsed))
        if prelude.existing is not None:
            return self._first_result(conn, parsed, prelude.existing), prelude.subscriptions
        if single is not None:
            if prelude.actor is None:
                raise InvalidInput(f"{kind}.collaborator", single, "is not a known collaborator")
            actors = {single: prelude.actor}
        else:  # several collaborators, or none (an unattributed sale: nothing to ask)
            actors = self._actors(conn, kind, wanted) if wanted else {}
        distributors = self._catalog.all(conn, stamp=prelude.stamp)
        planner = _CreditPlanner(conn, kind, actors, self._registry, distributors,
                                 self.group_views, any_binding=prelude.bindings,
                                 cache=self._cache_of(distributors))
        planned, skips = plan_credits(planner, parsed)
        units = {d.key: d.currency.code for d, _, _ in planned}
        starts = queries.open_period_starts(conn, sorted(units), lock=True, units=units,
                                            locked=prelude.open_periods)
        stored_at = queries.store_time(conn, event.at)
        rows = place_credit_rows(planned, starts, event.at, skips, stored_at=stored_at,
                                 stored_starts=_StoredTimes(conn, starts))
        source = source_values(parsed, actors, stored_at,
                               queries.store_time(conn, self._clock()))
        source_id = mq.insert_recording(conn, source, rows, skips,
                                        planner.kept_conversions(rows))
        if source_id is None:  # a concurrent recording of the same id committed first
            existing = queries.find_source_event(conn, kind, event.id)
            assert existing is not None
            return self._first_result(conn, parsed, existing), prelude.subscriptions
        credits, late = result_counts(rows, skips)
        return RecordResult(kind, event.id, credits, skipped=_skipped(distributors, skips),
                            late=late, source_event_id=source_id), prelude.subscriptions

    def _cache_of(self, distributors: Sequence[ConfiguredDistributor]) -> PlanningCache:
        """The planning cache of ``distributors``, kept while the catalog gives the same
        sequence (replaced whole, never changed under a planner using it)."""
        found = self._planning
        if found is None or found.distributors is not distributors:
            found = self._planning = PlanningCache(distributors)
        return found

    @staticmethod
    def _first_result(conn: Connection, parsed: ParsedEvent,
                      existing: tuple[int, str]) -> RecordResult:
        return recorded_result(conn, parsed.strategy.id, parsed.event.id, parsed.digest,
                               existing)

    @staticmethod
    def _actors(conn: Connection, kind: str, wanted: set[str]) -> dict[str, tuple[int, str]]:
        found = queries.collaborator_keys(conn, wanted)
        for name in sorted(wanted - found.keys()):
            raise InvalidInput(f"{kind}.collaborator", name, "is not a known collaborator")
        return found


class PlanningCache:
    """What planning works out from a sequence of distributors alone, shared by the
    planners given that sequence (a single recording's planner is new for every event;
    the catalog gives the same tuple while it is unchanged): the distributors not
    deleted, each kind of event's lanes and the distributors it likely credits, and the
    scopes of distributors bound to no group. Filled as planners ask."""

    def __init__(self, distributors: Sequence[ConfiguredDistributor]) -> None:
        self.distributors = distributors
        self.live = [d for d in distributors if d.spec.status != "deleted"]
        self.lanes: Lanes = {}
        self.unbound_scopes: dict[int, Scope] = {}
        self._likely: dict[Signature, list[int]] = {}

    def likely_credited(self, parsed: ParsedEvent) -> list[int]:
        """The active distributors that track one of the event's metrics, by store id."""
        found = self._likely.get(parsed.signature)
        if found is None:
            found = self._likely[parsed.signature] = sorted({
                distributor.key for distributor, _, _ in self.tracking(parsed)
                if distributor.spec.status == "active"})
        return found

    def tracking(self, parsed: ParsedEvent) -> list[Lane]:
        """The lanes of events of the parsed event's kind (its :attr:`~ParsedEvent.signature`)."""
        found = self.lanes.get(parsed.signature)
        if found is None:
            found = self.lanes[parsed.signature] = lanes(self.live, parsed.metrics)
        return found


def qualifying_revenue(distributor: ConfiguredDistributor, lines: Sequence[RevenueLine],
                       registry: PluginRegistry) -> int:
    """The lines the distributor's transaction compilers let through, discounts subtracted.

    A line counts once if any enabled compiler includes it; the total never goes below 0.
    """
    context = distributor.compiler_context
    if context is None or not distributor.compilers:
        return 0
    total = 0
    compiler = distributor.compilers[0]
    try:
        for line in lines:
            for compiler in distributor.compilers:
                if compiler.includes(line, context):
                    total += -line.amount if line.kind == "discount" else line.amount
                    break
    except Exception as exc:
        raise PluginError(f"transaction compiler {compiler.id!r} failed: {exc!r}",
                          plugin=registry.owner("transaction_compilers", compiler.id),
                          hook="siren_transaction_compilers") from exc
    return max(total, 0)


PlannedRow = tuple[str, int | None, int, int, int]
"""One credit row of an event before it gets a period: ``(rule, collaborator store id,
layer, points, revenue)``."""
Planned = list[tuple[ConfiguredDistributor, Metric, list[PlannedRow]]]
"""The credit rows of an event per distributor and metric, before they get a period."""
Lane = tuple[ConfiguredDistributor, int, datetime]
"""A distributor tracking one of an event's metrics: the distributor, the metric's index
among the event's metrics, the start of the distributor's first period."""
Lanes = dict[Signature, list[Lane]]
"""Lanes by signature, for one set of distributors."""


def signature(metrics: Sequence[Metric]) -> Signature:
    return tuple([(metric.metric_type, bool(metric.revenue)) for metric in metrics])


def lanes(distributors: Iterable[ConfiguredDistributor], metrics: Sequence[Metric]
          ) -> list[Lane]:
    """Each of ``distributors`` tracking one of ``metrics`` (see
    :meth:`_CreditPlanner.tracks`), with that metric's index and its first start."""
    return [(distributor, index, distributor.first_start)
            for distributor in distributors
            for index, metric in enumerate(metrics)
            if _CreditPlanner.tracks(distributor, metric)]
CreditRow = tuple[int, str, str, int | None, int, int, int, bool, Any]
"""A placed credit row: the values of :data:`CREDIT_FIELDS`, in that order."""
CREDIT_FIELDS = mq.CREDIT_VALUES
"""The ``score_credit`` columns a planned credit fills (``source_event_id`` comes later)."""
_COLLABORATOR = CREDIT_FIELDS.index("collaborator_id")
_LATE = CREDIT_FIELDS.index("late")


class _StoredTimes(Mapping[int, Any]):
    """The open periods' starts (distributor store id → start) as the store keeps them,
    each converted when asked for (only a late credit takes its period's start)."""

    def __init__(self, conn: Connection, starts: Mapping[int, datetime]) -> None:
        self._conn = conn
        self._starts = starts

    def __getitem__(self, key: int) -> Any:
        return queries.store_time(self._conn, self._starts[key])

    def __iter__(self) -> Iterator[int]:
        return iter(self._starts)

    def __len__(self) -> int:
        return len(self._starts)


def plan_credits(planner: _CreditPlanner, parsed: ParsedEvent
                 ) -> tuple[Planned, list[dict[str, Any]]]:
    """The credit rows and ``credit_skip`` rows of one event (without its store id).

    Every distributor of the planner that tracks one of the event's metric types (see
    :meth:`_CreditPlanner.tracks`) gets credit rows for it, or a skip row saying why not:
    paused (``distributor_inactive``), an event older than its first period
    (``before_distributor_start``: it belongs to no period), or nothing to credit.
    Deleted distributors track nothing. :func:`place_credit_rows` then puts the rows in a
    period.
    """
    planned: Planned = []
    skips: list[dict[str, Any]] = []
    if planner.conversions:
        planner.conversions = {}
    metrics, at = parsed.metrics, parsed.event.at
    for distributor, index, first_start in planner.tracking(parsed):
        metric = metrics[index]
        if distributor.spec.status != "active":
            _skip(skips, distributor, metric, "distributor_inactive")
        elif at < first_start:
            _skip(skips, distributor, metric, "before_distributor_start")
        elif rows := planner.rows(distributor, metric, at):
            planned.append((distributor, metric, rows))
        else:
            _skip(skips, distributor, metric, planner.why_nothing(distributor, metric))
    return planned, skips


def place_credit_rows(planned: Planned, starts: Mapping[int, datetime], at: datetime,
                      skips: list[dict[str, Any]], *, stored_at: Any,
                      stored_starts: Mapping[int, Any]) -> list[CreditRow]:
    """The planned rows, in the period holding ``at``: the open period of each
    distributor (``starts``), or, if that one starts later (its period was distributed),
    as the distributor's ``late_events`` says: ``next_period``, at the open period's
    start, ``late``; ``reject``, no rows and a ``late_rejected`` skip. A distributor
    without an open period gets a ``no_open_period`` skip (an active one always has one).

    ``stored_at`` and ``stored_starts``: ``at`` and the starts as the store keeps them,
    the rows' ``effective_at`` (each instant converted once: the rows are stored as they
    are)."""
    rows: list[CreditRow] = []
    for distributor, metric, planned_rows in planned:
        key = distributor.key
        start = starts.get(key)
        if start is None:
            _skip(skips, distributor, metric, "no_open_period")
            continue
        late = at < start
        if late and distributor.spec.late_events == "reject":
            _skip(skips, distributor, metric, LATE_REJECTED)
            continue
        effective_at = stored_starts[key] if late else stored_at
        kind = metric.metric_type
        for rule, collaborator, layer, points, revenue in planned_rows:
            rows.append((key, kind, rule, collaborator, layer, points, revenue, late,
                         effective_at))
    return rows


def result_counts(rows: Iterable[CreditRow], skips: Iterable[Mapping[str, Any]]
                  ) -> tuple[int, int]:
    """(:attr:`RecordResult.credits`, :attr:`RecordResult.late`) of an event's rows: its
    credits to a collaborator, and what lateness decided (credits marked late, revenue-only
    rows included, and ``late_rejected`` skips)."""
    credits = late = 0
    for row in rows:  # (loops, not sums of generators: a recording's one or two rows)
        if row[_COLLABORATOR] is not None:
            credits += 1
        if row[_LATE]:
            late += 1
    for skip in skips:
        if skip["reason"] == LATE_REJECTED:
            late += 1
    return credits, late


def _skip(skips: list[dict[str, Any]], distributor: ConfiguredDistributor, metric: Metric,
          reason: str) -> None:
    skip = {"distributor_id": distributor.key, "metric_type": metric.metric_type,
            "reason": reason}
    if skip not in skips:
        skips.append(skip)


def _skipped(distributors: Sequence[ConfiguredDistributor],
             skips: Sequence[Mapping[str, Any]]) -> tuple[CreditSkipped, ...]:
    if not skips:
        return ()
    names = {d.key: d.spec.id for d in distributors}
    return tuple(CreditSkipped(names[s["distributor_id"]], s["metric_type"], s["reason"])
                 for s in skips)


def source_values(parsed: ParsedEvent, known: Mapping[str, tuple[int, str]],
                  stored_at: Any, stored_now: Any) -> tuple[Any, ...]:
    """The event's ``source_event`` row (the values of ``mq.SOURCE_EVENT_VALUES``):
    its first metric's collaborator (``known``: their store ids), amount and currency,
    ``stored_at`` and ``stored_now`` its times as the store keeps them."""
    metrics = parsed.metrics
    actor = known.get(metrics[0].collaborator or "") if metrics else None
    return (parsed.strategy.id, parsed.event.id, stored_at, stored_now,
            actor[0] if actor else None, metrics[0].amount if metrics else None,
            _currency_code(metrics), parsed.digest, parsed.payload)


def _currency_code(metrics: Sequence[Metric]) -> str | None:
    for metric in metrics:
        if metric.currency is not None:
            return metric.currency.code
    return None


class _CreditPlanner:
    """Turns one metric into credit rows for one distributor, through its credit rules."""

    def __init__(self, conn: Connection, kind: str, known: dict[str, tuple[int, str]],
                 registry: PluginRegistry, distributors: Sequence[ConfiguredDistributor],
                 group_views: GroupViews | None = None, *, any_binding: bool = True,
                 cache: PlanningCache | None = None) -> None:
        """``cache``: the planning cache of these ``distributors``, if the caller keeps
        one (the single recording), filled further here."""
        self._conn = conn
        self._kind = kind
        self._cache = PlanningCache(distributors) if cache is None else cache
        assert self._cache.distributors is distributors
        self._known = dict(known)
        self._registry = registry
        self._scopes = DistributorScopes(conn, group_views or GroupViews(registry),
                                         any_binding=any_binding,
                                         unbound=self._cache.unbound_scopes)
        self._eligible: dict[int, tuple[Callable[[str], bool], GroupView | None]] = {}
        self._exchange: Exchange | None = None
        self.conversions: dict[tuple[int, str], dict[str, Any]] = {}
        """The ``credit_conversion`` rows of the event being planned, per distributor and
        metric type (emptied by :func:`plan_credits`)."""

    def _lookup(self, collaborator: str) -> tuple[int, str] | None:
        found = self._known.get(collaborator)
        if found is None:
            self._known.update(queries.collaborator_keys(self._conn, [collaborator]))
            found = self._known.get(collaborator)
        return found

    def is_eligible(self, collaborator: str) -> bool:
        found = self._known.get(collaborator) or self._lookup(collaborator)
        return found is not None and found[1] == "active"

    def tracking(self, parsed: ParsedEvent) -> list[Lane]:
        """Each distributor tracking one of the event's metrics (see :meth:`tracks`) with
        the index of that metric and the start of the distributor's first period,
        distributor by distributor: worked out once per planning cache for each kind of
        event (its metrics' types, and whether each carries revenue), not for every
        event."""
        return self._cache.tracking(parsed)

    def prefetch(self, collaborators: Iterable[str]) -> None:
        """Look many collaborators up at once (a hint from rules that walk a group)."""
        wanted = [name for name in collaborators if name not in self._known]
        self._known.update(queries.collaborator_keys(self._conn, wanted))

    def eligible_for(self, distributor: ConfiguredDistributor) -> Callable[[str], bool]:
        """Active, and allowed by the distributor's eligibility (direct + bound group)."""
        return self._eligibility(distributor)[0]

    def _eligibility(self, distributor: ConfiguredDistributor
                     ) -> tuple[Callable[[str], bool], GroupView | None]:
        found = self._eligible.get(distributor.key)
        if found is None:
            scope = self._scopes.scope(distributor)
            eligible = self.is_eligible if scope.direct is None and not scope.bound else (
                lambda collaborator: scope.allows(collaborator)
                and self.is_eligible(collaborator))
            found = self._eligible[distributor.key] = (eligible, scope.group)
        return found

    @staticmethod
    def tracks(distributor: ConfiguredDistributor, metric: Metric) -> bool:
        """Whether the distributor takes the metric into account: it scores its type, or
        its pool uses revenue and the metric has some."""
        return metric.metric_type in distributor.metrics or (
            bool(metric.revenue) and distributor.pool_resolver.uses_revenue)

    def why_nothing(self, distributor: ConfiguredDistributor, metric: Metric) -> str:
        """The reason a tracked metric gave the distributor no credit row."""
        if metric.collaborator is None:
            return "no_collaborator"
        if not self.eligible_for(distributor)(metric.collaborator):
            return "collaborator_not_eligible"
        return "no_credit"

    def rows(self, distributor: ConfiguredDistributor, metric: Metric,
             at: datetime) -> list[PlannedRow]:
        """The metric's credit rows for the distributor; the event's revenue rides on
        the first, or on a row of its own."""
        revenue = self._revenue(distributor, metric, at) if (
            metric.revenue and distributor.pool_resolver.uses_revenue) else 0
        rows = self._credits(distributor, metric, at, revenue)
        if revenue and not rows:
            rows.append(("revenue", None, 0, 0, revenue))
        return rows

    def _in_units(self, distributor: ConfiguredDistributor, metric: Metric, amount: int,
                  at: datetime) -> int:
        """``amount`` (minor units of the metric's currency) in the distributor's units:
        unchanged in the same currency (no provider call, no query); else converted at
        the rate in force at ``at``, which :attr:`conversions` keeps for the audit."""
        unit = metric.currency
        if unit is None or unit is distributor.currency or unit == distributor.currency:
            return amount
        if self._exchange is None:
            self._exchange = Exchange(self._conn, self._registry)
        conversion = self._exchange.rate(unit, distributor.currency, at,
                                         field=f"{self._kind}.currency")
        key = (distributor.key, metric.metric_type)
        if key not in self.conversions:
            self.conversions[key] = conversion.row(distributor.key, metric.metric_type,
                                                   metric.amount or 0)
        return conversion.convert(amount, field=f"{self._kind}.amount")

    def kept_conversions(self, rows: Iterable[CreditRow]) -> list[dict[str, Any]]:
        """The conversions of the distributors that kept credit ``rows`` (a late-rejected
        or skipped distributor stores none)."""
        if not self.conversions:
            return []
        credited = {row[0] for row in rows}
        return [row for (key, _), row in self.conversions.items() if key in credited]

    def _revenue(self, distributor: ConfiguredDistributor, metric: Metric,
                 at: datetime) -> int:
        """The metric's qualifying revenue in the distributor's units (the caller checked
        that the metric carries revenue and the distributor's pool uses it)."""
        revenue = qualifying_revenue(distributor, metric.revenue, self._registry)
        if metric.currency is distributor.currency:  # (_in_units would say the same)
            return revenue
        return self._in_units(distributor, metric, revenue, at)

    def _credits(self, distributor: ConfiguredDistributor, metric: Metric, at: datetime,
                 revenue: int) -> list[PlannedRow]:
        """The rules' credit rows, ``revenue`` on the first of them."""
        configured = distributor.metrics.get(metric.metric_type, ())
        actor = metric.collaborator
        if not configured or actor is None:
            return []
        eligible, group = self._eligibility(distributor)
        if not eligible(actor):
            return []
        found: list[PlannedRow] = []
        for entry in configured:
            if entry.spec.value == "amount":  # (_in_units would say the same)
                points = (metric.amount or 0) if metric.currency is distributor.currency else (
                    self._in_units(distributor, metric, metric.amount or 0, at))
            else:
                points = entry.spec.points * metric.quantity
                if points > STORABLE_MAX:  # a configuration stored before points were bounded
                    raise InvalidInput(f"{self._kind}.quantity", metric.quantity,
                                       f"gives {points} points on distributor "
                                       f"{distributor.spec.id!r}, more than the store holds")
            if entry.rule.credit is credit_actor and abs(points) <= STORABLE_MAX:
                if points:  # the rule's known answer, without its context or a call
                    found.append((entry.rule.id, self._known[actor][0], 0, points,
                                  0 if found else revenue))
                continue
            context = CreditContext(distributor=distributor.spec.id,
                                    metric_type=metric.metric_type, actor=actor,
                                    points=points, is_eligible=eligible, group=group,
                                    prefetch=self.prefetch)
            for credit in self._call_rule(entry, context):
                # the actor was found eligible above: only others need asking
                if credit.points and (credit.collaborator == actor
                                      or eligible(credit.collaborator)):
                    key = self._known.get(credit.collaborator) or self._lookup(
                        credit.collaborator)
                    found.append((entry.rule.id, key[0] if key else None, credit.layer,
                                  credit.points, 0 if found else revenue))
        return found

    def _call_rule(self, entry: ConfiguredMetric, context: CreditContext
                   ) -> tuple[Credit, ...]:
        try:  # taken as a tuple here: an answer that is no sequence is the rule's fault
            credits = tuple(entry.rule.credit(context, entry.rule_config))
        except InvalidInput:
            raise
        except Exception as exc:
            raise PluginError(f"credit rule {entry.rule.id!r} failed: {exc}",
                              plugin=self._registry.owner("credit_rules", entry.rule.id),
                              hook="siren_credit_rules") from exc
        for credit in credits:
            if (not isinstance(credit, Credit) or type(credit.collaborator) is not str
                    or type(credit.points) is not int or abs(credit.points) > STORABLE_MAX
                    or type(credit.layer) is not int or not 0 <= credit.layer <= LAYER_MAX):
                raise PluginError(f"credit rule {entry.rule.id!r} returned {credit!r}",
                                  plugin=self._registry.owner("credit_rules", entry.rule.id),
                                  hook="siren_credit_rules")
        return credits


def _triggered(kind: str, parsed: ParsedEvent, result: RecordResult) -> list[MetricsTriggered]:
    """``metrics_triggered`` of a recording (none for a duplicate)."""
    if result.duplicate:
        return []
    return [MetricsTriggered(strategy_id=kind, source_event_id=result.event_id,
                             metrics=parsed.metrics)]
