"""The single recording path: what it runs does not grow with the distributors, and a
distributor changed by another process is seen (the distributor stamp)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.store import metrics_queries as mq
from siren_core.store import queries
from siren_core.webhooks import subscriptions

from conftest import at, driver_statements, monthly, sale


def _recorded(kernel: Kernel, number: int) -> list[str]:
    with driver_statements(kernel) as seen:
        kernel.record("sale", sale(f"o-{number}", "alice", "10.00"))
    # the statements' text, without the values (SQLite's trace shows them bound)
    return [re.sub(r"'[^']*'", "?", re.split(" VALUES ", s)[0]) for s in seen
            if not s.startswith("PRAGMA")]


def test_a_recording_runs_the_same_statements_whatever_the_distributors(
        tmp_path: Any) -> None:
    kernel = Kernel(f"sqlite:///{tmp_path / 'cost.db'}")
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-0", "alice", "10.00"))  # warms the caches
    few = _recorded(kernel, 1)
    for i in range(30):  # distributors that do not track sales
        kernel.create_distributor(monthly(f"visits-{i}", metrics=[
            {"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]))
    kernel.record("sale", sale("o-2", "alice", "10.00"))  # the catalog reloads once
    many = _recorded(kernel, 3)
    assert many == few
    # the distributors are checked by one primary-key row, not read one by one
    assert not [s for s in many if s.startswith("SELECT id, config_version")]
    assert [s for s in many if " distributor_stamp " in s]
    kernel.close()


@pytest.mark.parametrize("change", ["pause", "reconfigure"])
def test_a_distributor_changed_by_another_kernel_is_seen_by_the_next_recording(
        make_kernel: Callable[..., Kernel], change: str) -> None:
    recorder, operator = make_kernel(), make_kernel()
    recorder.create_collaborator("alice")
    recorder.create_distributor(monthly())
    assert recorder.record("sale", sale("o-1", "alice", "10.00")).credits == 1
    if change == "pause":
        operator.set_distributor_status("monthly-bonus", "inactive")
        result = recorder.record("sale", sale("o-2", "alice", "10.00"))
        assert result.credits == 0
        assert [s.reason for s in result.skipped] == ["distributor_inactive"]
    else:
        operator.update_distributor(monthly(metrics=[
            {"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]))
        result = recorder.record("sale", sale("o-2", "alice", "10.00"))
        assert result.credits == 0 and result.skipped == ()


def test_a_recording_reads_no_binding_nor_subscription_when_there_are_none(
        tmp_path: Any) -> None:
    kernel = Kernel(f"sqlite:///{tmp_path / 'cost.db'}")
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-0", "alice", "10.00"))
    seen = _recorded(kernel, 1)
    # one read (the event, its collaborator, the stamp, two EXISTS, the open period) ...
    [read] = [s for s in seen if s.startswith("SELECT")]
    assert " distributor_stamp " in read and " distribution " in read
    # ... and neither the bindings nor the subscriptions themselves
    assert not [s for s in seen if "JOIN collaborator_group_binding" in s]
    assert not [s for s in seen if s.startswith("SELECT webhook_subscription")]
    kernel.close()


def test_a_sale_without_a_collaborator_looks_no_collaborator_up(tmp_path: Any) -> None:
    kernel = Kernel(f"sqlite:///{tmp_path / 'cost.db'}")
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-0", "alice", "10.00"))
    with driver_statements(kernel) as seen:
        result = kernel.record("sale", sale("o-1", None, "10.00"))
    assert result.credits == 0
    assert [s.reason for s in result.skipped] == ["no_collaborator"]
    assert [s.split()[0] for s in seen] == ["SELECT", "INSERT", "INSERT"]  # prelude, event, skip
    kernel.close()


def test_a_distributor_created_by_another_kernel_is_credited_by_a_warm_recorder(
        make_kernel: Callable[..., Kernel]) -> None:
    """The recorder's first statement locks the open periods its cached catalog expects;
    the distributor it did not know of is found after planning."""
    recorder, operator = make_kernel(), make_kernel()
    recorder.create_collaborator("alice")
    recorder.create_distributor(monthly())
    assert recorder.record("sale", sale("o-1", "alice", "10.00")).credits == 1
    operator.create_distributor(monthly("weekly-bonus", schedule="weekly"))
    assert recorder.record("sale", sale("o-2", "alice", "10.00")).credits == 2


def test_a_binding_made_by_another_kernel_limits_the_next_recording(
        make_kernel: Callable[..., Kernel]) -> None:
    recorder, operator = make_kernel(), make_kernel()
    for name in ("alice", "bob"):
        recorder.create_collaborator(name)
    recorder.create_distributor(monthly())
    assert recorder.record("sale", sale("o-1", "bob", "10.00")).credits == 1
    operator.create_group("peers", members=["alice"])
    operator.bind_distributor("monthly-bonus", "peers")
    result = recorder.record("sale", sale("o-2", "bob", "10.00"))
    assert result.credits == 0
    assert [s.reason for s in result.skipped] == ["collaborator_not_eligible"]
    assert recorder.record("sale", sale("o-3", "alice", "10.00")).credits == 1


def test_a_direct_list_changed_by_another_kernel_decides_the_next_recording(
        make_kernel: Callable[..., Kernel]) -> None:
    """A warm recorder keeps what planning works out from the configurations (the lanes,
    the scopes of unbound distributors) only while the catalog is unchanged."""
    recorder, operator = make_kernel(), make_kernel()
    for name in ("alice", "bob"):
        recorder.create_collaborator(name)
    recorder.create_distributor(monthly(eligibility="members", collaborators=["alice"]))
    assert recorder.record("sale", sale("o-1", "alice", "10.00")).credits == 1
    result = recorder.record("sale", sale("o-2", "bob", "10.00"))
    assert [s.reason for s in result.skipped] == ["collaborator_not_eligible"]
    operator.update_distributor(monthly(eligibility="members", collaborators=["bob"]))
    assert recorder.record("sale", sale("o-3", "bob", "10.00")).credits == 1
    result = recorder.record("sale", sale("o-4", "alice", "10.00"))
    assert [s.reason for s in result.skipped] == ["collaborator_not_eligible"]
    operator.create_group("peers", members=["alice"])
    operator.bind_distributor("monthly-bonus", "peers")  # bound: the cached scope is not used
    assert recorder.record("sale", sale("o-5", "alice", "10.00")).credits == 1
    operator.bind_distributor("monthly-bonus", None)
    result = recorder.record("sale", sale("o-6", "alice", "10.00"))
    assert [s.reason for s in result.skipped] == ["collaborator_not_eligible"]


def test_a_subscription_made_by_another_kernel_gets_the_next_recording(
        make_kernel: Callable[..., Kernel]) -> None:
    recorder, operator = make_kernel(), make_kernel()
    recorder.create_collaborator("alice")
    recorder.create_distributor(monthly())
    recorder.record("sale", sale("o-1", "alice", "10.00"))
    subscriptions.create(operator.engine, "http://127.0.0.1:9/siren", ["metrics.updated"],
                         allow_private=True)
    recorder.record("sale", sale("o-2", "alice", "10.00"))
    with recorder.engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name, body FROM webhook_event")).all()
    assert [(name, json.loads(body)["sourceEventId"]) for name, body in names] == [
        ("metrics.updated", "o-2")]


def test_a_key_recorded_first_elsewhere_writes_nothing_beside_it(
        make_kernel: Callable[..., Kernel]) -> None:
    """The insert-once of a recording (one statement on PostgreSQL): when the key is
    taken, no credit, skip or conversion row is written, and no id is returned."""
    kernel = make_kernel()
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-1", "alice", "10.00"))
    with kernel.engine.begin() as conn:
        [(collaborator, distributor)] = conn.execute(sa.text(
            "SELECT collaborator_id, distributor_id FROM score_credit")).all()
        before = queries.table_counts(conn)
        when = queries.store_time(conn, at("2026-01-05"))
        source = ("sale", "o-1", when, when, collaborator, 1000, "USD", "0" * 64,
                  "{}")  # mq.SOURCE_EVENT_VALUES
        credit = (distributor, "sale", "fixed", collaborator, 0, 10, 0, False,
                  when)  # mq.CREDIT_VALUES
        skip = {"distributor_id": distributor, "metric_type": "visit", "reason": "no_credit"}
        assert mq.insert_recording(conn, source, [credit], [skip], []) is None
        assert queries.table_counts(conn) == before
        fresh = mq.insert_recording(conn, (*source[:1], "o-9", *source[2:]), [credit],
                                    [dict(skip)], [])
        assert fresh is not None
        assert conn.execute(sa.text(
            "SELECT source_event_id, points, late FROM score_credit WHERE source_event_id = :k"
        ), {"k": fresh}).all() == [(fresh, 10, False)]
        assert conn.execute(sa.text(
            "SELECT reason FROM credit_skip WHERE source_event_id = :k"), {"k": fresh}
        ).all() == [("no_credit",)]


def test_the_prelude_searches_the_open_periods_by_distributor(tmp_path: Any) -> None:
    """Not by status, which would read the open period of every distributor."""
    kernel = Kernel(f"sqlite:///{tmp_path / 'cost.db'}")
    with kernel.engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + queries._prelude_with_periods(True, 2),
            ("sale", "o-1", "alice", 1, 2))]
    [periods] = [step for step in plan if step.startswith("SEARCH p ")]
    assert "(distributor_id=?)" in periods
    kernel.close()
