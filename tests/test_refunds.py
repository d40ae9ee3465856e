"""Refunds: before the sale's period is distributed they reverse it; after, they are booked
in the open period and never change a distributed one."""

from __future__ import annotations

from typing import Any

import pytest

from siren_core import Kernel
from siren_core.errors import Conflict, InvalidInput
from siren_core.events import Event, MetricsTriggered

from conftest import at, monthly, sale

REVENUE_POOL = {"resolver": "revenue_percentage", "percent": "10"}


def refund(id: str, sale_id: str, amount: str | None = None,
           when: str = "2026-01-10T10:00:00Z", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": id, "at": when, "sale": sale_id, **extra}
    if amount is not None:
        event["amount"] = amount
    return event


def _outcome(kernel: Kernel, distributor: str = "monthly-bonus",
             when: str = "2026-02-01") -> tuple[dict[str, int], int]:
    """(scores, revenue) of the distributor's open period if it closed at ``when``."""
    outcome = kernel.preview(distributor, at(when)).outcome
    return {name: score for _key, name, score, _amount in outcome.allocations}, outcome.revenue


@pytest.fixture
def shop(kernel: Kernel) -> Kernel:
    """alice sold 120.00 and bob 80.00 in January; 10 points per sale, 10 % revenue pool."""
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    kernel.record("sale", sale("o-1", "alice", "120.00"))
    kernel.record("sale", sale("o-2", "bob", "80.00"))
    return kernel


def test_a_full_refund_before_distribution_reverses_score_and_revenue(shop: Kernel) -> None:
    seen: list[Event] = []
    shop.subscribe(seen.append)
    result = shop.record("refund", refund("r-1", "o-1"))
    assert (result.kind, result.event_id, result.credits, result.duplicate) == (
        "refund", "r-1", 1, False)
    assert _outcome(shop) == ({"bob": 10}, 8000)
    [event] = seen
    assert isinstance(event, MetricsTriggered)
    assert (event.strategy_id, event.source_event_id) == ("refund", "r-1")
    assert (event.metrics[0].amount, event.metrics[0].currency.code) == (12000, "USD")
    [distribution] = shop.heartbeat(at("2026-02-01")).completed
    assert (distribution.revenue, distribution.pool) == (8000, 800)
    assert [(a.collaborator, a.amount) for a in shop.allocations(distribution.id)] == [
        ("bob", 800)]


def test_partial_refunds_reverse_pro_rata_and_exactly(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(pool=REVENUE_POOL,
                                      metrics=[{"type": "sale", "points": 10}]))
    kernel.create_distributor(monthly("by-amount", pool=REVENUE_POOL,
                                      metrics=[{"type": "sale", "value": "amount"}]))
    kernel.record("sale", sale("o-1", "alice", "3.00"))
    expected = [({"alice": 7}, 200), ({"alice": 4}, 100), ({}, 0)]  # 10·1//3=3, 10·2//3=6, 10
    for number, (scores, revenue) in enumerate(expected):
        kernel.record("refund", refund(f"r-{number}", "o-1", "1.00"))
        assert _outcome(kernel) == (scores, revenue)
    with pytest.raises(InvalidInput) as error:
        kernel.record("refund", refund("r-4", "o-1", "0.01"))
    assert (error.value.field, error.value.value) == ("refund.sale", "o-1")
    assert "already fully refunded" in str(error.value)


def test_a_refund_reverses_an_amount_score_exactly(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(pool=REVENUE_POOL,
                                      metrics=[{"type": "sale", "value": "amount"}]))
    kernel.record("sale", sale("o-1", "alice", "3.00"))
    kernel.record("refund", refund("r-1", "o-1", "0.01"))
    assert _outcome(kernel) == ({"alice": 299}, 299)


def test_a_refund_without_amount_refunds_what_remains(shop: Kernel) -> None:
    shop.record("refund", refund("r-1", "o-1", "20.00"))
    shop.record("refund", refund("r-2", "o-1"))
    assert _outcome(shop) == ({"bob": 10}, 8000)


def test_a_refund_beyond_the_sale_is_refused_and_writes_nothing(shop: Kernel) -> None:
    shop.record("refund", refund("r-1", "o-1", "100.00"))
    counts = shop.table_counts()
    with pytest.raises(InvalidInput) as error:
        shop.record("refund", refund("r-2", "o-1", "20.01"))
    assert (error.value.field, error.value.value) == ("refund.amount", "20.01")
    assert "20.00 USD" in str(error.value)
    assert shop.table_counts() == counts


def test_after_distribution_a_refund_is_booked_in_the_open_period(shop: Kernel) -> None:
    [january] = shop.heartbeat(at("2026-02-01")).completed
    paid = shop.allocations(january.id)
    shop.record("sale", sale("o-3", "alice", "50.00", "2026-02-03T10:00:00Z"))
    shop.record("sale", sale("o-4", "alice", "50.00", "2026-02-04T10:00:00Z"))
    # dated in January but recorded after it was distributed: counts from 1 February
    result = shop.record("refund", refund("r-1", "o-1", "60.00", "2026-01-31T10:00:00Z"))
    assert result.credits == 1
    assert shop.allocations(january.id) == paid
    assert shop.distributions(status="completed")[0] == january
    # alice: 10 + 10 - 5 points; revenue 100.00 - 60.00
    assert _outcome(shop, when="2026-03-01") == ({"alice": 15}, 4000)
    [february] = shop.heartbeat(at("2026-03-01")).completed
    assert (february.revenue, february.pool) == (4000, 400)


def test_after_distribution_scores_and_revenue_never_go_below_zero(kernel: Kernel) -> None:
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly("revenue", pool=REVENUE_POOL))
    kernel.create_distributor(monthly("points"))
    kernel.record("sale", sale("o-1", "alice", "120.00"))
    kernel.heartbeat(at("2026-02-01"))
    kernel.record("sale", sale("o-2", "bob", "10.00", "2026-02-03T10:00:00Z"))
    kernel.record("refund", refund("r-1", "o-1", when="2026-02-05T00:00:00Z"))
    assert _outcome(kernel, "points", "2026-03-01") == ({"bob": 10}, 0)  # alice: -10
    assert _outcome(kernel, "revenue", "2026-03-01")[1] == -11000
    february = {d.distributor: d for d in kernel.heartbeat(at("2026-03-01")).completed}
    assert (february["revenue"].pool, february["revenue"].reason) == (0, "zero_pool")
    assert [(a.collaborator, a.score) for a in kernel.allocations(february["points"].id)] == [
        ("bob", 10)]


