"""The distribution runner: on a heartbeat, every due period is distributed exactly once.

For each due period, oldest first, one transaction: claim the period (a row lock on
PostgreSQL -- first ``SKIP LOCKED`` so workers divide the due periods, then waiting for the
ones skipped; the write lock on SQLite), read its scores and revenue with ``GROUP BY``,
resolve the pool, split it with the allocation calculator, write allocations and their
obligations, close the period and open the next one. A raising or misbehaving plugin rolls
the whole period back; the period stays due and the next heartbeat tries again (the period
counts the failure and keeps its error, written in a transaction of its own). Events
fire after the commit (and nothing is read back for them when no one listens). Pausing and
resuming distributors: :meth:`DistributionRunner.set_distributor_status`. See
docs/distribution.md.

Reasons a completed period allocated nothing (``Distribution.reason``):
``zero_pool``, ``no_scores`` (no collaborator has a positive score),
``no_eligible_collaborators`` (only inactive collaborators scored); when the distributor's
cascades have no usable group, those two give way to ``cascade_without_group``,
``cascade_group_deleted`` or ``cascade_group_without_layers`` (see docs/groups.md);
``declined:<reason>`` when the calculator answered :class:`~siren_core.records.Decline`
(``declined:empty`` for an empty mapping: no one qualifies). Such a period's pool is
forfeited, or carried into the next period's (``unallocated = "carry_forward"``: the
period's ``carried_out``, the next one's ``carried_in``).
"""

from __future__ import annotations

import operator
import re
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import compress, islice, repeat
from typing import Any, TypeVar, overload

import attrs

from siren_core import collector, outbox
from siren_core import schedule as schedules
from siren_core.catalog import Catalog, ConfiguredDistributor
from siren_core.distribution.context import allocation_context
from siren_core.domain import (
    DISTRIBUTOR_STATUSES,
    STORABLE_MAX,
    Allocation,
    Distribution,
)
from siren_core.errors import InvalidInput, NotFound, PluginError, SirenError, Unstorable
from siren_core.events import (
    AllocationCompleted,
    DistributionCompleted,
    DistributionHeartbeatInitialized,
    Event,
    EventBus,
    ObligationIssued,
)
from siren_core.groups.capabilities import cascade_problem
from siren_core.plugins import PluginRegistry
from siren_core.records import AllocationContext, Decline, PoolContext
from siren_core.store import (
    Connection,
    Engine,
    distribution_queries,
    obligation_queries,
    operations_queries,
    queries,
    single_read,
    unit_of_work,
)
from siren_core.times import check_instant

T = TypeVar("T")


@attrs.frozen
class Allocations(Sequence[tuple[int, str, int, int]]):
    """A period's allocations, read as (collaborator store id, collaborator id, score,
    amount) tuples in the order of the collaborators' ids, held as columns (a tuple of four
    is 88 bytes more per allocation): the store ids in an array of 64-bit ints, 8 bytes
    each; the ids, scores and amounts in tuples of the objects the scores and the
    calculator's answer made already (an array would convert each int once more)."""

    keys: array[int] = attrs.field(factory=lambda: array("q"))
    names: tuple[str, ...] = ()
    scores: tuple[int, ...] = ()
    amounts: tuple[int, ...] = ()

    @classmethod
    def paid(cls, keys: array[int], scores: Mapping[str, int], amounts: tuple[int, ...]
             ) -> Allocations:
        """The allocations of the positive ``amounts``, whose collaborators are ``scores``'
        keys and store ids ``keys``, all three in one order. That is the store's order of
        ids, so there is nothing to sort unless the database's collation orders them
        otherwise than Python does."""
        if all(amounts):
            found = cls(keys, tuple(scores), tuple(scores.values()), amounts)
        else:
            found = cls(array("q", compress(keys, amounts)), tuple(compress(scores, amounts)),
                        tuple(compress(scores.values(), amounts)), tuple(filter(None, amounts)))
        if all(map(operator.lt, found.names, islice(found.names, 1, None))):
            return found
        order = sorted(range(len(found)), key=found.names.__getitem__)

        def ordered(column: Sequence[T]) -> tuple[T, ...]:
            return tuple(map(column.__getitem__, order))
        return cls(array("q", ordered(found.keys)), ordered(found.names),
                   ordered(found.scores), ordered(found.amounts))

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[int, str, int, int]]:
        return zip(self.keys, self.names, self.scores, self.amounts, strict=True)

    @overload
    def __getitem__(self, index: int) -> tuple[int, str, int, int]: ...
    @overload
    def __getitem__(self, index: slice) -> Allocations: ...

    def __getitem__(self, index: int | slice) -> tuple[int, str, int, int] | Allocations:
        if isinstance(index, slice):
            return Allocations(self.keys[index], self.names[index], self.scores[index],
                               self.amounts[index])
        return self.keys[index], self.names[index], self.scores[index], self.amounts[index]


