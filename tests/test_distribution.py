"""The distribution engine: worked numbers, schedules, catch-up, pause/resume,
exactly-once under races, crashes and failing plugins, preview, events, idle cost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel, hookimpl
from siren_core.events import AllocationCompleted, DistributionCompleted, Event
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext, PoolContext, PoolResolver
from siren_core.store import distribution_queries

from conftest import at, driver_statements, monthly, sale, statements

MakeKernel = Callable[..., Kernel]


def revenue_pool(percent: str) -> dict[str, str]:
    return {"resolver": "revenue_percentage", "percent": percent}


def sellers(kernel: Kernel, *names: str) -> None:
    for name in names:
        kernel.create_collaborator(name)


def sales(kernel: Kernel, seller: str | None, count: int, amount: str, prefix: str,
          when: str = "2026-01-10T12:00:00Z") -> None:
    for i in range(count):
        kernel.record("sale", sale(f"{prefix}-{i}", seller, amount, when))


def paid(kernel: Kernel, distribution: int | None = None) -> dict[str, int]:
    return {a.collaborator: a.amount for a in kernel.allocations(distribution)}


# -- Siren's worked numbers, driven through the kernel ----------------------------------

def test_shared_engagement_pool_pays_500_each(kernel: Kernel) -> None:
    names = [f"c{i}" for i in range(10)]
    sellers(kernel, *names)
    kernel.create_distributor(monthly(pool=revenue_pool("10"),
                                      calculator={"id": "equal_share"}))
    for name in names[:9]:
        sales(kernel, name, 1, "5000.00", name)
    sales(kernel, "c9", 10, "500.00", "c9")  # ten times the score, the same pay
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert (done.revenue, done.pool) == (5_000_000, 500_000)
    assert paid(kernel) == dict.fromkeys(names, 50_000)


def test_the_reported_periods_are_the_stored_ones(kernel: Kernel) -> None:
    """The heartbeat builds its report from what it wrote instead of reading it back: it
    must equal the stored rows, a paying period, one that paid no one and a caught-up
    one alike, with a clock in another time zone."""
    sellers(kernel, "ana", "ben")
    kernel.create_distributor(monthly(pool=revenue_pool("10")))
    sales(kernel, "ana", 2, "30.00", "ana")
    sales(kernel, "ben", 1, "10.00", "ben")
    paris = timezone(timedelta(hours=1))
    report = kernel.heartbeat(datetime(2026, 3, 1, 12, tzinfo=paris))
    assert [d.reason for d in report.completed] == [None, "zero_pool"]
    assert report.completed == tuple(kernel.distributions(status="completed"))
    assert [d.completed_at for d in report.completed] == [at("2026-03-01T11:00:00")] * 2
    assert all(d.completed_at.tzinfo is UTC for d in report.completed if d.completed_at)


def test_performance_weighted_pool_pays_3000_1800_1200(kernel: Kernel) -> None:
    sellers(kernel, "ana", "ben", "cy")
    kernel.create_distributor(monthly(
        pool=revenue_pool("15"), metrics=[{"type": "sale", "points": 100}]))
    for name, count in (("ana", 5), ("ben", 3), ("cy", 2)):
        sales(kernel, name, count, "4000.00", name)
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert (done.revenue, done.pool) == (4_000_000, 600_000)
    allocations = kernel.allocations()
    assert [(a.collaborator, a.score, a.amount) for a in allocations] == [
        ("ana", 500, 300_000), ("ben", 300, 180_000), ("cy", 200, 120_000)]
    assert {(a.pool, a.calculator, a.config_version) for a in allocations} == {
        (600_000, "proportional", 1)}


def test_top_score_wins_gives_5000_to_the_850(kernel: Kernel) -> None:
    sellers(kernel, "ana", "ben", "cy")
    kernel.create_distributor(monthly(pool=revenue_pool("5"), calculator={"id": "top_score"}))
    for name, count in (("ana", 85), ("ben", 72), ("cy", 43)):
        sales(kernel, name, count, "500.00", name)
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert (done.revenue, done.pool) == (10_000_000, 500_000)
    assert [(a.collaborator, a.score, a.amount) for a in kernel.allocations()] == [
        ("ana", 850, 500_000)]
    assert [(o.collaborator, o.amount) for o in kernel.obligations()] == [("ana", 500_000)]


def test_organic_revenue_feeds_the_pool_and_pays_no_one_directly(kernel: Kernel) -> None:
    sellers(kernel, "ana")
    kernel.create_distributor(monthly(pool=revenue_pool("12.5")))
    sales(kernel, "ana", 1, "10.00", "a")
    sales(kernel, None, 1, "0.07", "organic")
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert (done.revenue, done.pool) == (1007, 125)  # 125.875 cents, floored
    assert paid(kernel) == {"ana": 125}


def test_a_top_score_tie_follows_the_configured_rule(kernel: Kernel) -> None:
    sellers(kernel, "ana", "ben")
    kernel.create_distributor(monthly("split", pool={"resolver": "fixed", "amount": "0.03"},
                                      calculator={"id": "top_score"}))
    kernel.create_distributor(monthly("lowest", pool={"resolver": "fixed", "amount": "0.03"},
                                      calculator={"id": "top_score", "ties": "lowest_id"}))
    sales(kernel, "ben", 1, "1.00", "b")
    sales(kernel, "ana", 1, "1.00", "a")
    split_run, lowest_run = sorted(kernel.heartbeat(at("2026-02-01")).completed,
                                   key=lambda d: d.distributor)[::-1]
    assert paid(kernel, split_run.id) == {"ana": 2, "ben": 1}
    assert paid(kernel, lowest_run.id) == {"ana": 3}


# -- schedules: stored UTC bounds --------------------------------------------------------

def bounds(kernel: Kernel, distributor: str) -> list[tuple[str, str]]:
    return [(d.period_start.isoformat(), d.period_end.isoformat())
            for d in kernel.distributions(distributor=distributor)]


def test_month_end_anchored_periods_are_stored_in_utc(kernel: Kernel) -> None:
    kernel.create_distributor(monthly("common-year", start="2026-01-31",
                                      timezone="Europe/Berlin"))
    kernel.heartbeat(at("2026-03-31"))
    assert bounds(kernel, "common-year") == [
        ("2026-01-30T23:00:00+00:00", "2026-02-27T23:00:00+00:00"),
        ("2026-02-27T23:00:00+00:00", "2026-03-30T22:00:00+00:00"),  # after CEST began
        ("2026-03-30T22:00:00+00:00", "2026-04-29T22:00:00+00:00")]
    kernel.create_distributor(monthly("month-end", start="2028-01-31"))
    kernel.heartbeat(at("2028-05-01"))
    assert bounds(kernel, "month-end") == [
        ("2028-01-31T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
        ("2028-02-29T00:00:00+00:00", "2028-03-31T00:00:00+00:00"),
        ("2028-03-31T00:00:00+00:00", "2028-04-30T00:00:00+00:00"),
        ("2028-04-30T00:00:00+00:00", "2028-05-31T00:00:00+00:00")]


def test_new_york_periods_follow_daylight_saving_time(kernel: Kernel) -> None:
    kernel.create_distributor(monthly("ny-daily", schedule="daily", start="2026-03-07",
                                      timezone="America/New_York"))
    kernel.create_distributor(monthly("ny-monthly", start="2026-10-01",
                                      timezone="America/New_York"))
    kernel.heartbeat(at("2026-12-01T05:00"))
    assert bounds(kernel, "ny-daily")[:3] == [
        ("2026-03-07T05:00:00+00:00", "2026-03-08T05:00:00+00:00"),
        ("2026-03-08T05:00:00+00:00", "2026-03-09T04:00:00+00:00"),  # 23 hours
        ("2026-03-09T04:00:00+00:00", "2026-03-10T04:00:00+00:00")]
    assert bounds(kernel, "ny-monthly") == [
        ("2026-10-01T04:00:00+00:00", "2026-11-01T04:00:00+00:00"),
        ("2026-11-01T04:00:00+00:00", "2026-12-01T05:00:00+00:00"),  # fall back
        ("2026-12-01T05:00:00+00:00", "2027-01-01T05:00:00+00:00")]


def test_siren_modifier_schedules_are_accepted(kernel: Kernel) -> None:
    kernel.create_distributor(monthly("fortnight", schedule=["+14 days"], start="2026-01-05"))
    kernel.create_distributor(monthly("siren-monthly", schedule=["first day of next month"],
                                      start="2026-01-15"))
    kernel.heartbeat(at("2026-02-03"))
    assert bounds(kernel, "fortnight") == [
        ("2026-01-05T00:00:00+00:00", "2026-01-19T00:00:00+00:00"),
        ("2026-01-19T00:00:00+00:00", "2026-02-02T00:00:00+00:00"),
        ("2026-02-02T00:00:00+00:00", "2026-02-16T00:00:00+00:00")]
    assert bounds(kernel, "siren-monthly") == [
        ("2026-01-15T00:00:00+00:00", "2026-02-01T00:00:00+00:00"),
        ("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00")]


# -- catch-up ----------------------------------------------------------------------------

def three_months_of_sales(kernel: Kernel, **overrides: Any) -> None:
    sellers(kernel, "jan", "feb", "mar")
    kernel.create_distributor(monthly(**overrides))
    sales(kernel, "jan", 1, "1.00", "j", "2026-01-20T00:00:00Z")
    sales(kernel, "feb", 2, "1.00", "f", "2026-02-20T00:00:00Z")
    sales(kernel, "mar", 3, "1.00", "m", "2026-03-31T23:59:59Z")


def test_three_missed_months_are_caught_up_in_order(kernel: Kernel) -> None:
    three_months_of_sales(kernel)
    report = kernel.heartbeat(at("2026-04-01T00:00:01"))
    assert [d.period_start for d in report.completed] == [
        at("2026-01-01"), at("2026-02-01"), at("2026-03-01")]
    assert [[(a.collaborator, a.score, a.amount) for a in kernel.allocations(d.id)]
            for d in report.completed] == [
        [("jan", 10, 100_000)], [("feb", 20, 100_000)], [("mar", 30, 100_000)]]
    assert [d.status for d in kernel.distributions()] == ["completed"] * 3 + ["open"]
    before = kernel.table_counts()
    again = kernel.heartbeat(at("2026-04-01T00:00:01"))
    assert (again.completed, again.failed) == ((), ())
    assert kernel.table_counts() == before


def test_the_catch_up_cap_limits_periods_per_heartbeat(kernel: Kernel) -> None:
    three_months_of_sales(kernel, catch_up_limit=2)
    first = kernel.heartbeat(at("2026-04-02"))
    assert [d.period_start for d in first.completed] == [at("2026-01-01"), at("2026-02-01")]
    second = kernel.heartbeat(at("2026-04-02"))
    assert [d.period_start for d in second.completed] == [at("2026-03-01")]
    assert paid(kernel, second.completed[0].id) == {"mar": 100_000}


# -- pause and resume --------------------------------------------------------------------

def test_an_inactive_distributor_accrues_and_pays_nothing_and_resumes_fresh(
        kernel: Kernel) -> None:
    sellers(kernel, "ana")
    kernel.create_distributor(monthly())
    sales(kernel, "ana", 1, "1.00", "before-pause", "2026-01-10T00:00:00Z")
    assert kernel.set_distributor_status("monthly-bonus", "inactive",
                                         now=at("2026-01-15")) is None
    sales(kernel, "ana", 1, "1.00", "paused", "2026-01-20T00:00:00Z")
    assert kernel.heartbeat(at("2026-03-05")).completed == ()
    assert kernel.distributor("monthly-bonus").spec.status == "inactive"
    opened = kernel.set_distributor_status("monthly-bonus", "active", now=at("2026-03-10"))
    assert opened is not None
    assert (opened.period_start, opened.period_end, opened.status) == (
        at("2026-03-01"), at("2026-04-01"), "open")
    skipped = kernel.distributions(status="skipped")
    assert [(d.period_start, d.reason, d.pool) for d in skipped] == [
        (at("2026-01-01"), "distributor_inactive", None)]
    sales(kernel, "ana", 2, "1.00", "resumed", "2026-03-12T00:00:00Z")
    [done] = kernel.heartbeat(at("2026-04-01")).completed
    assert done.id == opened.id
    assert [(a.score, a.amount) for a in kernel.allocations()] == [(20, 100_000)]
    assert kernel.table_counts()["score_credit"] == 3  # the paused sale credited nothing


def test_resuming_before_the_open_period_ends_keeps_it(kernel: Kernel) -> None:
    sellers(kernel, "ana")
    kernel.create_distributor(monthly())
    sales(kernel, "ana", 1, "1.00", "a", "2026-01-03T00:00:00Z")
    kernel.set_distributor_status("monthly-bonus", "inactive", now=at("2026-01-05"))
    assert kernel.set_distributor_status("monthly-bonus", "active",
                                         now=at("2026-01-06")) is None
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert paid(kernel, done.id) == {"ana": 100_000}


def test_a_bad_status_or_distributor_is_refused(kernel: Kernel) -> None:
    from siren_core.errors import InvalidInput, NotFound
    kernel.create_distributor(monthly())
    with pytest.raises(InvalidInput) as caught:
        kernel.set_distributor_status("monthly-bonus", "paused")
    assert (caught.value.field, caught.value.value) == ("distributor.status", "paused")
    with pytest.raises(NotFound):
        kernel.set_distributor_status("nobody", "inactive")


# -- reasons -----------------------------------------------------------------------------

def test_a_period_paying_no_one_records_why(kernel: Kernel) -> None:
    sellers(kernel, "ana")
    kernel.create_distributor(monthly("zero", pool={"resolver": "fixed", "amount": "0"}))
    kernel.create_distributor(monthly("empty", metrics=[]))
    kernel.create_distributor(monthly("no-revenue", pool=revenue_pool("10"),
                                      metrics=[{"type": "sale", "points": 1}]))
    kernel.create_distributor(monthly("ineligible"))
    sales(kernel, "ana", 1, "0.00", "a")
    kernel.set_collaborator_status("ana", "inactive")
    completed = kernel.heartbeat(at("2026-02-01")).completed
    reasons = {d.distributor: (d.reason, d.pool) for d in completed}
    assert reasons == {"zero": ("zero_pool", 0), "empty": ("no_scores", 100_000),
                       "no-revenue": ("zero_pool", 0),
                       "ineligible": ("no_eligible_collaborators", 100_000)}
    assert kernel.allocations() == () and kernel.obligations() == ()


# -- exactly once ------------------------------------------------------------------------

def test_racing_heartbeats_distribute_each_period_once(make_kernel: MakeKernel) -> None:
    setup = make_kernel()
    three_months_of_sales(setup)
    setup.create_distributor(monthly("second", pool={"resolver": "fixed", "amount": "7.00"}))
    sales(setup, "feb", 1, "1.00", "second", "2026-02-02T00:00:00Z")
    workers = [make_kernel() for _ in range(8)]
    barrier = threading.Barrier(len(workers))
    reports: list[int] = []
    errors: list[BaseException] = []

    def beat(worker: Kernel) -> None:
        try:
            barrier.wait()
            reports.append(len(worker.heartbeat(at("2026-04-01")).completed))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=beat, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(reports) == 6  # 3 periods of each distributor, each by exactly one worker
    counts = setup.table_counts()
    completed = setup.distributions(status="completed")
    assert len(completed) == 6 and len(setup.distributions(status="open")) == 2
    assert counts["allocation"] == counts["obligation"] == 4
    assert sum(a.amount for a in setup.allocations()) == 3 * 100_000 + 700


class Exploding:
    """A test plugin whose calculator and pool resolver raise."""

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        def allocate(context: AllocationContext, _config: Any) -> dict[str, int]:
            raise RuntimeError("calculator blew up")

        def too_much(context: AllocationContext, _config: Any) -> dict[str, int]:
            return {name: context.pool for name in context.scores}

        return [AllocationCalculator(id="exploding", description="raises", allocate=allocate),
                AllocationCalculator(id="greedy", description="pays too much",
                                     allocate=too_much)]

    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        def resolve(context: PoolContext, _config: Any) -> int:
            raise RuntimeError("pool blew up")

        return [PoolResolver(id="exploding_pool", description="raises", resolve=resolve)]


@pytest.mark.parametrize(("setting", "message"), [
    ({"calculator": {"id": "exploding"}}, "calculator blew up"),
    ({"calculator": {"id": "greedy"}}, "allocated 200000 of a pool of 100000"),
    ({"pool": {"resolver": "exploding_pool"}}, "pool blew up"),
])
def test_a_raising_plugin_rolls_its_period_back_and_others_complete(
        make_kernel: MakeKernel, setting: dict[str, Any], message: str) -> None:
    kernel = make_kernel(plugins=[Exploding()])
    sellers(kernel, "ana", "ben")
    kernel.create_distributor(monthly("broken", **setting))
    kernel.create_distributor(monthly("healthy"))
    sales(kernel, "ana", 1, "1.00", "a")
    sales(kernel, "ben", 1, "1.00", "b")
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    report = kernel.heartbeat(at("2026-03-02"))
    assert [(d.distributor, d.period_start) for d in report.completed] == [
        ("healthy", at("2026-01-01")), ("healthy", at("2026-02-01"))]
    [(_, name, error)] = report.failed
    assert name == "broken" and message in error and "Exploding" in error
    assert [d.status for d in kernel.distributions(distributor="broken")] == ["open"]
    assert {a.distributor for a in kernel.allocations()} == {"healthy"}
    assert len(kernel.obligations()) == 2
    assert all(getattr(e, "distribution", None) is None
               or e.distribution.distributor == "healthy" for e in seen)


def test_a_crash_between_allocations_and_obligations_rolls_back_entirely(
        kernel: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    three_months_of_sales(kernel)
    before = kernel.table_counts()
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    written: list[int] = []

    def crash(conn: sa.Connection, distribution_id: int, *_args: Any) -> int:
        written.append(len(distribution_queries.list_allocations(conn, distribution_id)))
        raise RuntimeError("power cut")

    monkeypatch.setattr(distribution_queries, "issue_obligations_for", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        kernel.heartbeat(at("2026-02-01"))
    assert written == [1]  # the allocations were written when it crashed
    assert kernel.table_counts() == before
    assert [d.status for d in kernel.distributions()] == ["open"]
    assert [e.event_id for e in seen] == ["distribution_heartbeat_initialized"]
    monkeypatch.undo()
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert paid(kernel, done.id) == {"jan": 100_000}
    assert len(kernel.obligations()) == 1


# -- preview -----------------------------------------------------------------------------

def test_preview_equals_the_real_run_and_writes_nothing(kernel: Kernel) -> None:
    sellers(kernel, "ana", "ben", "cy")
    kernel.create_distributor(monthly(pool=revenue_pool("7.5")))
    sales(kernel, "ana", 3, "33.33", "a")
    sales(kernel, "ben", 1, "0.01", "b")
    sales(kernel, "cy", 2, "19.99", "c")
    before = kernel.table_counts()
    preview = kernel.preview("monthly-bonus", at("2026-02-01"))
    assert kernel.table_counts() == before
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert preview.distribution.id == done.id
    assert (preview.outcome.pool, preview.outcome.revenue, preview.outcome.reason) == (
        done.pool, done.revenue, done.reason)
    assert [(name, score, amount) for _key, name, score, amount
            in preview.outcome.allocations] == [
        (a.collaborator, a.score, a.amount) for a in kernel.allocations(done.id)]
    assert sum(a.amount for a in kernel.allocations()) == done.pool


def test_preview_mid_period_covers_the_period_so_far(kernel: Kernel) -> None:
    sellers(kernel, "ana", "ben")
    kernel.create_distributor(monthly())
    sales(kernel, "ana", 1, "1.00", "a", "2026-01-05T00:00:00Z")
    sales(kernel, "ben", 1, "1.00", "b", "2026-01-25T00:00:00Z")
    preview = kernel.preview("monthly-bonus", at("2026-01-10"))
    assert preview.window_end == at("2026-01-10")
    assert [(name, amount) for _k, name, _s, amount in preview.outcome.allocations] == [
        ("ana", 100_000)]


# -- events ------------------------------------------------------------------------------

def test_listeners_see_committed_distributions(make_kernel: MakeKernel) -> None:
    kernel = make_kernel()
    observer = make_kernel()  # another connection: sees only committed data
    three_months_of_sales(kernel)
    seen: list[tuple[str, Any]] = []

    def listener(event: Event) -> None:
        if isinstance(event, DistributionCompleted):
            [stored] = [d for d in observer.distributions() if d.id == event.distribution.id]
            seen.append(("distribution", (stored.status, event.distribution.status)))
        elif isinstance(event, AllocationCompleted):
            obligations = observer.obligations(collaborator=event.allocation.collaborator)
            seen.append(("allocation", [o.source_id for o in obligations]))

    kernel.subscribe(listener)
    kernel.heartbeat(at("2026-03-01"))
    ids = [a.id for a in kernel.allocations()]
    assert seen == [("distribution", ("completed", "completed")), ("allocation", [ids[0]]),
                    ("distribution", ("completed", "completed")), ("allocation", [ids[1]])]
    announced: list[Any] = []
    kernel.subscribe(lambda event: announced.append(getattr(event, "allocation", None)))
    sellers(kernel, "apr")
    sales(kernel, "apr", 2, "1.00", "apr", "2026-03-05T00:00:00Z")
    sales(kernel, "mar", 1, "1.00", "apr-mar", "2026-03-06T00:00:00Z")
    [march] = kernel.heartbeat(at("2026-04-01")).completed
    assert tuple(a for a in announced if a is not None) == kernel.allocations(march.id)
    assert DistributionCompleted.event_id == "distribution_completed"
    assert DistributionCompleted.siren_event_id == "distribution_initialized"


# -- idle cost ---------------------------------------------------------------------------

def test_an_idle_heartbeat_runs_one_statement(kernel: Kernel) -> None:
    for i in range(40):
        kernel.create_distributor(monthly(f"d{i:02}"))
    kernel.heartbeat(at("2026-02-01"))  # distributes January, warms the caches
    with statements(kernel) as seen:
        report = kernel.heartbeat(at("2026-02-15"))
    assert report.completed == ()
    # the due check is one indexed query; nothing is written (other heartbeat duties, such
    # as approving held obligations, run their own queries and are not counted here)
    assert [s for s in seen if "FROM distribution " in s or "FROM distribution\n" in s] == [
        next(s for s in seen if "period_end <=" in s)]
    assert not [s for s in seen if s.split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]


def test_the_split_used_is_the_money_split(kernel: Kernel) -> None:
    sellers(kernel, "a", "b", "c")
    kernel.create_distributor(monthly(pool={"resolver": "fixed", "amount": "0.10"},
                                      metrics=[{"type": "sale", "value": "amount"}]))
    sales(kernel, "a", 1, "3.33", "a")
    sales(kernel, "b", 1, "3.33", "b")
    sales(kernel, "c", 1, "3.34", "c")
    kernel.heartbeat(at("2026-02-01"))
    assert paid(kernel) == split(10, {"a": 333, "b": 333, "c": 334})


def test_a_period_held_by_an_ingestion_is_waited_for_not_left_behind(
        make_kernel: MakeKernel, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole transactions")
    kernel = make_kernel()
    three_months_of_sales(kernel)
    kernel.create_distributor(monthly("free"))
    holder = kernel.engine.connect()
    transaction = holder.begin()
    holder.execute(sa.text("SELECT d.id FROM distribution d JOIN distributor r ON "
                           "r.id = d.distributor_id WHERE r.external_id = 'monthly-bonus' "
                           "FOR SHARE OF d"))  # as an in-flight ingestion does
    reports: list[Any] = []
    worker = threading.Thread(target=lambda: reports.append(kernel.heartbeat(at("2026-02-01"))))
    worker.start()
    worker.join(1.0)
    assert worker.is_alive()  # the free distributor went first; now it waits for the lock
    assert [d.status for d in kernel.distributions(distributor="free")] == ["completed", "open"]
    transaction.rollback()
    holder.close()
    worker.join()
    [report] = reports
    assert [d.distributor for d in report.completed] == ["free", "monthly-bonus"]


def test_a_sqlite_period_reads_its_rows_through_indexes(tmp_path: Any) -> None:
    """Every statement of a distributing heartbeat searches an index, none scans a growing
    table; the scores come from the covering window index alone, the audit entries from
    this distribution's allocations (the CROSS JOIN fixes that loop order)."""
    kernel = Kernel(f"sqlite:///{tmp_path / 'plans.db'}")
    sellers(kernel, "ana", "ben")
    kernel.create_distributor(monthly(pool=revenue_pool("10")))
    sales(kernel, "ana", 2, "30.00", "ana")
    with driver_statements(kernel) as seen:  # with their values, as the driver ran them
        kernel.heartbeat(at("2026-02-01"))
    statements = [s for s in seen if s.startswith(("SELECT", "INSERT INTO obligation"))]
    assert any(s.startswith("INSERT INTO obligation_audit") for s in statements)
    with kernel.engine.connect() as conn:
        plans = {statement: " / ".join(row[3] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}")) for statement in statements}
    kernel.close()
    growing = ("score_credit", "obligation", "allocation", "obligation_audit", "source_event")
    for statement, plan in plans.items():
        steps = plan.split(" / ")
        assert not any(step.startswith(f"SCAN {table}") for step in steps
                       for table in growing), (statement, plan)
    assert any("COVERING INDEX ix_score_credit_window" in plan for plan in plans.values())
    [audit] = [plan for statement, plan in plans.items() if "obligation_audit" in statement]
    assert audit.startswith("SEARCH a USING COVERING INDEX"), audit