def test_only_distributors_whose_sale_period_closed_book_it_later(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly("monthly"))
    kernel.create_distributor(monthly("weekly", schedule="weekly", start="2026-01-05"))
    kernel.record("sale", sale("o-1", "alice", "10.00", "2026-01-06T10:00:00Z"))
    kernel.record("sale", sale("o-2", "alice", "10.00", "2026-01-13T10:00:00Z"))
    kernel.heartbeat(at("2026-01-12"))  # weekly distributes 5–12 January, monthly nothing
    kernel.record("refund", refund("r-1", "o-1", when="2026-01-14T00:00:00Z"))
    assert _outcome(kernel, "monthly") == ({"alice": 10}, 0)  # reversed within January
    assert _outcome(kernel, "weekly", "2026-01-19") == ({}, 0)  # 10 - 10 in the open week


def test_an_organic_sale_refund_reduces_revenue(kernel: Kernel) -> None:
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    kernel.record("sale", sale("o-1", None, "100.00"))
    assert kernel.record("refund", refund("r-1", "o-1", "25.00")).credits == 0
    assert _outcome(kernel) == ({}, 7500)


def test_refund_idempotency_has_its_own_key(shop: Kernel) -> None:
    first = shop.record("refund", refund("o-2", "o-1", "10.00"))  # same id as a sale: fine
    counts = shop.table_counts()
    again = shop.record("refund", refund("o-2", "o-1", "10.00"))
    assert again.duplicate and again.credits == first.credits
    assert again.source_event_id == first.source_event_id is not None
    with pytest.raises(Conflict, match="o-2"):
        shop.record("refund", refund("o-2", "o-1", "11.00"))
    assert shop.table_counts() == counts
    assert _outcome(shop)[1] == 19000


@pytest.mark.parametrize(("event", "field", "value"), [
    (refund("r-1", "o-9"), "refund.sale", "o-9"),
    (refund("r-1", "o-1", when="2026-01-01T00:00:00Z"), "refund.at", "2026-01-01T00:00:00+00:00"),
    (refund("r-1", "o-1", "1.00", currency="EUR"), "refund.currency", "EUR"),
    (refund("r-1", "o-1", 1.0), "refund.amount", 1.0),  # type: ignore[arg-type]
    (refund("r-1", "o-1", "-1.00"), "refund.amount", "-1.00"),
    (refund("r-1", "o-1", "0"), "refund.amount", "0"),
    (refund("r-1", "o-1", when="2026-01-10T10:00:00"), "refund.at", "2026-01-10T10:00:00"),
    ({"at": "2026-01-10T10:00:00Z", "sale": "o-1"}, "refund.id", None),
])
def test_bad_refunds_name_field_and_value_and_write_nothing(
        shop: Kernel, event: dict[str, Any], field: str, value: Any) -> None:
    counts = shop.table_counts()
    with pytest.raises(InvalidInput) as error:
        shop.record("refund", event)
    assert (error.value.field, error.value.value) == (field, value)
    assert shop.table_counts() == counts
