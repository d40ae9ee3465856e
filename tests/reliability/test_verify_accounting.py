"""``siren doctor --verify`` sees lost credits and over-refunds: each new invariant holds
on a healthy store and is broken by hand (raw SQL) to see it reported."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.verify import verify

from conftest import at, monthly, sale


@pytest.fixture
def shop(make_kernel: Any) -> Kernel:
    kernel: Kernel = make_kernel()
    kernel.create_collaborator("ana")
    kernel.create_collaborator("gone", status="inactive")
    kernel.create_distributor(monthly())
    kernel.create_distributor(monthly("march", start="2026-03-01"))
    kernel.create_distributor(monthly("paused"))
    kernel.set_distributor_status("paused", "inactive")
    kernel.record("sale", sale("credited", "ana", "20.00", "2026-01-05T10:00:00Z"))
    kernel.record("sale", sale("organic", None, "10.00", "2026-01-05T10:00:00Z"))
    kernel.record("sale", sale("inactive", "gone", "10.00", "2026-01-05T10:00:00Z"))
    kernel.record("refund", {"id": "r-1", "at": "2026-01-06T00:00:00Z", "sale": "credited",
                             "amount": "5.00"})
    kernel.heartbeat(at("2026-02-01"))
    kernel.record("refund", {"id": "r-2", "at": "2026-02-06T00:00:00Z", "sale": "credited"})
    kernel.record("sale", sale("late", "ana", "10.00", "2026-01-20T10:00:00Z"))
    kernel.set_distributor_status("paused", "deleted")
    kernel.record("sale", sale("after-delete", "ana", "10.00", "2026-02-07T10:00:00Z"))
    kernel.create_distributor(monthly("newcomer"))  # tracks nothing recorded before it
    assert verify(kernel) == []
    return kernel


def _event_id(kernel: Kernel, key: str) -> int:
    with kernel.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT id FROM source_event WHERE key = :key"),
                                {"key": key}).scalar_one())


def _damage(kernel: Kernel, statement: str, **values: Any) -> set[str]:
    with kernel.engine.begin() as conn:
        conn.execute(sa.text(statement), values)
    return {violation.invariant for violation in verify(kernel)}


@pytest.mark.parametrize(("event", "table"), [
    ("credited", "score_credit"), ("late", "score_credit"), ("organic", "credit_skip"),
    ("inactive", "credit_skip"), ("credited", "credit_skip"), ("after-delete", "score_credit"),
])
def test_an_event_without_its_credit_or_reason_is_found(shop: Kernel, event: str,
                                                         table: str) -> None:
    key = _event_id(shop, event)
    found = _damage(shop, f"DELETE FROM {table} WHERE source_event_id = :key", key=key)
    assert "every_event_accounted" in found
    [violation] = [v for v in verify(shop) if v.invariant == "every_event_accounted"]
    assert all(row[:2] == ("sale", event) for row in violation.rows)


def test_a_sale_refunded_beyond_its_amount_is_found(shop: Kernel) -> None:
    found = _damage(shop, "UPDATE sale_refund SET amount = amount + 1 "
                          "WHERE refund_event_id = :key", key=_event_id(shop, "r-2"))
    assert "refunds_within_their_sale" in found


def test_a_sale_whose_points_go_below_zero_is_found(shop: Kernel) -> None:
    found = _damage(shop, "UPDATE score_credit SET points = points - 1 "
                          "WHERE source_event_id = :key", key=_event_id(shop, "r-2"))
    assert "sale_credits_not_below_zero" in found


def test_a_refund_booked_twice_is_found(shop: Kernel) -> None:
    found = _damage(shop, "UPDATE score_credit SET points = points * 3 "
                          "WHERE source_event_id = :key", key=_event_id(shop, "r-1"))
    assert "sale_credits_not_below_zero" in found
