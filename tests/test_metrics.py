"""Metrics ingestion: trigger strategies, revenue and compilers, idempotency, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core import Kernel
from siren_core.errors import Conflict, InvalidInput
from siren_core.events import Event, ManualMetricRequested, MetricsTriggered
from siren_core.money import currency, to_minor
from siren_core.records import Metric, RevenueLine
from siren_plugins.sale import Sale, _minor

from conftest import at, monthly, sale

REVENUE_POOL = {"resolver": "revenue_percentage", "percent": "10"}


def _events(kernel: Kernel) -> list[Event]:
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    return seen


def _scores(kernel: Kernel, distributor: str = "monthly-bonus",
            when: str = "2026-02-01") -> dict[str, int]:
    preview = kernel.preview(distributor, at(when))
    return {name: score for _key, name, score, _amount in preview.outcome.allocations}


def _revenue(kernel: Kernel, distributor: str = "monthly-bonus") -> int:
    return kernel.preview(distributor, at("2026-02-01")).outcome.revenue


def _with_people(kernel: Kernel, *names: str) -> Kernel:
    for name in names or ("alice", "bob"):
        kernel.create_collaborator(name)
    return kernel


# -- trigger strategies --------------------------------------------------------------------

def test_builtin_strategies_declare_id_description_and_event_shape(kernel: Kernel) -> None:
    strategies = kernel.registry.trigger_strategies
    assert {"sale", "visit", "manual"} <= set(strategies)
    for name in ("sale", "visit", "manual"):
        strategy = strategies[name]
        assert strategy.id == name and strategy.description
        assert {"id", "at"} <= {field.name for field in strategy.event_type.__attrs_attrs__}
        assert kernel.registry.owner("trigger_strategies", name) == name


def test_a_sale_scores_its_collaborator_and_fires_metrics_triggered(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())
    seen = _events(kernel)
    result = kernel.record("sale", sale("o-1", "alice", "120.00"))
    assert (result.kind, result.event_id, result.credits, result.duplicate) == (
        "sale", "o-1", 1, False)
    assert _scores(kernel) == {"alice": 10}
    [event] = seen
    assert isinstance(event, MetricsTriggered)
    assert (event.event_id, event.strategy_id, event.source_event_id) == (
        "metrics_triggered", "sale", "o-1")
    [metric] = event.metrics
    assert (metric.metric_type, metric.collaborator, metric.amount, metric.currency.code) == (
        "sale", "alice", 12000, "USD")
    assert metric.revenue == (RevenueLine("product", 12000),)


def test_a_visit_scores_the_referring_collaborator(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(metrics=[{"type": "visit", "points": 1},
                                               {"type": "sale", "points": 10}]))
    seen = _events(kernel)
    for number in range(3):
        kernel.record("visit", {"id": f"v-{number}", "at": "2026-01-04T08:00:00Z",
                                "collaborator": "bob", "page": "/pricing"})
    kernel.record("sale", sale("o-1", "alice", "50.00"))
    assert _scores(kernel) == {"alice": 10, "bob": 3}
    assert [e.strategy_id for e in seen if isinstance(e, MetricsTriggered)] == [
        "visit", "visit", "visit", "sale"]
    with pytest.raises(InvalidInput) as error:
        kernel.record("visit", {"id": "v-9", "at": "2026-01-04T08:00:00Z"})
    assert error.value.field == "visit.collaborator"


def test_a_distributor_not_tracking_a_type_ignores_it(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())
    result = kernel.record("visit", {"id": "v-1", "at": "2026-01-04T08:00:00Z",
                                     "collaborator": "bob"})
    assert result.credits == 0
    assert _scores(kernel) == {}


def test_credit_metric_fires_the_request_then_credits_every_tracking_distributor(
        kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly("a", metrics=[{"type": "manual", "points": 5}]))
    kernel.create_distributor(monthly("b", metrics=[{"type": "manual", "points": 7},
                                                    {"type": "sale", "points": 1}]))
    kernel.create_distributor(monthly("c"))  # does not track manual
    kernel.create_distributor(monthly("d", status="inactive",
                                      metrics=[{"type": "manual", "points": 9}]))
    seen = _events(kernel)
    result = kernel.credit_metric("alice", id="m-1", at=at("2026-01-06T12:00"))
    assert result.credits == 2
    assert [type(e).__name__ for e in seen] == ["ManualMetricRequested", "MetricsTriggered"]
    request, triggered = seen
    assert isinstance(request, ManualMetricRequested) and isinstance(triggered, MetricsTriggered)
    assert (request.event_id, request.collaborator, request.id, request.at) == (
        "manual_metric_requested", "alice", "m-1", at("2026-01-06T12:00"))
    assert triggered.strategy_id == "manual"
    assert triggered.metrics == (Metric("manual", "alice"),)
    assert (_scores(kernel, "a"), _scores(kernel, "b"), _scores(kernel, "c")) == (
        {"alice": 5}, {"alice": 7}, {})
    # quantity multiplies the configured points; a repeated request does nothing
    kernel.credit_metric("bob", id="m-2", at=at("2026-01-07"), quantity=3)
    assert kernel.credit_metric("bob", id="m-2", at=at("2026-01-07"), quantity=3).duplicate
    assert len(seen) == 4
    assert _scores(kernel, "a") == {"alice": 5, "bob": 15}


def test_credit_metric_refuses_unknown_collaborators_before_firing(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(metrics=[{"type": "manual", "points": 5}]))
    seen = _events(kernel)
    before = kernel.table_counts()
    with pytest.raises(InvalidInput) as error:
        kernel.credit_metric("mallory", id="m-1", at=at("2026-01-06"))
    assert (error.value.field, error.value.value) == ("manual.collaborator", "mallory")
    with pytest.raises(InvalidInput) as error:
        kernel.credit_metric("alice", id="m-1", at=at("2026-01-06"), quantity=0)
    assert error.value.field == "manual.quantity"
    assert seen == [] and kernel.table_counts() == before


def test_value_amount_scores_a_sale_by_its_minor_units(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "value": "amount"}]))
    kernel.record("sale", sale("o-1", "alice", "120.50"))
    kernel.record("sale", sale("o-2", "bob", "0.99"))
    assert _scores(kernel) == {"alice": 12050, "bob": 99}


def test_one_metric_type_may_be_tracked_twice_on_one_distributor(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "points": 10},
                                               {"type": "sale", "value": "amount"}]))
    assert kernel.record("sale", sale("o-1", "alice", "1.00")).credits == 2
    assert _scores(kernel) == {"alice": 110}


def test_only_active_collaborators_earn(kernel: Kernel) -> None:
    _with_people(kernel, "alice", "bob", "carol")
    kernel.set_collaborator_status("bob", "inactive")
    kernel.set_collaborator_status("carol", "pending")
    kernel.create_distributor(monthly())
    for number, name in enumerate(("alice", "bob", "carol")):
        kernel.record("sale", sale(f"o-{number}", name, "10.00"))
    assert _scores(kernel) == {"alice": 10}


# -- idempotency -------------------------------------------------------------------------

def test_the_same_id_again_returns_the_first_result_and_writes_nothing(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())
    first = kernel.record("sale", sale("o-1", "alice", "120.00"))
    seen = _events(kernel)
    counts = kernel.table_counts()
    again = kernel.record("sale", sale("o-1", "alice", "120.00"))
    assert again.duplicate and (again.kind, again.event_id, again.credits) == (
        first.kind, first.event_id, first.credits)
    assert kernel.table_counts() == counts and seen == []
    assert _scores(kernel) == {"alice": 10}


def test_the_same_id_with_other_content_is_a_conflict(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-1", "alice", "120.00"))
    counts = kernel.table_counts()
    for changed in (sale("o-1", "alice", "121.00"), sale("o-1", "bob", "120.00"),
                    sale("o-1", "alice", "120.00", "2026-01-06T10:00:00Z")):
        with pytest.raises(Conflict, match="o-1"):
            kernel.record("sale", changed)
    assert kernel.table_counts() == counts


def test_the_idempotency_key_is_the_type_and_the_id(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "points": 10},
                                               {"type": "visit", "points": 1}]))
    kernel.record("sale", sale("42", "alice", "10.00"))
    visit = kernel.record("visit", {"id": "42", "at": "2026-01-04T08:00:00Z",
                                    "collaborator": "alice"})
    assert not visit.duplicate
    assert _scores(kernel) == {"alice": 11}


# -- revenue, line items and transaction compilers -------------------------------------------

def test_organic_sales_feed_a_revenue_pool_but_score_no_one(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    assert kernel.record("sale", sale("o-1", None, "900.00")).credits == 0
    kernel.record("sale", sale("o-2", "alice", "100.00"))
    report = kernel.heartbeat(at("2026-02-01"))
    [distribution] = report.completed
    assert (distribution.revenue, distribution.pool) == (100000, 10000)
    assert [(a.collaborator, a.amount) for a in kernel.allocations(distribution.id)] == [
        ("alice", 10000)]


def test_an_organic_sale_alone_pays_no_one_and_says_why(kernel: Kernel) -> None:
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    kernel.record("sale", sale("o-1", None, "900.00"))
    [distribution] = kernel.heartbeat(at("2026-02-01")).completed
    assert (distribution.pool, distribution.reason) == (9000, "no_scores")


def _order(id: str = "o-1", amount: str = "131.00", **extra: Any) -> dict[str, Any]:
    """A $120 shirt and a $20 book, a $20 coupon, $5 fee, $4 shipping, $2 tax."""
    lines = [{"kind": "product", "amount": "120.00", "sku": "shirt", "category": "apparel",
              "type": "physical"},
             {"kind": "product", "amount": "20.00", "sku": "book", "category": "media",
              "type": "digital"},
             {"kind": "discount", "amount": "20.00"},
             {"kind": "fee", "amount": "5.00"},
             {"kind": "shipping", "amount": "4.00"},
             {"kind": "tax", "amount": "2.00"}]
    return {**sale(id, "alice", amount), "lines": lines, **extra}


@pytest.mark.parametrize(("revenue", "expected"), [
    ({}, 12000),  # default: line_items + discounts = 140 - 20
    ({"compilers": []}, 0),  # Siren's default: nothing counts
    ({"compilers": ["line_items"]}, 14000),
    ({"compilers": ["discounts"]}, 0),  # discounts alone never go below 0
    ({"compilers": ["fees"]}, 500),
    ({"compilers": ["shipping"]}, 400),
    ({"compilers": ["taxes"]}, 200),
    ({"compilers": ["line_items", "discounts", "fees", "shipping", "taxes"]}, 13100),
    ({"compilers": ["line_items", "line_items"]}, 14000),  # a line counts once
    ({"compilers": ["line_items"], "skus": ["shirt"]}, 12000),
    ({"compilers": ["line_items"], "categories": ["media"]}, 2000),
    ({"compilers": ["line_items"], "types": ["digital", "physical"]}, 14000),
    ({"compilers": ["line_items"], "skus": ["shirt"], "types": ["digital"]}, 0),
])
def test_transaction_compilers_decide_the_qualifying_revenue(
        kernel: Kernel, revenue: dict[str, Any], expected: int) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(pool=REVENUE_POOL, revenue=revenue))
    kernel.record("sale", _order())
    assert _revenue(kernel) == expected


def test_a_discount_on_a_filtered_out_product_does_not_count(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(pool=REVENUE_POOL, revenue={
        "compilers": ["line_items", "discounts"], "skus": ["shirt"]}))
    lines = [{"kind": "product", "amount": "120.00", "sku": "shirt"},
             {"kind": "product", "amount": "20.00", "sku": "book"},
             {"kind": "discount", "amount": "5.00", "sku": "book"},
             {"kind": "discount", "amount": "10.00", "sku": "shirt"}]
    kernel.record("sale", {**sale("o-1", "alice", "125.00"), "lines": lines})
    assert _revenue(kernel) == 11000


def test_siren_example_a_120_item_with_a_20_coupon_is_a_100_basis(kernel: Kernel) -> None:
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    lines = [{"kind": "product", "amount": "120.00"}, {"kind": "discount", "amount": "20.00"}]
    kernel.record("sale", {**sale("o-1", None, "100.00"), "lines": lines})
    assert _revenue(kernel) == 10000


def test_without_lines_the_amount_is_one_product_line(kernel: Kernel) -> None:
    kernel.create_distributor(monthly(pool=REVENUE_POOL, revenue={"compilers": ["fees"]}))
    kernel.create_distributor(monthly("products", pool=REVENUE_POOL))
    kernel.record("sale", sale("o-1", None, "80.00"))
    assert (_revenue(kernel), _revenue(kernel, "products")) == (0, 8000)


def test_revenue_is_kept_for_revenue_pools_only(kernel: Kernel) -> None:
    kernel.create_distributor(monthly())  # fixed pool
    kernel.record("sale", sale("o-1", None, "80.00"))
    assert _revenue(kernel) == 0


def test_the_revenue_table_round_trips_and_defaults(kernel: Kernel) -> None:
    kernel.create_distributor(monthly("plain"))
    kernel.create_distributor(monthly("filtered", revenue={
        "compilers": ["line_items"], "skus": ["a", "b"], "categories": ["c"]}))
    plain = kernel.distributor("plain").spec.revenue
    assert (plain.compilers, plain.skus) == (("line_items", "discounts"), ())
    filtered = kernel.distributor("filtered").spec.revenue
    assert (filtered.compilers, filtered.skus, filtered.categories, filtered.types) == (
        ("line_items",), ("a", "b"), ("c",), ())


@pytest.mark.parametrize(("revenue", "field", "value"), [
    ({"compilers": ["coupons"]}, "revenue.compilers[0]", "coupons"),
    ({"compilers": ["fees"], "skus": ["x"]}, "revenue.skus", ["x"]),
    ({"compilers": "fees"}, "revenue.compilers", "fees"),
    ({"filters": []}, "revenue.filters", "filters"),
])
def test_a_bad_revenue_table_is_refused(kernel: Kernel, revenue: dict[str, Any], field: str,
                                        value: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(monthly(pool=REVENUE_POOL, revenue=revenue))
    assert (error.value.field, error.value.value) == (field, value)
    assert kernel.distributors() == ()


@pytest.mark.parametrize(("change", "field", "value"), [
    ({"amount": "130.00"}, "sale.amount", "130.00"),
    ({"lines": [{"kind": "gift", "amount": "1.00"}]}, "sale.lines[0].kind", "gift"),
    ({"lines": [{"kind": "product", "amount": 1.5}]}, "sale.lines[0].amount", 1.5),
    ({"lines": [{"kind": "product", "amount": "-1.00"}]}, "sale.lines[0].amount", "-1.00"),
    ({"lines": [{"kind": "product"}]}, "sale.lines[0].amount", None),
])
def test_bad_lines_are_refused(kernel: Kernel, change: dict[str, Any], field: str,
                               value: Any) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    counts = kernel.table_counts()
    with pytest.raises(InvalidInput) as error:
        kernel.record("sale", {**_order(), **change})
    assert (error.value.field, error.value.value) == (field, value)
    assert kernel.table_counts() == counts


# -- bad input ---------------------------------------------------------------------------

BAD_INPUT = [
    ("sale", sale("o-1", "alice", 120.0), "sale.amount", 120.0),  # type: ignore[arg-type]
    ("sale", sale("o-1", "alice", "-5.00"), "sale.amount", "-5.00"),
    ("sale", sale("o-1", "alice", "1.005"), "sale.amount", "1.005"),
    ("sale", sale("o-1", "alice", "5.00", currency="XYZ"), "sale.currency", "XYZ"),
    ("sale", sale("o-1", "alice", "5.00", currency="EUR"), "sale.currency", "EUR"),
    ("sale", sale("o-1", "mallory", "5.00"), "sale.collaborator", "mallory"),
    ("coupon", sale("o-1", "alice", "5.00"), "type", "coupon"),
    ("sale", sale("o-1", "alice", "5.00", "2026-01-05T10:00:00"), "sale.at",
     "2026-01-05T10:00:00"),
    ("sale", {k: v for k, v in sale("o-1", "alice", "5.00").items() if k != "id"}, "sale.id",
     None),
    ("sale", sale("", "alice", "5.00"), "sale.id", ""),
    ("sale", {**sale("o-1", "alice", "5.00"), "coupon": "X"}, "sale.coupon", "coupon"),
    ("visit", {"id": "v-1", "at": "2026-01-05T10:00:00Z", "collaborator": 7},
     "visit.collaborator", 7),
    ("manual", {"id": "m-1", "at": "yesterday", "collaborator": "alice"}, "manual.at",
     "yesterday"),
]


@pytest.mark.parametrize(("kind", "event", "field", "value"), BAD_INPUT)
def test_bad_input_names_field_and_value_and_writes_nothing(
        kernel: Kernel, kind: str, event: dict[str, Any], field: str, value: Any) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly(pool=REVENUE_POOL,
                                      metrics=[{"type": "sale", "points": 10},
                                               {"type": "manual", "points": 1}]))
    seen = _events(kernel)
    counts = kernel.table_counts()
    with pytest.raises(InvalidInput) as error:
        kernel.record(kind, event)
    assert (error.value.field, error.value.value) == (field, value)
    assert field in str(error.value) and repr(value) in str(error.value)
    assert kernel.table_counts() == counts and seen == []


@pytest.mark.parametrize(("changes", "field", "value"), [
    ({"at": datetime(2026, 1, 5)}, "sale.at", datetime(2026, 1, 5)),
    ({"collaborator": 7}, "sale.collaborator", 7),
    ({"amount": 1.5}, "sale.amount", 1.5),
])
def test_an_event_given_as_an_instance_is_checked_like_a_dictionary(
        kernel: Kernel, changes: dict[str, Any], field: str, value: Any) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())
    good = Sale(id="o-1", at=datetime(2026, 1, 5, tzinfo=UTC), amount=Decimal("5.00"),
                currency="USD", collaborator="alice")
    counts = kernel.table_counts()
    with pytest.raises(InvalidInput) as error:
        kernel.record("sale", attrs.evolve(good, **changes))
    assert (error.value.field, error.value.value) == (field, value)
    assert kernel.table_counts() == counts
    assert kernel.record("sale", good).credits == 1
    assert kernel.record("sale", sale("o-1", "alice", "5.00", "2026-01-05T00:00:00Z")
                         ).duplicate  # the same event as a dictionary: not a conflict


def test_a_foreign_currency_is_fine_for_a_points_only_distributor(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())  # fixed pool, points per sale: no money involved
    assert kernel.record("sale", sale("o-1", "alice", "5.00", currency="EUR")).credits == 1
    kernel.create_distributor(monthly("by-amount", metrics=[{"type": "sale", "value": "amount"}]))
    with pytest.raises(InvalidInput) as error:
        kernel.record("sale", sale("o-2", "alice", "5.00", currency="EUR"))
    assert (error.value.field, error.value.value) == ("sale.currency", "EUR")


def test_late_events_count_in_the_open_period(kernel: Kernel) -> None:
    _with_people(kernel)
    kernel.create_distributor(monthly())
    kernel.heartbeat(at("2026-02-01"))
    kernel.record("sale", sale("o-1", "alice", "5.00", "2026-01-20T00:00:00Z"))
    kernel.record("sale", sale("o-2", "bob", "5.00", "2026-02-03T00:00:00Z"))
    assert _scores(kernel, when="2026-03-01") == {"alice": 10, "bob": 10}
    [january] = kernel.distributions(status="completed")
    assert kernel.allocations(january.id) == ()


@settings(max_examples=300, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None),
       st.sampled_from(["USD", "JPY", "KWD"]))
def test_the_sale_fast_amount_path_agrees_with_to_minor(amount: Decimal, code: str) -> None:
    unit = currency(code)
    try:
        expected: int | str = to_minor(amount, unit, field="sale.amount")
    except InvalidInput as exc:
        expected = exc.problem
    try:
        found: int | str = _minor(amount, unit, "sale.amount")
    except InvalidInput as exc:
        assert exc.value == str(amount)
        found = exc.problem
    assert found == expected
