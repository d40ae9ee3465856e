"""Numbers near the 64-bit limit: every configured number is bounded where it is accepted,
sums of stored amounts are exact at any size, and a result the store cannot keep is a
clear refusal that fails alone (the heartbeat goes on with the other distributors)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.errors import InvalidInput
from siren_core.store import distribution_queries, queries, unit_of_work
from siren_core.store.tables import DistributorConfig, table
from siren_core.verify import verify

from conftest import at, monthly, sale

STORABLE_MAX = 2**63 - 1
MAX_AMOUNT = 10**15  # siren_core.domain.MAX_AMOUNT, the documented bound
HUGE_SALE = "50000000000000000.00"
"""5 * 10**18 cents: one fits in 64 bits, two do not."""


def _cascade(points: int) -> dict[str, Any]:
    return monthly("cascade", metrics=[{"type": "sale", "points": 1, "credit": {
        "rule": "upline_cascade", "layers": [points]}}])


@pytest.mark.parametrize(("spec", "field"), [
    (monthly(metrics=[{"type": "sale", "points": 10**7}]), "metrics[0].points"),
    (monthly(hold_days=10**9), "hold_days"),
    (monthly(catch_up_limit=10**12), "catch_up_limit"),
    (monthly(pool={"resolver": "fixed", "amount": "90000000000000000.00"}), "pool.amount"),
    (monthly(pool={"resolver": "revenue_percentage", "percent": "1E-1000000"}),
     "pool.percent"),
    (_cascade(10**7), "metrics[0].credit.layers[0]"),
    (monthly(every=10**9), "every"),
    (monthly(start="9999-12-01"), "start"),
])
def test_configured_numbers_are_bounded(kernel: Kernel, spec: dict[str, Any],
                                        field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        kernel.create_distributor(spec)
    assert raised.value.field == field
    assert kernel.distributors() == ()


def test_amounts_of_obligations_and_minimums_are_bounded(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    with pytest.raises(InvalidInput) as raised:
        kernel.issue_obligation("alice", MAX_AMOUNT + 1, "USD", source="bonus", source_id=1)
    assert raised.value.field == "amount"
    with pytest.raises(InvalidInput) as raised:
        kernel.generate_fulfillment(minimum={"USD": STORABLE_MAX})
    assert raised.value.field == "minimum.USD"
    assert kernel.obligations() == ()


def test_a_manual_quantity_is_bounded(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(metrics=[{"type": "manual", "points": 10**6}]))
    with pytest.raises(InvalidInput) as raised:
        kernel.credit_metric("alice", id="m1", at=at("2026-01-05"), quantity=10**13)
    assert raised.value.field == "manual.quantity"


def _two_huge_sales(kernel: Kernel, second: str = "2026-01-06T10:00:00Z") -> None:
    kernel.create_collaborator("alice")
    for key, when in (("s1", "2026-01-05T10:00:00Z"), ("s2", second)):
        kernel.record("sale", sale(key, "alice", HUGE_SALE, when))


@pytest.mark.parametrize("big", [
    monthly("big", metrics=[{"type": "sale", "value": "amount"}]),
    monthly("big", pool={"resolver": "revenue_percentage", "percent": "10"}),
], ids=["score", "revenue"])
def test_a_sum_beyond_64_bits_fails_its_period_alone(kernel: Kernel,
                                                     big: dict[str, Any]) -> None:
    kernel.create_distributor(big)
    kernel.create_distributor(monthly("after"))
    _two_huge_sales(kernel)

    report = kernel.heartbeat(at("2026-02-01"))

    assert [(name, "exceeds the largest storable integer" in message)
            for _id, name, message in report.failed] == [("big", True)]
    assert [d.distributor for d in report.completed] == ["after"]
    assert [d.status for d in kernel.distributions(distributor="big")] == ["open"]
    assert kernel.heartbeat(at("2026-02-01")).failed == report.failed  # still refused
    assert verify(kernel) == []


def test_a_hold_beyond_the_calendar_stored_earlier_does_not_stop_heartbeats(
        kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly("held", hold_days=30))
    kernel.record("sale", sale("s1", "alice", "10.00"))
    # a store written before hold_days was bounded: the distributor holds for ever
    with unit_of_work(kernel.engine) as conn:
        for stored in (queries.distributor, table(DistributorConfig)):
            (key, config), = conn.execute(sa.select(stored.c.id, stored.c.config))
            conn.execute(stored.update().where(stored.c.id == key)
                         .values(config={**config, "hold_days": 10**9}))
    later = Kernel(kernel.engine.url.render_as_string(hide_password=False))
    try:
        report = later.heartbeat(at("2026-02-01"))
        assert [d.distributor for d in report.completed] == ["held"]
        assert report.approved_obligations == ()
        later.set_distributor_status("held", "deleted")
        assert later.heartbeat(at("2026-03-01")).failed == ()
    finally:
        later.close()


def test_obligations_whose_total_exceeds_64_bits_are_paid_in_several_payouts(
        kernel: Kernel) -> None:
    kernel.create_distributor(monthly(pool={"resolver": "revenue_percentage",
                                            "percent": "100"}))
    _two_huge_sales(kernel, second="2026-02-06T10:00:00Z")
    kernel.heartbeat(at("2026-03-01"))
    owed = kernel.obligations(collaborator="alice")
    assert [o.amount for o in owed] == [5 * 10**18, 5 * 10**18]
    kernel.approve_obligations([o.id for o in owed])

    result = kernel.generate_fulfillment()

    assert result.fulfillment is not None
    payouts = result.fulfillment.payouts
    assert sorted(p.obligation_ids for p in payouts) == [(owed[0].id,), (owed[1].id,)]
    kernel.mark_fulfillment(result.fulfillment.id, "paid")
    fulfilled, paid = kernel.obligation_totals()
    assert fulfilled == paid == {"USD": 10**19}
    assert verify(kernel) == []


def test_sums_beyond_64_bits_are_exact(kernel: Kernel) -> None:
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "value": "amount"}],
                                      pool={"resolver": "revenue_percentage", "percent": "1"}))
    kernel.create_collaborator("alice")
    kernel.create_collaborator("bob")
    for key, who, amount in (("s1", "alice", HUGE_SALE), ("s2", "alice", HUGE_SALE),
                             ("s3", "bob", "1.00")):
        kernel.record("sale", sale(key, who, amount))
    with unit_of_work(kernel.engine, write=False) as conn:
        (distributor_key,), = conn.execute(sa.select(queries.distributor.c.id))
        scores = distribution_queries.period_scores(conn, distributor_key, at("2026-01-01"),
                                       datetime(2026, 2, 1, tzinfo=UTC))
        revenue = distribution_queries.period_revenue(conn, distributor_key, at("2026-01-01"),
                                         at("2026-02-01"))
    assert scores.eligible == {"alice": 10**19, "bob": 100}
    assert scores.beyond == ("alice", 10**19)  # the period is refused, not the read
    assert revenue == 10**19 + 100


def test_verify_sums_a_period_past_64_bits_exactly(kernel: Kernel) -> None:
    """Credits whose running sum passes 2**63 though the period's total does not (a huge
    sale refunded): the period pays, and ``verify`` checks its scores without overflowing."""
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "value": "amount"}]))
    _two_huge_sales(kernel)
    kernel.record("refund", {"id": "r1", "at": "2026-01-07T10:00:00Z", "sale": "s2"})

    (completed,) = kernel.heartbeat(at("2026-02-01")).completed

    assert [a.score for a in kernel.allocations(completed.id)] == [5 * 10**18]
    assert verify(kernel) == []


def test_points_beyond_the_store_from_a_configuration_stored_earlier_are_refused(
        kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(metrics=[{"type": "manual", "points": 10}]))
    with unit_of_work(kernel.engine) as conn:  # a store written before points were bounded
        for stored in (queries.distributor, table(DistributorConfig)):
            (key, config), = conn.execute(sa.select(stored.c.id, stored.c.config))
            metrics = [{**config["metrics"][0], "points": 10**14}]
            conn.execute(stored.update().where(stored.c.id == key)
                         .values(config={**config, "metrics": metrics}))
    later = Kernel(kernel.engine.url.render_as_string(hide_password=False))
    try:
        with pytest.raises(InvalidInput) as raised:
            later.credit_metric("alice", id="m1", at=at("2026-01-05"), quantity=10**6)
        assert raised.value.field == "manual.quantity"
        assert later.table_counts()["source_event"] == 0
    finally:
        later.close()
