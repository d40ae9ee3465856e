"""Recording under concurrency, with real connections: an event for a period being
closed waits for the close and counts late in the next period (never in none); the
refunds of one sale take turns; a key recorded by several writers at once is recorded
once, the others get ``duplicate`` (or ``Conflict``), never a database error.

Each race is made certain, not likely: the writers are held behind a lock taken by
another connection (a heartbeat paused in its calculator, or a transaction locking the
open periods) until the database shows them all waiting."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from reliability.locks import (
    HOLD_SECONDS,
    HeldCalculator,
    open_periods_locked,
    wait_for_waiters,
)

from siren_core import Kernel, store
from siren_core.domain import RecordResult
from siren_core.errors import Conflict, InvalidInput
from siren_core.store.queries import collaborator

from conftest import at, monthly, sale

MakeKernel = Callable[..., Kernel]
FEBRUARY = at("2026-02-01")


def _credits_of(kernel: Kernel, key: str) -> list[tuple[int, bool, datetime]]:
    with store.unit_of_work(kernel.engine, write=False) as conn:
        rows = conn.execute(sa.text(
            "SELECT c.points, c.late, c.effective_at FROM score_credit c "
            "JOIN source_event e ON e.id = c.source_event_id WHERE e.key = :key "
            "ORDER BY c.id"), {"key": key}).all()
    return [(int(points), bool(late), _moment(when)) for points, late, when in rows]


def _moment(value: Any) -> datetime:
    return at(value) if isinstance(value, str) else at(value.isoformat())


def _outcome(future: Future[Any]) -> Any:
    error = future.exception(HOLD_SECONDS * 2)
    return error if error is not None else future.result()


def _held_heartbeat(make_kernel: MakeKernel) -> tuple[HeldCalculator, Kernel, Kernel]:
    held = HeldCalculator()
    beating = make_kernel(plugins=[held])
    recording = make_kernel(plugins=[held])
    beating.create_collaborator("ana")
    beating.create_distributor(monthly(calculator={"id": "held"}))
    beating.record("sale", sale("o-1", "ana", "10.00", "2026-01-05T10:00:00Z"))
    return held, beating, recording


def _during_held_heartbeat(database_url: str, held: HeldCalculator, beating: Kernel,
                           record: Callable[[], Any]) -> Any:
    """Record while a heartbeat distributes January, its transaction held open."""
    with ThreadPoolExecutor(2) as pool:
        heartbeat = pool.submit(beating.heartbeat, FEBRUARY)
        assert held.started.wait(HOLD_SECONDS)
        recorded = pool.submit(record)
        wait_for_waiters(database_url, 1)
        held.release.set()
        assert len(_outcome(heartbeat).completed) == 1
        result = _outcome(recorded)
    assert not isinstance(result, BaseException), result
    return result


def test_a_sale_recorded_while_its_period_closes_counts_late_in_the_next(
        make_kernel: MakeKernel, database_url: str) -> None:
    held, beating, recording = _held_heartbeat(make_kernel)
    result = _during_held_heartbeat(database_url, held, beating, lambda: recording.record(
        "sale", sale("o-2", "ana", "10.00", "2026-01-20T10:00:00Z")))
    assert result.credits == 1
    assert _credits_of(beating, "o-2") == [(10, True, FEBRUARY)]
    [january] = beating.distributions(status="completed")
    assert [a.score for a in beating.allocations(january.id)] == [10]  # unchanged


def test_a_warm_recorder_locking_the_period_in_its_first_statement_counts_late_too(
        make_kernel: MakeKernel, database_url: str) -> None:
    """A recorder whose catalog is warm locks the open period it expects in its first
    statement (PostgreSQL): it waits there for the close, misses the closed period and
    finds the next one, as a cold one does."""
    held, beating, recording = _held_heartbeat(make_kernel)
    recording.record("sale", sale("o-0", "ana", "10.00", "2026-01-03T10:00:00Z"))
    result = _during_held_heartbeat(database_url, held, beating, lambda: recording.record(
        "sale", sale("o-2", "ana", "10.00", "2026-01-20T10:00:00Z")))
    assert result.credits == 1 and result.late == 1
    assert _credits_of(beating, "o-2") == [(10, True, FEBRUARY)]
    [january] = beating.distributions(status="completed")
    assert [a.score for a in beating.allocations(january.id)] == [20]  # o-0 and o-1


def test_a_batch_recorded_while_its_period_closes_counts_late_in_the_next(
        make_kernel: MakeKernel, database_url: str) -> None:
    held, beating, recording = _held_heartbeat(make_kernel)
    report = _during_held_heartbeat(database_url, held, beating, lambda: recording.record_many(
        [{"type": "sale", **sale(f"b-{n}", "ana", "10.00", "2026-01-20T10:00:00Z")}
         for n in range(3)]))
    assert (report.inserted, report.credits) == (3, 3)
    assert [_credits_of(beating, f"b-{n}") for n in range(3)] == [[(10, True, FEBRUARY)]] * 3


def test_a_refund_recorded_while_its_sales_period_closes_is_booked_late(
        make_kernel: MakeKernel, database_url: str) -> None:
    held, beating, recording = _held_heartbeat(make_kernel)
    result = _during_held_heartbeat(database_url, held, beating, lambda: recording.record(
        "refund", {"id": "r-1", "at": "2026-01-25T00:00:00Z", "sale": "o-1"}))
    assert result.credits == 1
    assert _credits_of(beating, "r-1") == [(-10, True, FEBRUARY)]


def test_concurrent_refunds_of_the_remainder_one_wins(make_kernel: MakeKernel,
                                                     database_url: str) -> None:
    kernels = [make_kernel() for _ in range(4)]
    kernels[0].create_collaborator("ana")
    kernels[0].create_distributor(monthly())
    kernels[0].record("sale", sale("o-1", "ana", "20.00"))
    with ThreadPoolExecutor(4) as pool:
        with open_periods_locked(database_url):
            futures = [pool.submit(kernel.record, "refund", {
                "id": f"r-{n}", "at": "2026-01-06T00:00:00Z", "sale": "o-1"})
                for n, kernel in enumerate(kernels)]
            wait_for_waiters(database_url, 4)
        outcomes = [_outcome(future) for future in futures]
    won = [o for o in outcomes if isinstance(o, RecordResult)]
    refused = [o for o in outcomes if isinstance(o, InvalidInput)]
    assert len(won) == 1 and len(refused) == 3, outcomes
    assert {(e.field, e.value, e.problem) for e in refused} == {
        ("refund.sale", "o-1", "is already fully refunded")}
    with store.unit_of_work(kernels[0].engine, write=False) as conn:
        refunded = conn.execute(sa.text("SELECT sum(amount) FROM sale_refund")).scalar_one()
        points = conn.execute(sa.text("SELECT sum(points) FROM score_credit")).scalar_one()
    assert (refunded, points) == (2000, 0)


WORKERS = 8
SALES = 10


def _payload(worker: int, n: int) -> dict[str, Any]:
    """Workers 6 and 7 send other content under the same ids: conflicts."""
    return sale(f"o-{n}", "ana", "11.00" if worker >= 6 else "10.00")


def test_the_same_sale_from_many_writers_is_recorded_once(make_kernel: MakeKernel,
                                                         database_url: str) -> None:
    kernels = [make_kernel() for _ in range(WORKERS)]
    kernels[0].create_collaborator("ana")
    kernels[0].create_distributor(monthly())

    def send(worker: int) -> list[Any]:
        outcomes: list[Any] = []
        for n in range(SALES):
            try:
                outcomes.append(kernels[worker].record("sale", _payload(worker, n)))
            except Conflict as exc:
                outcomes.append(exc)
        return outcomes

    with ThreadPoolExecutor(WORKERS) as pool:
        with open_periods_locked(database_url):  # every first sale waits at one point
            futures = [pool.submit(send, worker) for worker in range(WORKERS)]
            wait_for_waiters(database_url, WORKERS)
        outcomes = [_outcome(future) for future in futures]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert not errors, errors
    with store.unit_of_work(kernels[0].engine, write=False) as conn:
        stored = dict(conn.execute(sa.text("SELECT key, amount FROM source_event")).all())
    assert len(stored) == SALES
    for n in range(SALES):
        got = [outcomes[worker][n] for worker in range(WORKERS)]
        first = [o for o in got if isinstance(o, RecordResult) and not o.duplicate]
        assert len(first) == 1, got
        for worker, outcome in enumerate(got):
            same = (1100 if worker >= 6 else 1000) == stored[f"o-{n}"]
            if same:
                assert isinstance(outcome, RecordResult) and outcome.credits == 1
            else:
                assert isinstance(outcome, Conflict), (worker, outcome)


def test_the_same_batch_from_many_writers_is_recorded_once(make_kernel: MakeKernel,
                                                          database_url: str) -> None:
    kernels = [make_kernel() for _ in range(WORKERS)]
    kernels[0].create_collaborator("ana")
    kernels[0].create_distributor(monthly())
    batch = [{"type": "sale", **_payload(0, n)} for n in range(SALES)]
    with ThreadPoolExecutor(WORKERS) as pool:
        with open_periods_locked(database_url):
            futures = [pool.submit(kernel.record_many, batch) for kernel in kernels]
            wait_for_waiters(database_url, WORKERS)
        outcomes = [_outcome(future) for future in futures]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert not errors, errors
    assert sum(report.inserted for report in outcomes) == SALES
    assert sum(report.duplicates for report in outcomes) == SALES * (WORKERS - 1)
    assert all(not report.rejected for report in outcomes)


def test_racing_creates_of_one_collaborator_give_conflict(make_kernel: MakeKernel,
                                                         database_url: str) -> None:
    kernels = [make_kernel() for _ in range(WORKERS)]
    engine = store.open_engine(database_url)
    now = at("2026-01-01")
    with ThreadPoolExecutor(WORKERS) as pool, engine.connect() as conn:
        transaction = conn.begin()  # a create of "ana" in flight, not committed yet
        conn.execute(collaborator.insert().values(
            external_id="ana", name="First", status="active", created_at=now,
            updated_at=now))
        futures = [pool.submit(kernel.create_collaborator, "ana", name=f"Racer {n}")
                   for n, kernel in enumerate(kernels)]
        wait_for_waiters(database_url, WORKERS)
        transaction.commit()
        outcomes = [_outcome(future) for future in futures]
    engine.dispose()
    assert all(isinstance(o, Conflict) for o in outcomes), outcomes
    assert [(c.id, c.name) for c in kernels[0].collaborators()] == [("ana", "First")]


@pytest.mark.parametrize("racers", [4])
def test_racing_creates_without_a_holder_give_one_collaborator(
        make_kernel: MakeKernel, racers: int) -> None:
    kernels = [make_kernel() for _ in range(racers)]
    with ThreadPoolExecutor(racers) as pool:
        futures = [pool.submit(kernel.create_collaborator, "ben") for kernel in kernels]
        outcomes = [_outcome(future) for future in futures]
    assert sum(1 for o in outcomes if not isinstance(o, Conflict)) == 1, outcomes
    assert sum(1 for o in outcomes if isinstance(o, Conflict)) == racers - 1