@attrs.frozen
class Outcome:
    """What distributing one period yields (or would yield, for a preview)."""

    pool: int
    """What the period distributes: the resolved pool plus ``carried_in``."""
    revenue: int
    reason: str | None
    allocations: Allocations
    """(collaborator store id, collaborator id, score, amount), by collaborator id."""
    carried_in: int = 0
    carried_out: int = 0
    """The pool passed on to the next period (it allocated nothing, ``carry_forward``)."""


@attrs.frozen
class Preview:
    """What distributing the open period would yield now (``Kernel.preview``)."""

    distribution: Distribution
    window_end: datetime
    outcome: Outcome
    late: int = 0
    """Late credits in the window: rows whose event fell in a period already distributed,
    counted in this one (``late_events = "next_period"``)."""


@attrs.frozen
class HeartbeatReport:
    """What one heartbeat did (``Kernel.heartbeat``)."""

    completed: tuple[Distribution, ...]
    """The periods distributed and committed, oldest first."""
    failed: tuple[tuple[int, str, str], ...]
    """(distribution id, distributor id, error message) of periods rolled back."""
    approved_obligations: tuple[int, ...] = ()
    """Obligations the heartbeat approved because their hold period ended (Kernel)."""


def first_period(schedule: schedules.Schedule) -> tuple[datetime, datetime]:
    return schedules.period(schedule, 0)


def next_period_end(schedule: schedules.Schedule, previous_end: datetime) -> datetime:
    """The first boundary of ``schedule`` strictly after ``previous_end``."""
    index = schedules.period_index_at(schedule, previous_end)
    return schedules.boundary(schedule, max(index + 1, 0))


DECLINED = "declined:"
"""The prefix of a declined period's reason: ``declined:<the calculator's reason>``."""
DECLINE_REASON_LENGTH = 64 - len(DECLINED)
"""The longest reason a calculator may give (the reason column holds 64 characters)."""
DECLINE_REASON = re.compile(rf"[a-z0-9][a-z0-9_.-]{{0,{DECLINE_REASON_LENGTH - 1}}}")
"""A machine-readable reason: lower-case ASCII letters, digits, ``_``, ``-`` and ``.``."""
EMPTY_ANSWER = "empty"
"""The reason of a calculator that returned an empty mapping: it allocated to no one."""


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
                 context: AllocationContext) -> dict[str, int] | Decline:
        """The calculator's amounts, or its :class:`Decline` (an empty mapping is one:
        ``empty``); anything else that does not split the pool exactly is refused."""
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
        if isinstance(result, Decline):
            if not isinstance(result.reason, str) or not DECLINE_REASON.fullmatch(result.reason):
                raise fail(f"declined with reason {result.reason!r}, not 1 to "
                           f"{DECLINE_REASON_LENGTH} of a-z, 0-9, '_', '-', '.'")
            return result
        if not isinstance(result, Mapping):
            raise fail(f"returned {result!r}, not a mapping")
        amounts = result if type(result) is dict else dict(result)  # read, never changed
        if not amounts:
            return Decline(EMPTY_ANSWER)
        for collaborator, amount in amounts.items():
            if collaborator not in context.scores:
                raise fail(f"allocated to {collaborator!r}, who has no score this period")
            if type(amount) is not int or amount < 0:
                raise fail(f"allocated {amount!r} to {collaborator!r}")
        if sum(amounts.values()) != context.pool:
            raise fail(f"allocated {sum(amounts.values())} of a pool of {context.pool}")
        return amounts


