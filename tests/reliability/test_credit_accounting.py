"""Every recorded event is accounted for: for each distributor that tracked one of its
metric types, it credited someone there or a ``credit_skip`` row says why not; an event
dated before a distributor's first period belongs to no period and earns nothing. The
single and the bulk path write the very same rows."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel, hookimpl, store
from siren_core.domain import CreditSkipped
from siren_core.records import Credit, CreditContext, CreditRule

from conftest import at, monthly, sale

MARCH = {"start": "2026-03-01"}


class Nobody:
    """A credit rule that credits no one (``nobody``)."""

    @hookimpl
    def siren_credit_rules(self) -> list[CreditRule]:
        def credit(_context: CreditContext, _config: Any) -> list[Credit]:
            return []

        return [CreditRule(id="nobody", description="credits no one", credit=credit)]


def _skips(kernel: Kernel) -> list[tuple[str, str, str, str]]:
    with store.unit_of_work(kernel.engine, write=False) as conn:
        return [tuple(row) for row in conn.execute(sa.text(
            "SELECT e.key, d.external_id, s.metric_type, s.reason FROM credit_skip s "
            "JOIN source_event e ON e.id = s.source_event_id "
            "JOIN distributor d ON d.id = s.distributor_id ORDER BY e.key, d.external_id"))]


def _shop(make_kernel: Any) -> Kernel:
    kernel: Kernel = make_kernel(plugins=[Nobody()])
    kernel.create_collaborator("ana")
    kernel.create_collaborator("gone", status="inactive")
    kernel.create_distributor(monthly())
    kernel.create_distributor(monthly("march", **MARCH))
    kernel.create_distributor(monthly("silent", metrics=[
        {"type": "sale", "points": 10, "credit": {"rule": "nobody"}}]))
    kernel.create_distributor(monthly("paused"))
    kernel.set_distributor_status("paused", "inactive")
    kernel.create_distributor(monthly("visits", metrics=[{"type": "visit", "points": 1}]))
    return kernel


EVENTS = [sale("credited", "ana", "10.00", "2026-03-05T10:00:00Z"),
          sale("organic", None, "10.00", "2026-03-05T10:00:00Z"),
          sale("inactive", "gone", "10.00", "2026-03-05T10:00:00Z"),
          sale("old", "ana", "10.00", "2019-06-01T10:00:00Z")]


def test_each_tracking_distributor_credits_or_says_why_not(make_kernel: Any) -> None:
    kernel = _shop(make_kernel)
    results = {event["id"]: kernel.record("sale", event) for event in EVENTS}
    assert _skips(kernel) == [
        ("credited", "paused", "sale", "distributor_inactive"),
        ("credited", "silent", "sale", "no_credit"),
        ("inactive", "march", "sale", "collaborator_not_eligible"),
        ("inactive", "monthly-bonus", "sale", "collaborator_not_eligible"),
        ("inactive", "paused", "sale", "distributor_inactive"),
        ("inactive", "silent", "sale", "collaborator_not_eligible"),
        ("old", "march", "sale", "before_distributor_start"),
        ("old", "monthly-bonus", "sale", "before_distributor_start"),
        ("old", "paused", "sale", "distributor_inactive"),
        ("old", "silent", "sale", "before_distributor_start"),
        ("organic", "march", "sale", "no_collaborator"),
        ("organic", "monthly-bonus", "sale", "no_collaborator"),
        ("organic", "paused", "sale", "distributor_inactive"),
        ("organic", "silent", "sale", "no_collaborator"),
    ]  # "visits" does not track sales: nothing to account for there
    assert results["credited"].credits == 2
    assert set(results["credited"].skipped) == {
        CreditSkipped("silent", "sale", "no_credit"),
        CreditSkipped("paused", "sale", "distributor_inactive")}
    again = kernel.record("sale", EVENTS[0])  # a duplicate repeats the first result
    assert again.duplicate and set(again.skipped) == set(results["credited"].skipped)


def test_an_event_before_a_distributors_start_belongs_to_no_period(
        make_kernel: Any) -> None:
    kernel: Kernel = make_kernel()
    kernel.create_collaborator("ana")
    kernel.create_collaborator("ben")
    kernel.create_distributor(monthly("march", **MARCH))
    kernel.record("sale", sale("new", "ana", "10.00", "2026-03-05T10:00:00Z"))
    old = kernel.record("sale", sale("old", "ben", "10.00", "2019-06-01T10:00:00Z"))
    assert (old.credits, old.skipped) == (
        0, (CreditSkipped("march", "sale", "before_distributor_start"),))
    kernel.heartbeat(at("2026-04-01"))
    assert [(a.collaborator, a.amount) for a in kernel.allocations()] == [("ana", 100_000)]


def _stored(kernel: Kernel, table: str, columns: str) -> list[tuple[Any, ...]]:
    with kernel.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(
            f"SELECT {columns} FROM {table} ORDER BY id")]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_bulk_writes_the_skips_single_records_write(make_kernel: Any, database_url: str,
                                                   batch_size: int) -> None:
    single = _shop(make_kernel)
    for event in EVENTS:
        single.record("sale", event)
    expected = {table: _stored(single, table, columns) for table, columns in TABLES}
    single.close()
    store.drop_schema(single.engine)
    bulk = _shop(make_kernel)
    report = bulk.record_many([{"type": "sale", **event} for event in EVENTS],
                              batch_size=batch_size)
    assert (report.inserted, report.skipped) == (4, 14)
    for table, columns in TABLES:
        assert _stored(bulk, table, columns) == expected[table], table


TABLES = [("credit_skip", "id, source_event_id, distributor_id, metric_type, reason"),
          ("score_credit", "id, source_event_id, distributor_id, collaborator_id, "
                           "metric_type, rule, layer, points, revenue, effective_at, late")]
