"""The first end-to-end payout: recorded sales → heartbeat → allocations → obligations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import Event

from conftest import at, monthly, sale


def _three_sellers(kernel: Kernel, pool: str = "1000.00") -> None:
    for name in ("alice", "bob", "carol"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(pool={"resolver": "fixed", "amount": pool}))
    kernel.record("sale", sale("o-1", "alice", "120.00", "2026-01-03T09:00:00Z"))
    kernel.record("sale", sale("o-2", "bob", "80.00", "2026-01-10T09:00:00Z"))
    kernel.record("sale", sale("o-3", "alice", "45.00", "2026-01-20T09:00:00Z"))
    kernel.record("sale", sale("o-4", "carol", "300.00", "2026-01-31T23:59:59Z"))


def test_three_sellers_are_paid_exactly_from_the_pool(kernel: Kernel) -> None:
    _three_sellers(kernel)
    report = kernel.heartbeat(at("2026-02-01T00:00:00"))
    assert [d.period_start for d in report.completed] == [at("2026-01-01")]
    allocations = kernel.allocations(report.completed[0].id)
    # scores 20 / 10 / 10 of a 100000-cent pool: 50000 / 25000 / 25000
    assert [(a.collaborator, a.score, a.amount) for a in allocations] == [
        ("alice", 20, 50000), ("bob", 10, 25000), ("carol", 10, 25000)]
    assert sum(a.amount for a in allocations) == report.completed[0].pool == 100000
    assert {(a.calculator, a.config_version, a.pool) for a in allocations} == {
        ("proportional", 1, 100000)}
    obligations = kernel.obligations()
    assert [(o.collaborator, o.amount, o.status, o.source) for o in obligations] == [
        (a.collaborator, a.amount, "pending", "allocation") for a in allocations]
    assert [o.source_id for o in obligations] == [a.id for a in allocations]


def test_a_remainder_is_placed_deterministically(kernel: Kernel) -> None:
    _three_sellers(kernel, pool="0.01")
    kernel.heartbeat(at("2026-02-01"))
    # one cent, weights 20/10/10: alice has the largest remainder
    assert [(a.collaborator, a.amount) for a in kernel.allocations()] == [("alice", 1)]


def test_a_second_heartbeat_at_the_same_time_changes_nothing(kernel: Kernel) -> None:
    _three_sellers(kernel)
    kernel.heartbeat(at("2026-02-01T00:00:01"))
    before = kernel.table_counts()
    report = kernel.heartbeat(at("2026-02-01T00:00:01"))
    assert report.completed == () and report.failed == ()
    assert kernel.table_counts() == before


def test_a_period_is_not_due_one_second_before_its_end(kernel: Kernel) -> None:
    _three_sellers(kernel)
    assert kernel.heartbeat(at("2026-01-31T23:59:59")).completed == ()
    assert kernel.allocations() == ()
    assert len(kernel.heartbeat(at("2026-02-01T00:00:00")).completed) == 1


def test_the_next_period_opens_when_one_closes(kernel: Kernel) -> None:
    _three_sellers(kernel)
    kernel.heartbeat(at("2026-02-01"))
    periods = [(d.period_start, d.period_end, d.status) for d in kernel.distributions()]
    assert periods == [(at("2026-01-01"), at("2026-02-01"), "completed"),
                       (at("2026-02-01"), at("2026-03-01"), "open")]


def test_events_follow_the_commit(kernel: Kernel) -> None:
    seen: list[tuple[str, int]] = []

    def listener(event: Event) -> None:
        if not event.event_id.startswith(("collaborator_", "distributor_")):  # lifecycle
            seen.append((event.event_id, len(kernel.obligations())))

    kernel.subscribe(listener)
    _three_sellers(kernel)
    kernel.heartbeat(at("2026-02-01"))
    ids = [event_id for event_id, _ in seen]
    assert ids[:4] == ["metrics_triggered"] * 4
    assert ids[4:] == ["distribution_heartbeat_initialized", "distribution_completed",
                       "allocation_completed", "allocation_completed", "allocation_completed",
                       "obligation_issued", "obligation_issued", "obligation_issued"]
    # listeners of distribution events already see the committed obligations
    assert {count for event_id, count in seen[5:]} == {3}


def test_a_repeated_event_is_recorded_once(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    first = kernel.record("sale", sale("o-1", "alice", "10.00"))
    again = kernel.record("sale", sale("o-1", "alice", "10.00"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.credits == first.credits == 1
    assert kernel.table_counts()["source_event"] == 1
    with pytest.raises(Conflict, match="o-1"):
        kernel.record("sale", sale("o-1", "alice", "11.00"))
    assert kernel.table_counts()["score_credit"] == 1


def test_a_result_names_the_source_event_row_it_wrote_or_found(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())
    first = kernel.record("sale", sale("o-1", "alice", "10.00"))
    second = kernel.record("sale", sale("o-2", "alice", "10.00"))
    again = kernel.record("sale", sale("o-1", "alice", "10.00"))
    assert again.duplicate and again.source_event_id == first.source_event_id
    assert {first.source_event_id: "o-1", second.source_event_id: "o-2"} == _rows(kernel)


def _rows(kernel: Kernel) -> dict[int, str]:
    with kernel.engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(sa.text(
            "SELECT id, key FROM source_event"))}


@pytest.mark.parametrize(("event", "field", "value"), [
    (sale("o-9", "alice", "10.00") | {"amount": 10.5}, "sale.amount", 10.5),
    (sale("o-9", "alice", "-1.00"), "sale.amount", "-1.00"),
    (sale("o-9", "alice", "10.00", currency="ZZZ"), "sale.currency", "ZZZ"),
    (sale("o-9", "alice", "10.00", currency="EUR"), "sale.currency", "EUR"),
    (sale("o-9", "nobody", "10.00"), "sale.collaborator", "nobody"),
    (sale("o-9", "alice", "10.00", when="2026-01-05T10:00:00"), "sale.at",
     "2026-01-05T10:00:00"),
    ({k: v for k, v in sale("o-9", "alice", "1.00").items() if k != "id"}, "sale.id", None),
])
def test_bad_sales_are_refused_and_write_nothing(kernel: Kernel, event: dict[str, object],
                                                 field: str, value: object) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(metrics=[
        {"type": "sale", "points": 1}, {"type": "sale", "value": "amount"}]))
    before = kernel.table_counts()
    with pytest.raises(InvalidInput) as error:
        kernel.record("sale", event)
    assert error.value.field == field
    assert str(error.value.value) == str(value)
    assert field in str(error.value)
    assert kernel.table_counts() == before


def test_an_unknown_event_type_is_refused(kernel: Kernel) -> None:
    with pytest.raises(InvalidInput, match="type: 'bogus' is not a known trigger strategy"):
        kernel.record("bogus", {"id": "x", "at": "2026-01-01T00:00:00Z"})


def test_an_inactive_collaborator_earns_nothing(kernel: Kernel) -> None:
    _three_sellers(kernel)
    kernel.set_collaborator_status("bob", "inactive")
    kernel.record("sale", sale("o-5", "bob", "10.00", "2026-01-15T00:00:00Z"))
    kernel.heartbeat(at("2026-02-01"))
    # bob's earlier credit stays recorded, but an inactive collaborator is not paid
    assert [a.collaborator for a in kernel.allocations()] == ["alice", "carol"]
    assert sum(a.amount for a in kernel.allocations()) == 100000


def test_an_event_for_a_distributed_period_counts_in_the_open_one(kernel: Kernel) -> None:
    _three_sellers(kernel)
    kernel.heartbeat(at("2026-02-01"))
    kernel.record("sale", sale("late-1", "bob", "5.00", "2026-01-15T00:00:00Z"))
    assert [a.score for a in kernel.allocations()] == [20, 10, 10]
    kernel.heartbeat(at("2026-03-01"))
    february = kernel.distributions()[1]
    assert [(a.collaborator, a.score) for a in kernel.allocations(february.id)] == [("bob", 10)]


def test_a_period_with_no_scores_records_why(kernel: Kernel) -> None:
    kernel.create_distributor(monthly())
    completed = kernel.heartbeat(at("2026-02-01")).completed
    assert [(d.reason, d.pool) for d in completed] == [("no_scores", 100000)]
    assert kernel.allocations() == () and kernel.obligations() == ()


def test_bad_distributor_configuration_names_the_field(kernel: Kernel) -> None:
    cases = [
        (monthly(units="usd"), "units"),
        (monthly(pool={"resolver": "nope"}), "pool.resolver"),
        (monthly(pool={"resolver": "fixed", "amount": "12,5"}), "pool.amount"),
        (monthly(pool={"resolver": "fixed", "amount": "1.005"}), "pool.amount"),
        (monthly(calculator={"id": "proportional", "extra": 1}), "calculator.extra"),
        (monthly(metrics=[{"type": "sale", "points": "ten"}]), "metrics[0].points"),
        (monthly(metrics=[{"type": "sale", "credit": {"rule": "nope"}}]),
         "metrics[0].credit.rule"),
        (monthly(schedule="fortnightly"), "schedule"),
        (monthly(timezone="Mars/Olympus"), "timezone"),
        (monthly(start="2026-02-30"), "start"),
        (monthly(colour="blue"), "colour"),
    ]
    for spec, field in cases:
        with pytest.raises(InvalidInput) as error:
            kernel.create_distributor(spec)
        assert error.value.field == field, (spec, str(error.value))
    assert kernel.table_counts()["distributor"] == 0


def test_distributors_are_unique_and_known(kernel: Kernel) -> None:
    kernel.create_distributor(monthly())
    with pytest.raises(Conflict):
        kernel.create_distributor(monthly())
    with pytest.raises(NotFound):
        kernel.distributor("missing")
    assert kernel.distributor("monthly-bonus").config_version == 1


def test_updating_a_distributor_keeps_its_history(kernel: Kernel) -> None:
    _three_sellers(kernel)
    kernel.update_distributor(monthly(pool={"resolver": "fixed", "amount": "10.00"}))
    kernel.heartbeat(at("2026-02-01"))
    assert {(a.pool, a.config_version) for a in kernel.allocations()} == {(1000, 2)}


def test_two_kernels_on_one_database_see_the_same_data(
        make_kernel: Callable[..., Kernel]) -> None:
    first, second = make_kernel(), make_kernel()
    _three_sellers(first)
    assert len(second.heartbeat(at("2026-02-01")).completed) == 1
    assert first.heartbeat(at("2026-02-01")).completed == ()
    assert len(first.allocations()) == 3
