"""What a calculator sees (records.AllocationContext), end to end through a heartbeat: the
period with its time zone, scores by metric, the period's credits and the distributor's
history, read lazily in the period's transaction; a calculator that reads none of them
runs not one statement more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from siren_core import Kernel, hookimpl
from siren_core.money import currency, split
from siren_core.records import (
    AllocationCalculator,
    AllocationContext,
    Credits,
    History,
    PastPeriod,
    PeriodCredit,
    ScoresByMetric,
)

from conftest import at, driver_statements, monthly, sale, statements

MakeKernel = Callable[..., Kernel]
NEW_YORK = "America/New_York"


class Spy:
    """A calculator that keeps what it saw (reading every view) and pays proportionally."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.untouched: list[AllocationContext] = []

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        def allocate(context: AllocationContext, _config: Any) -> dict[str, int]:
            unread = [context.scores_by_metric.loaded, context.credits.loaded,
                      context.history.loaded]
            self.seen.append({
                "unread": not any(unread), "period": context.period,
                "by_metric": {k: dict(v) for k, v in context.scores_by_metric.items()},
                "credits": list(context.credits), "history": list(context.history),
                "allocated": context.history.allocated, "paid": context.history.amounts(),
                "lifetime": context.history.scores()})
            return split(context.pool, context.scores)

        def lazy(context: AllocationContext, _config: Any) -> dict[str, int]:
            self.untouched.append(context)
            return split(context.pool, context.scores)

        return [AllocationCalculator(id="spy", description="reads everything",
                                     allocate=allocate),
                AllocationCalculator(id="lazy", description="reads nothing", allocate=lazy)]