def compute(conn: Connection, distributor: ConfiguredDistributor, plugins: _Plugins,
            start: datetime, end: datetime, scores: distribution_queries.PeriodScores,
            revenue: int, *, fail_closed: str | None = None, carried_in: int = 0) -> Outcome:
    """Pool → scores → calculator for one window. Writes nothing; reads only what the
    calculator asks its context for (credits, history…), through ``conn``.

    ``fail_closed`` names why the distributor's cascades credit no one (e.g.
    ``cascade_without_group``); it is the reason of a period that paid no one for want of
    scores. ``carried_in`` (what earlier periods passed on) is added to the resolved pool.
    """
    pool = plugins.pool(distributor, PoolContext(
        distributor=distributor.spec.id, currency=distributor.currency, period_start=start,
        period_end=end, revenue=max(revenue, 0))) + carried_in
    if pool > STORABLE_MAX:
        raise Unstorable(f"the pool of {distributor.spec.id} for {start.isoformat()}", pool)
    eligible = scores.eligible
    reason = ("zero_pool" if pool == 0 else "no_scores" if not scores.scored
              else "no_eligible_collaborators" if not eligible else None)
    if reason is not None:
        if fail_closed is not None and reason != "zero_pool":
            reason = fail_closed
        return _unallocated(distributor, pool, revenue, reason, carried_in)
    answer = plugins.allocate(distributor, allocation_context(
        conn, distributor, pool, start, end, eligible))
    if isinstance(answer, Decline):
        return _unallocated(distributor, pool, revenue, DECLINED + answer.reason, carried_in)
    # every collaborator the answer names is in ``eligible`` (checked by _Plugins.allocate)
    amounts = tuple(map(answer.get, eligible, repeat(0)))
    del answer  # a large period's peak: its mapping is not held beside the allocations
    return Outcome(pool, revenue, None, Allocations.paid(scores.keys, eligible, amounts),
                   carried_in)


def _unallocated(distributor: ConfiguredDistributor, pool: int, revenue: int, reason: str,
                 carried_in: int) -> Outcome:
    """A period that allocates nothing: its pool is carried forward or forfeited."""
    carry = distributor.spec.unallocated == "carry_forward"
    return Outcome(pool, revenue, reason, Allocations(), carried_in, pool if carry else 0)


def _check_storable(distributor: ConfiguredDistributor, start: datetime,
                    scores: distribution_queries.PeriodScores, revenue: int) -> None:
    """Refuse a period whose scores or revenue the store cannot keep (sums of credits
    beyond 64 bits): a SirenError, so it fails alone and the heartbeat goes on."""
    where = f"{distributor.spec.id} for {start.isoformat()}"
    if abs(revenue) > STORABLE_MAX:
        raise Unstorable(f"the revenue of {where}", revenue)
    if scores.beyond is not None:
        name, points = scores.beyond
        raise Unstorable(f"the score of {name} in {where}", points)


def _allocations(distribution: Distribution, outcome: Outcome,
                 ids: Mapping[int, int]) -> Iterator[Allocation]:
    """The committed allocations of ``distribution``, built from what was written."""
    if not ids:
        return
    for key, name, score, amount in outcome.allocations:
        yield Allocation(
            id=ids[key], distribution_id=distribution.id, distributor=distribution.distributor,
            collaborator=name, score=score, amount=amount, units=distribution.units,
            pool=outcome.pool, calculator=distribution.calculator or "",
            config_version=distribution.config_version or 0)


