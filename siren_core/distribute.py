"""The distribution runner: on a heartbeat, every due period is distributed exactly once.

For each due period, oldest first, one transaction: claim the period (a row lock on
PostgreSQL, the write lock on SQLite), read its scores and revenue with ``GROUP BY``,
resolve the pool, split it with the allocation calculator, write allocations and their
obligations, close the period and open the next one. A raising or misbehaving plugin rolls
the whole period back; the period stays due and the next heartbeat tries again. Events
fire after the commit.

Reasons a completed period allocated nothing (``Distribution.reason``):
``zero_pool``, ``no_scores`` (no collaborator has a positive score),
``no_eligible_collaborators`` (only inactive collaborators scored).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import attrs
from sqlalchemy.engine import Connection, Engine

from siren_core import schedule as schedules
from siren_core.catalog import Catalog, ConfiguredDistributor
from siren_core.domain import Distribution
from siren_core.errors import InvalidInput, NotFound, PluginError, SirenError
from siren_core.events import (
    AllocationCompleted,
    DistributionCompleted,
    DistributionHeartbeatInitialized,
    EventBus,
)
from siren_core.plugins import PluginRegistry
from siren_core.records import AllocationContext, PoolContext
from siren_core.store import queries, unit_of_work


@attrs.frozen
class Outcome:
    """What distributing one period yields (or would yield, for a preview)."""

    pool: int
    revenue: int
    reason: str | None
    allocations: tuple[tuple[int, str, int, int], ...]
    """(collaborator store id, collaborator id, score, amount), by collaborator id."""


@attrs.frozen
class Preview:
    distribution: Distribution
    window_end: datetime
    outcome: Outcome


@attrs.frozen
class HeartbeatReport:
    completed: tuple[Distribution, ...]
    failed: tuple[tuple[int, str, str], ...]
    """(distribution id, distributor id, error message) of periods rolled back."""


def first_period(schedule: schedules.Schedule) -> tuple[datetime, datetime]:
    return schedules.period(schedule, 0)


def next_period_end(schedule: schedules.Schedule, previous_end: datetime) -> datetime:
    """The first boundary of ``schedule`` strictly after ``previous_end``."""
    index = schedules.period_index_at(schedule, previous_end)
    return schedules.boundary(schedule, max(index + 1, 0))


class _Plugins:
    """Calls the pool resolver and the calculator, checking what they return."""

    def __init__(self, registry: PluginRegistry) -> None:
        self._registry = registry

    def _fail(self, kind: str, record_id: str, hook: str, message: str) -> PluginError:
        return PluginError(message, plugin=self._registry.owner(kind, record_id), hook=hook)

    def pool(self, distributor: ConfiguredDistributor, context: PoolContext) -> int:
        resolver = distributor.pool_resolver
        try:
            pool = resolver.resolve(context, distributor.pool_config)
        except SirenError:
            raise
        except Exception as exc:
            raise self._fail("pool_resolvers", resolver.id, "siren_pool_resolvers",
                             f"pool resolver {resolver.id!r} failed: {exc!r}") from exc
        if type(pool) is not int or pool < 0:
            raise self._fail("pool_resolvers", resolver.id, "siren_pool_resolvers",
                             f"pool resolver {resolver.id!r} returned {pool!r}, "
                             "not a non-negative int of minor units")
        return pool

    def allocate(self, distributor: ConfiguredDistributor,
                 context: AllocationContext) -> dict[str, int]:
        calculator = distributor.calculator

        def fail(message: str) -> PluginError:
            return self._fail("allocation_calculators", calculator.id,
                              "siren_allocation_calculators",
                              f"allocation calculator {calculator.id!r} {message}")
        try:
            result = calculator.allocate(context, distributor.calculator_config)
        except SirenError:
            raise
        except Exception as exc:
            raise fail(f"failed: {exc!r}") from exc
        if not isinstance(result, Mapping):
            raise fail(f"returned {result!r}, not a mapping")
        amounts = dict(result)
        for collaborator, amount in amounts.items():
            if collaborator not in context.scores:
                raise fail(f"allocated to {collaborator!r}, who has no score this period")
            if type(amount) is not int or amount < 0:
                raise fail(f"allocated {amount!r} to {collaborator!r}")
        if sum(amounts.values()) != context.pool:
            raise fail(f"allocated {sum(amounts.values())} of a pool of {context.pool}")
        return amounts


def compute(distributor: ConfiguredDistributor, plugins: _Plugins, start: datetime,
            end: datetime, scores: list[queries.ScoreRow], revenue: int) -> Outcome:
    """Pool → scores → calculator for one window. Reads nothing, writes nothing."""
    pool = plugins.pool(distributor, PoolContext(
        distributor=distributor.spec.id, currency=distributor.currency, period_start=start,
        period_end=end, revenue=max(revenue, 0)))
    eligible = {row[1]: row for row in scores if row[2] == "active"}
    reason = ("zero_pool" if pool == 0 else "no_scores" if not scores
              else "no_eligible_collaborators" if not eligible else None)
    if reason is not None:
        return Outcome(pool, revenue, reason, ())
    amounts = plugins.allocate(distributor, AllocationContext(
        distributor=distributor.spec.id, currency=distributor.currency, pool=pool,
        scores={name: row[3] for name, row in eligible.items()}))
    allocations = tuple((eligible[name][0], name, eligible[name][3], amount)
                        for name, amount in sorted(amounts.items()) if amount > 0)
    return Outcome(pool, revenue, None, allocations)


class DistributionRunner:
    def __init__(self, engine: Engine, registry: PluginRegistry, catalog: Catalog,
                 bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._plugins = _Plugins(registry)
        self._catalog = catalog
        self._bus = bus
        self._clock = clock

    def heartbeat(self, now: datetime) -> HeartbeatReport:
        """Distribute every due period of every active distributor, oldest first."""
        if now.tzinfo is None:
            raise InvalidInput("now", now, "has no timezone")
        self._bus.dispatch(DistributionHeartbeatInitialized(now=now))
        completed: list[Distribution] = []
        failed: list[tuple[int, str, str]] = []
        done: dict[str, int] = {}
        stopped: set[str] = set()
        while True:
            with unit_of_work(self._engine, write=False) as conn:
                due = queries.due_distributions(conn, now)
            progressed = False
            for distribution_id in due:
                result = self._try_one(distribution_id, now, done, stopped, failed)
                if result is not None:
                    completed.append(result)
                    progressed = True
            if not progressed:
                return HeartbeatReport(tuple(completed), tuple(failed))

    def _try_one(self, distribution_id: int, now: datetime, done: dict[str, int],
                 stopped: set[str], failed: list[tuple[int, str, str]]) -> Distribution | None:
        try:
            return self.distribute(distribution_id, now, done=done, stopped=stopped)
        except SirenError as exc:
            name = self._distributor_of(distribution_id)
            stopped.add(name)
            failed.append((distribution_id, name, str(exc)))
            return None

    def _distributor_of(self, distribution_id: int) -> str:
        with unit_of_work(self._engine, write=False) as conn:
            found = queries.get_distribution(conn, distribution_id)
        return found.distributor if found else "?"

    def distribute(self, distribution_id: int, now: datetime, *,
                   done: dict[str, int] | None = None,
                   stopped: set[str] | None = None) -> Distribution | None:
        """Distribute one period if it is still open and due; ``None`` if not ours to do."""
        done = {} if done is None else done
        with unit_of_work(self._engine) as conn:
            claimed = queries.claim_distribution(conn, distribution_id)
            if claimed is None or claimed[4] > now:
                return None
            distributor = self._catalog.get(conn, claimed[1])
            name = distributor.spec.id
            limit = distributor.spec.catch_up_limit
            if (stopped and name in stopped) or (limit is not None and done.get(name, 0) >= limit):
                return None
            outcome = self._outcome(conn, distributor, claimed[3], claimed[4])
            self._write(conn, distributor, claimed, outcome, now)
        done[name] = done.get(name, 0) + 1
        return self._announce(distribution_id)

    def _outcome(self, conn: Connection, distributor: ConfiguredDistributor, start: datetime,
                 end: datetime) -> Outcome:
        scores = queries.period_scores(conn, distributor.key, start, end)
        revenue = queries.period_revenue(conn, distributor.key, start, end)
        return compute(distributor, self._plugins, start, end, scores, revenue)

    def _write(self, conn: Connection, distributor: ConfiguredDistributor,
               claimed: queries.ClaimedRow, outcome: Outcome, now: datetime) -> None:
        distribution_id, key, index, _start, end = claimed
        queries.insert_allocations(conn, distribution_id, [
            (collaborator, score, amount) for collaborator, _name, score, amount
            in outcome.allocations])
        queries.issue_obligations_for(conn, distribution_id, distributor.currency.code, now)
        queries.complete_distribution(
            conn, distribution_id, status="completed", pool=outcome.pool,
            revenue=outcome.revenue, reason=outcome.reason, config_version=distributor.version,
            calculator=distributor.calculator.id, now=now)
        queries.insert_distribution(conn, key, index + 1, end,
                                    next_period_end(distributor.spec.schedule, end))

    def _announce(self, distribution_id: int) -> Distribution:
        with unit_of_work(self._engine, write=False) as conn:
            distribution = queries.get_distribution(conn, distribution_id)
            allocations = queries.list_allocations(conn, distribution_id)
        assert distribution is not None
        self._bus.dispatch(DistributionCompleted(distribution=distribution))
        for allocation in allocations:
            self._bus.dispatch(AllocationCompleted(allocation=allocation))
        return distribution

    def preview(self, distributor_id: str, now: datetime) -> Preview:
        """What the open period would pay if it closed at ``now``; writes nothing."""
        with unit_of_work(self._engine, write=False) as conn:
            rows = queries.distributor_rows(conn, external_id=distributor_id)
            if not rows:
                raise NotFound("distributor", distributor_id)
            open_rows = queries.list_distributions(conn, distributor_id=distributor_id,
                                                   status="open")
            if not open_rows:
                raise NotFound("open period of distributor", distributor_id)
            distribution = open_rows[0]
            distributor = self._catalog.get(conn, rows[0][0])
            end = min(now, distribution.period_end)
            outcome = self._outcome(conn, distributor, distribution.period_start, end)
        return Preview(distribution, end, outcome)
