"""The built-in allocation calculators and the revenue pool, as plain functions.

Properties (Hypothesis) every calculator keeps: the parts sum to the pool, each part is
within one minor unit of its exact share, a zero score gets zero, and neither permuting
the input nor scaling every score changes the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core.config.converter import make_converter, structure
from siren_core.errors import InvalidInput
from siren_core.money import currency
from siren_core.records import AllocationContext, PoolContext
from siren_plugins import equal_share, proportional, revenue_percentage, top_score

USD = currency("USD")
Allocate = Callable[[AllocationContext, Any], Mapping[str, int]]


def run(allocate: Allocate, pool: int, scores: Mapping[str, int], config: Any = None
        ) -> dict[str, int]:
    context = AllocationContext(distributor="d", currency=USD, pool=pool, scores=dict(scores))
    return dict(allocate(context, config))


def exact_share(calculator: str, pool: int, scores: Mapping[str, int], name: str,
                ties: str = "split") -> Fraction:
    """The share ``name`` would get with unlimited precision."""
    positive = {k: v for k, v in scores.items() if v > 0}
    if name not in positive:
        return Fraction(0)
    if calculator == "proportional":
        return Fraction(pool * positive[name], sum(positive.values()))
    if calculator == "equal_share":
        return Fraction(pool, len(positive))
    best = max(positive.values())
    leaders = sorted(k for k, v in positive.items() if v == best)
    if ties == "lowest_id":
        leaders = leaders[:1]
    return Fraction(pool, len(leaders)) if name in leaders else Fraction(0)


CALCULATORS: dict[str, tuple[Allocate, Any]] = {
    "proportional": (proportional.allocate, None),
    "equal_share": (equal_share.allocate, equal_share.EqualShare()),
    "top_score": (top_score.allocate, top_score.TopScore()),
    "top_score/lowest_id": (top_score.allocate, top_score.TopScore(ties="lowest_id")),
}

names = st.text(alphabet="abcdefghij", min_size=1, max_size=4)
score_maps = st.dictionaries(names, st.integers(min_value=0, max_value=10**6),
                             min_size=1, max_size=12).filter(lambda m: any(m.values()))
pools = st.integers(min_value=0, max_value=10**12)


@pytest.mark.parametrize("name", sorted(CALCULATORS))
@settings(max_examples=60, deadline=None)
@given(pool=pools, scores=score_maps, data=st.data())
def test_calculator_properties(name: str, pool: int, scores: dict[str, int],
                               data: st.DataObject) -> None:
    allocate, config = CALCULATORS[name]
    kind, _, ties = name.partition("/")
    result = run(allocate, pool, scores, config)
    assert sum(result.values()) == pool
    assert set(result) <= set(scores)
    for collaborator, score in scores.items():
        part = result.get(collaborator, 0)
        assert part >= 0
        assert abs(part - exact_share(kind, pool, scores, collaborator, ties or "split")) < 1
        if score == 0:
            assert part == 0
    permuted = dict(data.draw(st.permutations(list(scores.items()))))
    assert run(allocate, pool, permuted, config) == result
    factor = data.draw(st.integers(min_value=2, max_value=1000))
    assert run(allocate, pool, {k: v * factor for k, v in scores.items()}, config) == result


def test_equal_share_gives_everyone_with_a_score_the_same() -> None:
    scores = {f"c{i:02}": 50 + 50 * i for i in range(10)}
    assert run(equal_share.allocate, 500_000, scores) == dict.fromkeys(scores, 50_000)


def test_equal_share_leftover_cents_go_to_the_smallest_ids() -> None:
    assert run(equal_share.allocate, 10, {"c": 1, "a": 7, "b": 100}) == {"a": 4, "b": 3, "c": 3}


def test_top_score_takes_the_whole_pool() -> None:
    result = run(top_score.allocate, 500_000, {"x": 850, "y": 720, "z": 430})
    assert result == {"x": 500_000, "y": 0, "z": 0}


def test_top_score_ties_split_by_default_and_lowest_id_on_request() -> None:
    scores = {"c": 9, "b": 9, "a": 3}
    assert run(top_score.allocate, 101, scores, top_score.TopScore()) == {
        "a": 0, "b": 51, "c": 50}
    assert run(top_score.allocate, 101, scores, top_score.TopScore(ties="lowest_id")) == {
        "a": 0, "b": 101, "c": 0}


def test_top_score_config_is_typed() -> None:
    converter = make_converter()
    assert structure(converter, {"ties": "lowest_id"}, top_score.TopScore) == top_score.TopScore(
        ties="lowest_id")
    with pytest.raises(InvalidInput) as caught:
        structure(converter, {"ties": "random"}, top_score.TopScore, prefix="calculator")
    assert caught.value.field == "calculator.ties"
    assert caught.value.value == "random"
    with pytest.raises(InvalidInput) as caught:
        structure(converter, {"tie": "split"}, top_score.TopScore, prefix="calculator")
    assert caught.value.field == "calculator.tie"


def test_equal_share_refuses_options() -> None:
    with pytest.raises(InvalidInput) as caught:
        structure(make_converter(), {"weights": 1}, equal_share.EqualShare, prefix="calculator")
    assert caught.value.field == "calculator.weights"


def _pool(revenue: int, percent: str) -> int:
    context = PoolContext(distributor="d", currency=USD, period_start=None,  # type: ignore[arg-type]
                          period_end=None, revenue=revenue)  # type: ignore[arg-type]
    return revenue_percentage.resolve(context, revenue_percentage.RevenuePercentage(
        Decimal(percent)))


@pytest.mark.parametrize(("revenue", "percent", "pool"), [
    (5_000_000, "10", 500_000),        # 10% of $50,000 = $5,000
    (4_000_000, "15", 600_000),        # 15% of $40,000 = $6,000
    (10_000_000, "5", 500_000),        # 5% of $100,000 = $5,000
    (999, "12.5", 124),                # 124.875 cents, floored
    (1, "99.999", 0),
    (0, "50", 0),
    (-5_000, "50", 0),                 # refunds exceeding sales: no negative pool
    (10**17, "33.3333333333333333333333333333333", 33333333333333333),
])
def test_revenue_percentage_floors_to_the_minor_unit(revenue: int, percent: str,
                                                     pool: int) -> None:
    assert _pool(revenue, percent) == pool


@pytest.mark.parametrize("percent", ["-1", "100.01", "250"])
def test_revenue_percentage_refuses_a_percent_outside_0_to_100(percent: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        revenue_percentage.check(revenue_percentage.RevenuePercentage(Decimal(percent)), USD)
    assert caught.value.field == "pool.percent"


@settings(max_examples=100, deadline=None)
@given(revenue=st.integers(min_value=0, max_value=10**15),
       percent=st.decimals(min_value=0, max_value=100, places=4, allow_nan=False))
def test_revenue_percentage_is_the_exact_floor(revenue: int, percent: Decimal) -> None:
    pool = _pool(revenue, str(percent))
    exact = Fraction(revenue) * Fraction(percent) / 100
    assert pool <= exact < pool + 1
