"""The calculators that read the richer context: ``recent`` (decay by age), ``balanced``
(lifetime catch-up) and ``streak`` (active days in the distributor's time zone). Worked
numbers called directly and end to end through a heartbeat, properties (the pool is split
exactly, among the scored only, whatever the order), and their typed configurations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core import Kernel
from siren_core.config.converter import make_converter, structure
from siren_core.config.simulate import simulate
from siren_core.errors import InvalidInput
from siren_core.money import currency
from siren_core.records import (
    AllocationContext,
    Credits,
    Decline,
    History,
    PastPeriod,
    Period,
    PeriodCredit,
)
from siren_plugins import balanced, recent, streak

from conftest import at, monthly

USD = currency("USD")
JANUARY, FEBRUARY = at("2026-01-01"), at("2026-02-01")
DAY = 86_400


def credit(name: str, when: datetime, points: int = 1, *, late: bool = False,
           number: list[int] = [0]) -> PeriodCredit:  # noqa: B006 - a counter for event ids
    number[0] += 1
    return PeriodCredit(when, name, "visit", points, "visit", f"e{number[0]}", late)


def context(pool: int, credits: list[PeriodCredit], *, timezone: str = "UTC",
            history: list[PastPeriod] = (), scores: Mapping[str, int] | None = None  # type: ignore[assignment]
            ) -> AllocationContext:
    """A context whose scores are the credits' positive sums (as the kernel's are)."""
    if scores is None:
        totals: dict[str, int] = {}
        for row in credits:
            totals[row.collaborator] = totals.get(row.collaborator, 0) + row.points
        scores = {name: totals[name] for name in sorted(totals) if totals[name] > 0}
    credits = [row for row in credits if row.collaborator in scores]  # as the kernel gives
    return AllocationContext(
        "d", USD, pool, dict(scores), period=Period("d", JANUARY, FEBRUARY, timezone),
        credits=Credits.of(credits), history=History.of(history))


def past(pool: int, scores: dict[str, int], amounts: dict[str, int]) -> PastPeriod:
    return PastPeriod(0, JANUARY - timedelta(days=31), JANUARY, pool, scores, amounts)


# -- recent ------------------------------------------------------------------------------

def test_decay_halves_every_half_life_exactly() -> None:
    seven = Decimal(7)
    assert recent.decay(0, seven) == 10**18
    assert recent.decay(7 * DAY, seven) == 5 * 10**17
    assert recent.decay(14 * DAY, seven) == 25 * 10**16
    one_day = recent.decay(DAY, seven)
    assert one_day == 905_723_664_263_906_672  # 2^(-1/7), rounded to 18 places
    assert abs(one_day**7 - 10**126 // 2) < 4 * 10**108
    assert recent.decay(61 * 7 * DAY, seven) == 0 < recent.decay(60 * 7 * DAY, seven)
    assert recent.decay(DAY, Decimal("3.5")) == recent.decay(2 * DAY, seven)


def test_recent_weights_credits_by_their_age_at_the_period_end() -> None:
    credits = [credit("ana", FEBRUARY - timedelta(days=7), 10),   # weight 10 × 1/2
               credit("ben", FEBRUARY - timedelta(days=14), 10)]  # weight 10 × 1/4
    assert recent.allocate(context(10_000, credits), recent.Recent()) == {
        "ana": 6_667, "ben": 3_333}
    credits.append(credit("cat", FEBRUARY - timedelta(days=1), 5))  # 5 × 2^(-1/7)
    assert recent.allocate(context(100_000, credits), recent.Recent()) == {
        "ana": 41_567, "ben": 20_784, "cat": 37_649}


def test_recent_ties_go_to_the_smaller_id_and_a_refund_can_outweigh_old_sales() -> None:
    same = [credit(name, FEBRUARY - timedelta(days=3), 2) for name in ("bea", "abe")]
    assert recent.allocate(context(101, same), recent.Recent()) == {"abe": 51, "bea": 50}
    credits = [credit("ana", JANUARY, 10), credit("ana", FEBRUARY - timedelta(hours=1), -8),
               credit("ben", FEBRUARY - timedelta(days=10), 1)]
    assert recent.allocate(context(1_000, credits), recent.Recent()) == {"ben": 1_000}


def test_recent_falls_back_to_the_scores_when_nothing_weighs() -> None:
    credits = [credit("ana", JANUARY, 3), credit("ben", JANUARY, 1)]  # 31 days, 0.01-day half-life
    tiny = recent.Recent(half_life_days=Decimal("0.01"))
    assert recent.weights(context(100, credits), tiny.half_life_days) == {}
    assert recent.allocate(context(100, credits), tiny) == {"ana": 75, "ben": 25}


# -- balanced ----------------------------------------------------------------------------

def test_balanced_first_period_is_proportional() -> None:
    credits = [credit("ana", JANUARY, 30), credit("ben", JANUARY, 10)]
    assert balanced.allocate(context(100_000, credits), None) == {"ana": 75_000, "ben": 25_000}


def test_balanced_catches_up_on_the_underpaid() -> None:
    # January paid ana everything (top score 30 against 10); February both score 10:
    # lifetime 40 : 20 of 2,000.00 → targets 1,333.33 and 666.67; shortfalls 333.33, 666.67
    history = [past(100_000, {"ana": 30, "ben": 10}, {"ana": 100_000})]
    credits = [credit("ana", JANUARY, 10), credit("ben", JANUARY, 10)]
    result = balanced.allocate(context(100_000, credits, history=history), None)
    assert result == {"ana": 33_333, "ben": 66_667}


def test_balanced_gives_the_overpaid_nothing() -> None:
    # lifetime ana 31, ben 39 of 70 → ana's target 885.71 is below the 1,000.00 she has
    history = [past(100_000, {"ana": 30, "ben": 29}, {"ana": 100_000})]
    credits = [credit("ana", JANUARY, 1), credit("ben", JANUARY, 10)]
    assert balanced.allocate(context(100_000, credits, history=history), None) == {
        "ben": 100_000}


def test_balanced_falls_back_to_proportional_when_no_one_scored_is_below_target() -> None:
    # the one below target (ben) scored nothing this period; ana is above hers
    history = [past(100_000, {"ana": 1, "ben": 100}, {"ana": 100_000})]
    credits = [credit("ana", JANUARY, 1), credit("cat", JANUARY, 3)]
    context_ = context(1_000, credits, history=history)
    assert balanced.shortfalls(context_) == {"cat": 101_000 * 3 - 0}
    only_ana = context(1_000, credits[:1], history=history)
    assert balanced.shortfalls(only_ana) == {}
    assert balanced.allocate(only_ana, None) == {"ana": 1_000}


# -- streak ------------------------------------------------------------------------------

def test_streak_counts_local_days_in_the_distributor_zone() -> None:
    new_york = "America/New_York"
    ana = [credit("ana", at("2026-01-02T03:00"), 1),   # local Jan 1 (UTC Jan 2)
           credit("ana", at("2026-01-02T15:00"), 1),   # Jan 2
           credit("ana", at("2026-01-03T15:00"), 1)]   # Jan 3
    ben = [credit("ben", at("2026-01-10T15:00"), 2) for _ in range(5)]  # one day only
    cat = [credit("cat", at(f"2026-01-{day:02}T12:00"), 1) for day in (5, 6, 7, 8)]
    both = ana + ben + cat
    assert streak.active_days(context(100_000, both, timezone=new_york)) == {
        "ana": 3, "ben": 1, "cat": 4}
    assert streak.active_days(context(100_000, both))["ana"] == 2  # in UTC
    assert streak.allocate(context(100_000, both, timezone=new_york), streak.Streak()) == {
        "ana": 42_857, "cat": 57_143}


def test_streak_ignores_late_credits_and_days_netting_to_zero() -> None:
    credits = [credit("ana", at(f"2026-01-{day:02}T12:00")) for day in (5, 6)]
    credits += [credit("ana", at("2026-01-07T12:00"), 2), credit("ana", at("2026-01-07T13:00"), -2),
                credit("ana", JANUARY, 5, late=True)]
    assert streak.active_days(context(10, credits)) == {"ana": 2}
    credits.append(credit("ana", at("2026-01-09T12:00")))
    assert streak.allocate(context(10, credits), streak.Streak()) == {"ana": 10}


def test_streak_declines_when_nobody_qualifies() -> None:
    credits = [credit("ana", at("2026-01-05T12:00")), credit("ben", at("2026-01-06T12:00"))]
    answer = streak.allocate(context(500, credits), streak.Streak(min_days=2))
    assert answer == Decline("no collaborator was active on 2 or more days of the period "
                             "(min_days)")


# -- properties --------------------------------------------------------------------------

CALCULATORS: dict[str, tuple[Callable[[AllocationContext, Any], Any], Any]] = {
    "recent": (recent.allocate, recent.Recent(half_life_days=Decimal(3))),
    "balanced": (balanced.allocate, balanced.Balanced()),
    "streak": (streak.allocate, streak.Streak(min_days=2)),
}
names = st.sampled_from(["ana", "ben", "cat", "dan", "eve"])
credit_lists = st.lists(st.tuples(names, st.integers(0, 31 * 24 - 1), st.integers(-5, 50)),
                        min_size=1, max_size=30)
histories = st.lists(st.tuples(st.dictionaries(names, st.integers(1, 100)),
                               st.dictionaries(names, st.integers(0, 10**6))), max_size=3)


@pytest.mark.parametrize("name", sorted(CALCULATORS))
@settings(max_examples=60, deadline=None)
@given(pool=st.integers(0, 10**9), rows=credit_lists, history=histories, data=st.data())
def test_context_calculator_properties(name: str, pool: int, rows: list[tuple[str, int, int]],
                                       history: list[tuple[dict[str, int], dict[str, int]]],
                                       data: st.DataObject) -> None:
    allocate, config = CALCULATORS[name]
    credits = [credit(who, JANUARY + timedelta(hours=hour), points)
               for who, hour, points in rows]
    periods = [past(sum(amounts.values()), scores, amounts) for scores, amounts in history]
    built = context(pool, credits, history=periods)
    if not built.scores:
        return
    result = allocate(built, config)
    if isinstance(result, Decline):
        assert name == "streak"
        return
    assert sum(result.values()) == pool
    assert set(result) <= set(built.scores)
    assert all(type(amount) is int and amount >= 0 for amount in result.values())
    shuffled = data.draw(st.permutations(credits))
    again = context(pool, shuffled, history=periods,
                    scores=dict(reversed(list(built.scores.items()))))
    assert allocate(again, config) == result


# -- configurations ----------------------------------------------------------------------

@pytest.mark.parametrize(("config_type", "given_", "field", "value"), [
    (recent.Recent, {"half_life_days": 0}, "calculator.half_life_days", "0"),
    (recent.Recent, {"half_life_days": "-1.5"}, "calculator.half_life_days", "-1.5"),
    (recent.Recent, {"half_life_days": 7.5}, "calculator.half_life_days", 7.5),
    (recent.Recent, {"half_life": 7}, "calculator.half_life", "half_life"),
    (streak.Streak, {"min_days": 0}, "calculator.min_days", 0),
    (streak.Streak, {"min_days": "3"}, "calculator.min_days", "3"),
    (streak.Streak, {"min_days": True}, "calculator.min_days", True),
    (balanced.Balanced, {"lookback": 2}, "calculator.lookback", "lookback"),
])
def test_bad_configurations_are_refused_naming_the_field(
        config_type: type[Any], given_: dict[str, Any], field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        structure(make_converter(), given_, config_type, prefix="calculator")
    assert (caught.value.field, caught.value.value) == (field, value)


def test_configurations_are_typed() -> None:
    converter = make_converter()
    assert structure(converter, {"half_life_days": "3.5"}, recent.Recent) == recent.Recent(
        Decimal("3.5"))
    assert structure(converter, {}, recent.Recent).half_life_days == 7
    assert structure(converter, {"min_days": 5}, streak.Streak) == streak.Streak(5)


# -- end to end --------------------------------------------------------------------------

def visits(kernel: Kernel, name: str, *instants: str) -> None:
    for number, when in enumerate(instants):
        kernel.record("visit", {"id": f"{name}-{when}-{number}", "at": when,
                                "collaborator": name})


def visiting(calculator: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return monthly(calculator=calculator, **overrides,
                   metrics=[{"type": "visit", "points": 10, "credit": {"rule": "fixed"}}])


def paid(kernel: Kernel, distribution: int) -> dict[str, int]:
    return {a.collaborator: a.amount for a in kernel.allocations(distribution)}


def test_recent_through_a_heartbeat(kernel: Kernel) -> None:
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    kernel.create_distributor(visiting({"id": "recent", "half_life_days": 7},
                                       pool={"resolver": "fixed", "amount": "100.00"}))
    visits(kernel, "ana", "2026-01-25T00:00:00Z")
    visits(kernel, "ben", "2026-01-18T00:00:00Z")
    [january] = kernel.heartbeat(FEBRUARY).completed
    assert paid(kernel, january.id) == {"ana": 6_667, "ben": 3_333}


def test_balanced_through_heartbeats(kernel: Kernel) -> None:
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    kernel.create_distributor(visiting({"id": "top_score"}))
    visits(kernel, "ana", "2026-01-05T12:00:00Z", "2026-01-06T12:00:00Z", "2026-01-07T12:00:00Z")
    visits(kernel, "ben", "2026-01-05T12:00:00Z")
    [january] = kernel.heartbeat(FEBRUARY).completed
    assert paid(kernel, january.id) == {"ana": 100_000}
    kernel.update_distributor(visiting({"id": "balanced"}))
    visits(kernel, "ana", "2026-02-05T12:00:00Z")
    visits(kernel, "ben", "2026-02-05T12:00:00Z")
    [february] = kernel.heartbeat(at("2026-03-01")).completed
    assert paid(kernel, february.id) == {"ana": 33_333, "ben": 66_667}
    visits(kernel, "ana", "2026-03-05T12:00:00Z")
    [march] = kernel.heartbeat(at("2026-04-01")).completed
    # lifetime ana 50, ben 20 of 3,000.00: ana's target 2,142.86, she has 1,333.33
    assert paid(kernel, march.id) == {"ana": 100_000}


def test_streak_through_a_heartbeat_in_the_distributor_zone(kernel: Kernel) -> None:
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    kernel.create_distributor(visiting({"id": "streak", "min_days": 3},
                                       timezone="America/New_York"))
    visits(kernel, "ana", "2026-01-02T03:00:00Z", "2026-01-02T15:00:00Z", "2026-01-03T15:00:00Z")
    visits(kernel, "ben", "2026-01-10T15:00:00Z", "2026-01-10T16:00:00Z", "2026-01-10T17:00:00Z",
           "2026-01-10T18:00:00Z")
    [january] = kernel.heartbeat(at("2026-02-01T05:00")).completed
    assert paid(kernel, january.id) == {"ana": 100_000}


def test_a_simulation_runs_the_context_calculators() -> None:
    config = {"collaborators": [{"id": "ana"}, {"id": "ben"}],
              "distributors": [visiting({"id": "recent", "half_life_days": "7"},
                                        pool={"resolver": "fixed", "amount": "100.00"})]}
    lines = ['{"type": "visit", "id": "a", "at": "2026-01-25T00:00:00Z", "collaborator": "ana"}',
             '{"type": "visit", "id": "b", "at": "2026-01-18T00:00:00Z", "collaborator": "ben"}']
    result = simulate(config, lines, datetime(2026, 2, 1, tzinfo=UTC))
    [january] = result["distributions"]
    assert {a["collaborator"]: a["amount"] for a in january["allocations"]} == {
        "ana": "66.67", "ben": "33.33"}
