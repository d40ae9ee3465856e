"""Bulk ingestion plans every event as ``kernel.record`` does: the same events recorded
one by one and through ``record_many`` store the same rows, row for row, across every
branch of the credit planning (skip reasons, lateness, cascades, eligibility, revenue
compilers and line items, conversions, organic sales, rejections)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.errors import InvalidInput

from conftest import at, monthly, sale

REVENUE = {"resolver": "revenue_percentage", "percent": "10"}
FEB = "2026-02-03T10:00:00.250000Z"
JAN = "2026-01-20T08:30:00Z"


def _distributors(kernel: Kernel) -> None:
    points = [{"type": "sale", "points": 10}, {"type": "visit", "points": 1}]
    kernel.create_distributor(monthly("points", pool=REVENUE, metrics=points))
    kernel.create_distributor(monthly(
        "by-amount", units="EUR", late_events="reject", pool=REVENUE,
        metrics=[{"type": "sale", "value": "amount", "credit": {"rule": "fixed"}}]))
    kernel.create_distributor(monthly("cascade", metrics=[
        {"type": "sale", "points": 3, "credit": {"rule": "upline_cascade", "layers": [100, 50]}},
        {"type": "sale", "points": 2}]))
    kernel.bind_distributor("cascade", "chain")
    kernel.create_distributor(monthly("members", eligibility="members",
                                      collaborators=["alice", "carol"]))
    kernel.create_distributor(monthly("filtered", pool=REVENUE, metrics=[], revenue={
        "compilers": ["line_items", "discounts", "shipping"], "skus": ["book"]}))
    kernel.create_distributor(monthly("later", start="2026-03-01"))
    kernel.create_distributor(monthly("paused"))
    kernel.set_distributor_status("paused", "inactive")
    kernel.create_distributor(monthly("gone"))
    kernel.set_distributor_status("gone", "deleted")


@pytest.fixture
def store(kernel: Kernel) -> Kernel:
    for name in ("alice", "bob", "carol", "A", "B", "C"):
        kernel.create_collaborator(name)
    kernel.set_collaborator_status("carol", "inactive")
    kernel.create_group("chain", structure="linear_chain", members=[
        {"collaborator": name, "position": index + 1} for index, name in enumerate("ABC")])
    kernel.set_exchange_rate("USD", "EUR", "0.9125", since="2025-12-01")
    kernel.set_exchange_rate("EUR", "USD", "1.0950", since="2025-12-01")
    _distributors(kernel)
    kernel.heartbeat(at("2026-02-01"))  # January is distributed: its events come late
    return kernel


def _events(prefix: str) -> list[dict[str, Any]]:
    lines = [{"kind": "product", "amount": "30.00", "sku": "book"},
             {"kind": "product", "amount": "20.00", "sku": "pen"},
             {"kind": "discount", "amount": "5.00", "sku": "book"},
             {"kind": "shipping", "amount": "4.99"}]
    found = []
    for when in (JAN, FEB):
        tag = f"{prefix}{when[5:7]}"
        found += [
            {"type": "sale", **sale(f"{tag}-alice", "alice", "12.34", when)},
            {"type": "sale", **sale(f"{tag}-bob", "bob", "7.00", when, currency="EUR")},
            {"type": "sale", **sale(f"{tag}-carol", "carol", "3.00", when)},
            {"type": "sale", **sale(f"{tag}-organic", None, "99.99", when)},
            {"type": "sale", **sale(f"{tag}-chain", "C", "10.00", when)},
            {"type": "sale", **sale(f"{tag}-top", "A", "1.00", when)},
            {"type": "sale", **sale(f"{tag}-lines", "alice", "49.99", when), "lines": lines},
            {"type": "visit", "id": f"{tag}-visit", "at": when, "collaborator": "bob"},
            {"type": "sale", **sale(f"{tag}-nobody", "nobody", "1.00", when)},
        ]
    return found


def _rows(kernel: Kernel, prefix: str) -> list[tuple[Any, ...]]:
    """Every row the events of ``prefix`` wrote, ids and recording times left out."""
    queries = {
        "source_event": "SELECT e.key, e.kind, e.occurred_at, e.collaborator_id, e.amount,"
                        " e.currency, e.payload FROM source_event e WHERE e.key LIKE :p",
        "score_credit": "SELECT e.key, c.distributor_id, c.collaborator_id, c.metric_type,"
                        " c.rule, c.layer, c.points, c.revenue, c.effective_at, c.late"
                        " FROM score_credit c JOIN source_event e ON e.id = c.source_event_id"
                        " WHERE e.key LIKE :p",
        "credit_skip": "SELECT e.key, s.distributor_id, s.metric_type, s.reason"
                       " FROM credit_skip s JOIN source_event e ON e.id = s.source_event_id"
                       " WHERE e.key LIKE :p",
        "credit_conversion": "SELECT e.key, v.distributor_id, v.metric_type, v.base,"
                             " v.quote, v.rate, v.provider"
                             " FROM credit_conversion v JOIN source_event e"
                             " ON e.id = v.source_event_id WHERE e.key LIKE :p",
    }
    found = []
    with kernel.engine.connect() as conn:
        for table, query in queries.items():
            # the credits of one event in their written order (ids), events by key
            rows = conn.execute(sa.text(query + " ORDER BY 1"), {"p": f"{prefix}%"})
            found += [(table, row[0][len(prefix):],
                       *(value.replace(f'"id":"{prefix}', '"id":"') if isinstance(value, str)
                         else value for value in row[1:])) for row in rows]
    return found


def _credit_order(kernel: Kernel, prefix: str) -> list[tuple[Any, ...]]:
    query = ("SELECT e.key, c.distributor_id, c.collaborator_id, c.layer FROM score_credit c"
             " JOIN source_event e ON e.id = c.source_event_id WHERE e.key LIKE :p"
             " ORDER BY c.id")
    with kernel.engine.connect() as conn:
        return [(row[0][len(prefix):], *row[1:])
                for row in conn.execute(sa.text(query), {"p": f"{prefix}%"})]


def test_record_many_stores_what_record_stores_row_for_row(store: Kernel) -> None:
    single: list[tuple[str, str]] = []
    for event in _events("single-"):
        body = {key: value for key, value in event.items() if key != "type"}
        try:
            store.record(event["type"], body)
        except InvalidInput as exc:
            single.append((event["id"][len("single-"):], exc.field))
    report = store.record_many(_events("bulk-"), batch_size=7)
    assert [(r.id[len("bulk-"):] if r.id else "", r.field) for r in report.rejected
            ] == single
    assert len(single) == 2  # the unknown collaborator, in each month
    bulk, one_by_one = _rows(store, "bulk-"), _rows(store, "single-")
    assert bulk == one_by_one
    tables = {row[0] for row in bulk}
    assert tables == {"source_event", "score_credit", "credit_skip", "credit_conversion"}
    assert _credit_order(store, "bulk-") == _credit_order(store, "single-")
    credits = [row for row in bulk if row[0] == "score_credit"]
    assert report.credits == sum(1 for row in credits if row[3] is not None)
    assert report.skipped == sum(1 for row in bulk if row[0] == "credit_skip")
    assert report.late == sum(1 for row in credits if row[-1]) + sum(
        1 for row in bulk if row[0] == "credit_skip" and row[-1] == "late_rejected")


def _fixed_rule_distributors(kernel: Kernel) -> None:
    """Distributors applying the ``fixed`` rule only, with points."""
    kernel.create_distributor(monthly("points", pool=REVENUE, metrics=[
        {"type": "sale", "points": 10}, {"type": "visit", "points": 1},
        {"type": "manual", "points": 7}]))
    kernel.create_distributor(monthly("three-entries", metrics=[
        {"type": "sale", "points": 3}, {"type": "sale", "points": 0},
        {"type": "sale", "points": 2}, {"type": "manual", "points": 0}]))
    kernel.create_distributor(monthly("revenue-only", pool=REVENUE, metrics=[], revenue={
        "compilers": ["line_items", "discounts"], "skus": ["book"]}))


def _fixed_rule_events(prefix: str) -> list[dict[str, Any]]:
    book = [{"kind": "product", "amount": "30.00", "sku": "book"},
            {"kind": "discount", "amount": "5.00", "sku": "book"}]
    pen = [{"kind": "product", "amount": "20.00", "sku": "pen"}]
    found = []
    for when in (JAN, FEB, "2026-02-01T00:00:00Z"):
        tag = f"{prefix}{when[5:10]}"
        found += [
            {"type": "sale", **sale(f"{tag}-alice", "alice", "12.34", when)},
            {"type": "sale", **sale(f"{tag}-zero", "alice", "0.00", when)},
            {"type": "sale", **sale(f"{tag}-book", "bob", "25.00", when), "lines": book},
            {"type": "sale", **sale(f"{tag}-pen", "bob", "20.00", when), "lines": pen},
            {"type": "sale", **sale(f"{tag}-euro", "alice", "7.00", when, currency="EUR")},
            {"type": "sale", **sale(f"{tag}-carol", "carol", "3.00", when)},
            {"type": "sale", **sale(f"{tag}-organic", None, "9.99", when)},
            {"type": "visit", "id": f"{tag}-visit", "at": when, "collaborator": "bob"},
            {"type": "manual", "id": f"{tag}-manual", "at": when, "collaborator": "alice",
             "quantity": 4},
        ]
    return found


def test_the_fixed_rules_known_answer_stores_what_record_stores(make_kernel: Any) -> None:
    """The ``fixed`` rule's answer is planned without a call (``credit_actor``): several
    entries per metric type, zero points, quantities, revenue riding on a row or on a row
    of its own, late and foreign-currency events, organic sales and inactive
    collaborators store the same rows one by one and in bulk."""
    kernel = make_kernel()
    for name in ("alice", "bob", "carol"):
        kernel.create_collaborator(name)
    kernel.set_collaborator_status("carol", "inactive")
    kernel.set_exchange_rate("EUR", "USD", "1.0950", since="2025-12-01")
    _fixed_rule_distributors(kernel)
    kernel.heartbeat(at("2026-02-01"))  # January's events come late
    for event in _fixed_rule_events("single-"):
        kernel.record(event["type"], {k: v for k, v in event.items() if k != "type"})
    report = kernel.record_many(_fixed_rule_events("bulk-"), batch_size=5)
    assert report.rejected == ()
    rows = _rows(kernel, "bulk-")
    assert rows == _rows(kernel, "single-")
    assert _credit_order(kernel, "bulk-") == _credit_order(kernel, "single-")
    assert ("score_credit", "02-03-manual", _store_id(kernel, "distributor", "points"),
            _store_id(kernel, "collaborator", "alice"), "manual", "fixed", 0, 28, 0
            ) in [row[:9] for row in rows]
    assert {row[-1] for row in rows if row[0] == "credit_skip"} == {
        "no_credit", "no_collaborator", "collaborator_not_eligible"}


def _store_id(kernel: Kernel, table: str, external_id: str) -> int:
    with kernel.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT id FROM {table} WHERE external_id = :e"),
                                {"e": external_id}).scalar_one())