def period_events(conn: Connection, distribution: Distribution,
                  outcome: Outcome) -> list[Event]:
    """A distributed period's events: completed, then each allocation and each obligation
    (read back through ``conn``, in the transaction that wrote them or after it)."""
    events: list[Event] = [DistributionCompleted(distribution=distribution)]
    if outcome.allocations:
        ids = distribution_queries.allocation_ids(conn, distribution.id)
        events.extend(AllocationCompleted(allocation=allocation)
                      for allocation in _allocations(distribution, outcome, ids))
        events.extend(ObligationIssued(obligation=obligation) for obligation
                      in obligation_queries.distribution_obligations(conn, distribution.id))
    return events


@attrs.define
class _Beat:
    """What one heartbeat has done so far."""

    completed: list[Distribution] = attrs.Factory(list)
    failed: list[tuple[int, str, str]] = attrs.Factory(list)
    done: dict[int, int] = attrs.Factory(dict)
    """distributor store id → periods distributed by this heartbeat"""
    excluded: set[int] = attrs.Factory(set)
    """distributors not to touch again in this heartbeat (failed, capped or paused)"""
    pending: set[int] = attrs.Factory(set)
    """the due periods this heartbeat knows of and has not claimed yet: the last due list,
    and each period it opened that is due already (a catch-up's next one). Once it has
    claimed all of them, no other worker held any, so the heartbeat asks for no more
    (an empty claim) nor waits for any (``still_open``): it reads the due list again."""

    def fail(self, claimed: queries.ClaimedRow, name: str, error: SirenError) -> None:
        self.excluded.add(claimed[1])
        self.failed.append((claimed[0], name, str(error)))

    def report(self) -> HeartbeatReport:
        return HeartbeatReport(tuple(self.completed), tuple(self.failed))


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
        check_instant("now", now)
        self._bus.dispatch(DistributionHeartbeatInitialized(now=now))
        beat = _Beat()
        while True:
            with single_read(self._engine) as conn:
                due = [key for key, owner in distribution_queries.due_distributions(conn, now)
                       if owner not in beat.excluded]
            if not due:  # an idle heartbeat ends here, after one statement
                return beat.report()
            beat.pending = set(due)
            progressed = self._drain(now, beat)
            held: list[int] = []
            if beat.pending:  # some were held by others (or excluded): wait for those
                with unit_of_work(self._engine, write=False) as conn:
                    held = distribution_queries.still_open(conn, due)
            for distribution_id in held:  # held by another worker or an ingestion: wait
                progressed |= self._one(beat, now, distribution_id)
            if not progressed:
                return beat.report()

    def _drain(self, now: datetime, beat: _Beat) -> bool:
        """Distribute the oldest free due period until none is left; whether any was.

        On PostgreSQL each claim skips the periods other workers hold (``SKIP LOCKED``),
        so several workers divide the due periods between them like a job queue.
        """
        progressed = False
        while beat.pending and (done := self._period(
                beat, now, lambda conn: distribution_queries.claim_next(
                    conn, now, beat.excluded))) is not None:
            progressed |= done
        return progressed

    def _one(self, beat: _Beat, now: datetime, distribution_id: int) -> bool:
        """Wait for one period, then distribute it if it is still ours to do."""
        def claim(conn: Connection) -> queries.ClaimedRow | None:
            claimed = queries.claim_distribution(conn, distribution_id)
            return None if claimed is None or claimed[4] > now else claimed
        return bool(self._period(beat, now, claim))

    def _period(self, beat: _Beat, now: datetime,
                claim: Callable[[Connection], queries.ClaimedRow | None]) -> bool | None:
        """Claim a period with ``claim`` and distribute it in one transaction, then fire
        its events: ``None`` when nothing was claimed, else whether it was distributed
        (a failure rolls it back and is noted in ``beat``).

        The cyclic garbage collector is paused meanwhile (:func:`siren_core.collector.paused`:
        a large period's scores, amounts and allocations form no reference cycles); the
        period's objects are freed before it is turned back on."""
        claimed: queries.ClaimedRow | None = None
        with collector.paused():
            try:
                with unit_of_work(self._engine) as conn:
                    claimed = claim(conn)
                    if claimed is None:
                        return None
                    beat.pending.discard(claimed[0])
                    done = self._distribute_claimed(conn, claimed, now, beat)
            except SirenError as exc:  # the period rolled back and stays due
                assert claimed is not None
                self._failed(beat, claimed, exc)
                return False
            if done is None:
                return False
            distribution, outcome, due_next = done
            del done
            if due_next is not None:
                beat.pending.add(due_next)
            beat.completed.append(self._announce(distribution, outcome))
            del outcome
            return True

    def _failed(self, beat: _Beat, claimed: queries.ClaimedRow, error: SirenError) -> None:
        """After the rollback, in a transaction of its own: the period counts one more
        failure and keeps the error (``siren doctor`` shows it)."""
        with unit_of_work(self._engine) as conn:
            operations_queries.record_failure(conn, claimed[0], str(error), self._clock())
            found = queries.get_distribution(conn, claimed[0])
        beat.fail(claimed, found.distributor if found else "?", error)

    def _distribute_claimed(self, conn: Connection, claimed: queries.ClaimedRow,
                            now: datetime, beat: _Beat
                            ) -> tuple[Distribution, Outcome, int | None] | None:
        """Distribute a claimed period in ``conn``'s transaction, unless its distributor is
        paused, failed earlier in this heartbeat or reached its catch-up limit; the period
        as written, its outcome and the next period's id if that one is due by ``now``."""
        if claimed[1] in beat.excluded:
            return None
        distributor = self._catalog.get(conn, claimed[1], claimed[6])
        limit = distributor.spec.catch_up_limit
        if (distributor.spec.status != "active"
                or (limit is not None and beat.done.get(claimed[1], 0) >= limit)):
            beat.excluded.add(claimed[1])
            return None
        outcome = self._outcome(conn, distributor, claimed[3], claimed[4], claimed[5])
        distribution, due_next = self._write(conn, distributor, claimed, outcome, now)
        outbox.record(conn, lambda: period_events(conn, distribution, outcome),
                      any_subscription=claimed[7])
        beat.done[claimed[1]] = beat.done.get(claimed[1], 0) + 1
        return distribution, outcome, due_next

    def _outcome(self, conn: Connection, distributor: ConfiguredDistributor, start: datetime,
                 end: datetime, carried_in: int) -> Outcome:
        scores = distribution_queries.period_scores(conn, distributor.key, start, end)
        revenue = (distribution_queries.period_revenue(conn, distributor.key, start, end)
                   if distributor.pool_resolver.uses_revenue else 0)
        _check_storable(distributor, start, scores, revenue)
        problem = cascade_problem(conn, distributor, self._plugins._registry)
        return compute(conn, distributor, self._plugins, start, end, scores, revenue,
                       fail_closed=problem[0] if problem else None, carried_in=carried_in)

    def _write(self, conn: Connection, distributor: ConfiguredDistributor,
               claimed: queries.ClaimedRow, outcome: Outcome, now: datetime
               ) -> tuple[Distribution, int | None]:
        """Write the period's outcome and open the next period; the period as written
        (nothing is read back: the open period's units are always its distributor's) and
        the next period's id if it is due by ``now`` already."""
        distribution_id, key, index, start, end, _carried, _version, _subscribed = claimed
        distribution_queries.insert_allocations(conn, distribution_id, outcome.allocations)
        distribution_queries.issue_obligations_for(conn, distribution_id,
                                                   distributor.currency.code, now)
        queries.complete_distribution(
            conn, distribution_id, status="completed", pool=outcome.pool,
            revenue=outcome.revenue, reason=outcome.reason, config_version=distributor.version,
            calculator=distributor.calculator.id, now=now, carried_out=outcome.carried_out)
        following = next_period_end(distributor.spec.schedule, end)
        opened = queries.insert_distribution(conn, key, index + 1, end, following,
                                             distributor.currency.code,
                                             carried_in=outcome.carried_out)
        return Distribution(
            id=distribution_id, distributor=distributor.spec.id, period_index=index,
            period_start=start, period_end=end, status="completed",
            units=distributor.currency.code, pool=outcome.pool, revenue=outcome.revenue,
            reason=outcome.reason, config_version=distributor.version,
            calculator=distributor.calculator.id, completed_at=now.astimezone(UTC),
            carried_in=outcome.carried_in, carried_out=outcome.carried_out,
        ), opened if following <= now else None

    def _announce(self, distribution: Distribution, outcome: Outcome) -> Distribution:
        """Fire the events of a committed period; nothing is read back if no one listens
        (and only the allocation ids and obligations for those who do)."""
        events: list[Event] = [DistributionCompleted(distribution=distribution)]
        if self._bus.listening and outcome.allocations:
            with unit_of_work(self._engine, write=False) as conn:
                events = period_events(conn, distribution, outcome)
        self._bus.dispatch_all(events)
        return distribution

    def set_distributor_status(
            self, distributor_id: str, status: str, now: datetime,
            changes: Callable[[str, Mapping[str, Any], int], list[Event]] = lambda *_: [],
    ) -> tuple[Distribution | None, list[Event]]:
        """Pause (``inactive``), resume (``active``) or delete a distributor.

        Resuming skips the open period if it already ended (status ``skipped``, reason
        ``distributor_inactive``) and opens the period holding ``now``: paused time is
        never paid. Returns the period opened on resume (else ``None``) and the events of
        the change, which ``changes(previous status, config, version)`` builds and the
        outbox keeps in the same transaction; they are the caller's to dispatch.
        """
        if status not in DISTRIBUTOR_STATUSES:
            raise InvalidInput("distributor.status", status,
                               f"is not one of {DISTRIBUTOR_STATUSES}")
        check_instant("now", now)
        opened: int | None = None
        with unit_of_work(self._engine) as conn:
            rows = queries.distributor_rows(conn, external_id=distributor_id)
            if not rows:
                raise NotFound("distributor", distributor_id)
            key, _external, previous, config, version = rows[0]
            queries.set_distributor_status(conn, key, status, now)
            if status == "active" and previous != "active":
                opened = self._resume(conn, self._catalog.get(conn, key), now)
            announced = changes(previous, config, version)
            outbox.record(conn, announced)
        if opened is None:
            return None, announced
        with unit_of_work(self._engine, write=False) as conn:
            return queries.get_distribution(conn, opened), announced

    @staticmethod
    def _resume(conn: Connection, distributor: ConfiguredDistributor,
                now: datetime) -> int | None:
        open_rows = queries.list_distributions(conn, distributor_id=distributor.spec.id,
                                               status="open")
        if not open_rows or open_rows[0].period_end > now:
            return None
        claimed = queries.claim_distribution(conn, open_rows[0].id)
        if claimed is None:  # pragma: no cover - distributed by a heartbeat meanwhile
            return None
        # carried: the pool passed on by the periods before, through the paused time
        distribution_id, key, index, _start, _end, carried, _version, _subscribed = claimed
        queries.complete_distribution(
            conn, distribution_id, status="skipped", pool=None, revenue=None,
            reason="distributor_inactive", config_version=distributor.version,
            calculator=None, now=now, carried_out=carried)
        schedule = distributor.spec.schedule
        following = max(schedules.period_index_at(schedule, now), index + 1)
        start, end = schedules.period(schedule, following)
        return queries.insert_distribution(conn, key, following, start, end,
                                          distributor.currency.code, carried_in=carried)

    def preview(self, distributor_id: str, now: datetime) -> Preview:
        """What the open period would pay if it closed at ``now``; writes nothing."""
        check_instant("now", now)
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
            outcome = self._outcome(conn, distributor, distribution.period_start, end,
                                    distribution.carried_in)
            late = distribution_queries.late_credits(conn, distributor.key,
                                                     distribution.period_start, end)
        return Preview(distribution, end, outcome, late)