def shop(kernel: Kernel, calculator: str = "spy") -> None:
    for name in ("ana", "ben", "cat"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(
        timezone=NEW_YORK, calculator={"id": calculator},
        metrics=[{"type": "sale", "points": 10, "credit": {"rule": "fixed"}},
                 {"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]))
    kernel.record("sale", sale("s1", "ana", "5.00", "2026-01-03T15:00:00Z"))
    kernel.record("visit", {"id": "v1", "at": "2026-01-02T09:00:00Z", "collaborator": "ana"})
    kernel.record("visit", {"id": "v2", "at": "2026-01-20T09:00:00Z", "collaborator": "ben"})
    kernel.record("visit", {"id": "v3", "at": "2026-01-21T09:00:00Z", "collaborator": "ben"})
    kernel.record("sale", sale("s2", "cat", "5.00", "2026-01-04T15:00:00Z"))
    kernel.set_collaborator_status("cat", "inactive")  # scored, but not paid: not shown


def test_the_context_holds_the_period_scores_by_metric_and_credits(
        make_kernel: MakeKernel) -> None:
    spy = Spy()
    kernel = make_kernel(plugins=[spy])
    shop(kernel)
    [january] = kernel.heartbeat(at("2026-02-01T05:00")).completed
    [seen] = spy.seen
    assert seen["unread"]
    period = seen["period"]
    assert (period.distributor, period.timezone, period.config_version) == (
        "monthly-bonus", NEW_YORK, 1)
    assert (period.start, period.end) == (january.period_start, january.period_end)
    assert period.start == at("2026-01-01T05:00")  # local midnight in New York
    assert seen["by_metric"] == {"ana": {"sale": 10, "visit": 1}, "ben": {"visit": 2}}
    assert seen["credits"] == [
        PeriodCredit(at("2026-01-02T09:00"), "ana", "visit", 1, "visit", "v1"),
        PeriodCredit(at("2026-01-03T15:00"), "ana", "sale", 10, "sale", "s1"),
        PeriodCredit(at("2026-01-20T09:00"), "ben", "visit", 1, "visit", "v2"),
        PeriodCredit(at("2026-01-21T09:00"), "ben", "visit", 1, "visit", "v3")]
    assert (seen["history"], seen["allocated"], seen["paid"]) == ([], 0, {})
    assert {a.collaborator: a.score for a in kernel.allocations(january.id)} == {
        "ana": 11, "ben": 2}


def test_history_carries_earlier_periods_scores_and_amounts(make_kernel: MakeKernel) -> None:
    spy = Spy()
    kernel = make_kernel(plugins=[spy])
    shop(kernel)
    kernel.set_collaborator_status("cat", "active")
    kernel.record("visit", {"id": "v4", "at": "2026-02-10T09:00:00Z", "collaborator": "ben"})
    january, _february = kernel.heartbeat(at("2026-03-01T05:00")).completed
    first, second = spy.seen
    assert first["history"] == []
    [past] = second["history"]
    assert past == PastPeriod(index=0, start=january.period_start, end=january.period_end,
                              pool=100_000, scores={"ana": 11, "ben": 2, "cat": 10},
                              amounts={"ana": 47_826, "ben": 8_696, "cat": 43_478})
    assert sum(past.amounts.values()) == second["allocated"] == 100_000
    assert second["paid"] == past.amounts and second["lifetime"] == past.scores
    assert second["credits"] == [
        PeriodCredit(at("2026-02-10T09:00"), "ben", "visit", 1, "visit", "v4")]


def test_a_late_credit_shows_as_late_at_the_open_period_start(make_kernel: MakeKernel) -> None:
    spy = Spy()
    kernel = make_kernel(plugins=[spy])
    shop(kernel)
    kernel.heartbeat(at("2026-02-01T05:00"))
    kernel.record("visit", {"id": "late", "at": "2026-01-30T09:00:00Z", "collaborator": "ben"})
    kernel.heartbeat(at("2026-03-01T05:00"))
    assert spy.seen[1]["credits"] == [
        PeriodCredit(at("2026-02-01T05:00"), "ben", "visit", 1, "visit", "late", late=True)]


def test_a_calculator_reading_no_view_costs_no_statement(make_kernel: MakeKernel) -> None:
    spy = Spy()
    kernel = make_kernel(plugins=[spy])
    shop(kernel, calculator="lazy")
    with statements(kernel) as seen, driver_statements(kernel) as every:
        kernel.heartbeat(at("2026-02-01T05:00"))
    [context] = spy.untouched
    assert not (context.scores_by_metric.loaded or context.credits.loaded
                or context.history.loaded)
    # the period's scores go through the driver: SQLite's trace sees them, SQLAlchemy not
    assert not [s for s in seen if "score_credit" in s]
    if kernel.engine.dialect.name == "sqlite":
        credit_reads = [s for s in every if "score_credit" in s]
        assert len(credit_reads) == 1 and "GROUP BY" in credit_reads[0]
    reads = [s for s in seen if s.split()[0].upper() == "SELECT"]
    assert not [s for s in reads if "source_event" in s or "allocation" in s]
    kernel.update_distributor(monthly(
        timezone=NEW_YORK, calculator={"id": "spy"},
        metrics=[{"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]))
    kernel.record("visit", {"id": "v9", "at": "2026-02-03T09:00:00Z", "collaborator": "ana"})
    with statements(kernel) as read:
        kernel.heartbeat(at("2026-03-01T05:00"))
    assert len(read) > len(seen)  # the views, read when used
    assert spy.seen[0]["period"].config_version == 2


def test_a_preview_gets_the_context_of_its_window(make_kernel: MakeKernel) -> None:
    spy = Spy()
    kernel = make_kernel(plugins=[spy])
    shop(kernel)
    preview = kernel.preview("monthly-bonus", at("2026-01-10"))
    [seen] = spy.seen
    assert seen["period"].end == preview.window_end == at("2026-01-10")
    assert [c.event_id for c in seen["credits"]] == ["v1", "s1"]
    assert {a[1]: a[3] for a in preview.outcome.allocations} == {"ana": 100_000}


def test_views_built_by_hand_are_loaded_and_empty_by_default() -> None:
    context = AllocationContext("d", currency("USD"), 10, {"a": 1})
    assert context.period is None
    assert (list(context.credits), dict(context.scores_by_metric), list(context.history),
            context.history.allocated) == ([], {}, [], 0)
    credit = PeriodCredit(at("2026-01-02"), "a", "visit", 1, "visit", "v1")
    past = PastPeriod(0, at("2026-01-01"), at("2026-02-01"), 10, {"a": 3, "b": 1}, {"a": 10})
    built = AllocationContext("d", currency("USD"), 10, {"a": 1},
                              credits=Credits.of([credit]),
                              scores_by_metric=ScoresByMetric.of({"a": {"visit": 1}}),
                              history=History.of([past, past]))
    assert built.credits[0] == credit and len(built.credits) == 1
    assert built.scores_by_metric["a"] == {"visit": 1}
    assert built.history.scores() == {"a": 6, "b": 2}
    assert (built.history.amounts(), built.history.allocated) == ({"a": 20}, 20)
    assert repr(Credits(tuple)) == "Credits(loaded=False)"
