"""The obligation lifecycle: issuing, every legal and illegal transition, bulk outcomes,
aliases, the hold period, the audit log and the events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime

import pytest

from siren_core import Kernel
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import (
    Event,
    ObligationIssued,
    ObligationStatusChanged,
)
from siren_core.obligations.values import (
    STATUSES,
    TRANSITIONS,
    IllegalTransition,
    canonical_status,
    target_of,
)

from conftest import at, monthly, sale

_SOURCE_IDS = itertools.count(1)


def issue(kernel: Kernel, collaborator: str = "alice", amount: int = 1000,
          units: str = "USD") -> int:
    return kernel.issue_obligation(collaborator, amount, units, source="test",
                                   source_id=next(_SOURCE_IDS)).id


@pytest.fixture
def people(kernel: Kernel) -> Kernel:
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    return kernel


def events_of(kernel: Kernel) -> list[Event]:
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    return seen


def in_status(kernel: Kernel, status: str) -> int:
    """A fresh obligation brought to ``status`` through legal moves (fulfilled via a
    paid payout)."""
    key = issue(kernel)
    paths = {"pending": [], "approved": ["approved"], "rejected": ["rejected"],
             "cancelled": ["cancelled"], "fulfilled": ["approved"]}
    for step in paths[status]:
        kernel.set_obligation_status(key, step)
    if status == "fulfilled":
        result = kernel.generate_fulfillment([key])
        assert result.fulfillment is not None
        kernel.mark_payout(result.fulfillment.payouts[0].id, "paid")
    assert kernel.obligation(key).status == status
    return key


# -- issuing ---------------------------------------------------------------------------

def test_issue_obligation_from_another_source(people: Kernel) -> None:
    seen = events_of(people)
    value = people.issue_obligation("alice", 2500, "USD", source="program", source_id=7,
                                    award_type="commission")
    assert (value.status, value.amount, value.units, value.source, value.source_id,
            value.award_type, value.payout_id) == (
        "pending", 2500, "USD", "program", 7, "commission", None)
    assert [type(e) for e in seen] == [ObligationIssued]
    assert isinstance(seen[0], ObligationIssued) and seen[0].obligation == value
    assert seen[0].conversion_id is None
    history = people.obligation_history(value.id)
    assert [(h.from_status, h.to_status, h.actor) for h in history] == [
        (None, "pending", "api")]


def test_issue_is_idempotent_per_source(people: Kernel) -> None:
    first = people.issue_obligation("alice", 100, "USD", source="program", source_id=1)
    seen = events_of(people)
    again = people.issue_obligation("alice", 100, "USD", source="program", source_id=1)
    assert again == first and seen == []
    with pytest.raises(Conflict):
        people.issue_obligation("alice", 999, "USD", source="program", source_id=1)
    assert len(people.obligations()) == 1


@pytest.mark.parametrize(("field", "arguments"), [
    ("amount", {"amount": 0}),
    ("amount", {"amount": -5}),
    ("amount", {"amount": 1.5}),
    ("amount", {"amount": True}),
    ("units", {"units": "usd"}),
    ("collaborator", {"collaborator": "nobody"}),
    ("source", {"source": ""}),
    ("source", {"source": "allocation"}),
    ("source_id", {"source_id": 0}),
])
def test_issue_refuses_bad_input(people: Kernel, field: str, arguments: dict[str, object]
                                 ) -> None:
    call: dict[str, object] = {"collaborator": "alice", "amount": 100, "units": "USD",
                               "source": "program", "source_id": 1, **arguments}
    with pytest.raises(InvalidInput) as caught:
        people.issue_obligation(**call)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert people.obligations() == ()


def test_distribution_obligations_are_issued_after_commit(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_collaborator("bob")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("s1", "alice", "100.00"))
    kernel.record("sale", sale("s2", "bob", "100.00"))
    seen: list[Event] = []

    def check(event: Event) -> None:
        if isinstance(event, ObligationIssued):  # committed: visible to a fresh read
            assert kernel.obligation(event.obligation.id) == event.obligation
        seen.append(event)

    kernel.subscribe(check)
    kernel.heartbeat(at("2026-02-01T00:00"))
    issued = [e for e in seen if isinstance(e, ObligationIssued)]
    assert sorted(e.obligation.collaborator for e in issued) == ["alice", "bob"]
    assert sum(e.obligation.amount for e in issued) == 100000
    assert all(e.obligation.source == "allocation" for e in issued)
    ids = [e.event_id for e in seen]
    assert ids.index("obligation_issued") > ids.index("allocation_completed")
    history = kernel.obligation_history(issued[0].obligation.id)
    assert [(h.from_status, h.to_status) for h in history] == [(None, "pending")]
    assert history[0].actor.startswith("distribution #")


# -- vocabulary ------------------------------------------------------------------------

@pytest.mark.parametrize(("given", "canonical"), [
    ("pending", "pending"), ("draft", "pending"), ("approved", "approved"),
    ("fulfilled", "fulfilled"), ("complete", "fulfilled"), ("completed", "fulfilled"),
    ("cancelled", "cancelled"), ("canceled", "cancelled"), ("rejected", "rejected"),
])
def test_status_aliases(given: str, canonical: str) -> None:
    assert canonical_status(given) == canonical


@pytest.mark.parametrize(("action", "target"), [
    ("approve", "approved"), ("reject", "rejected"), ("markPending", "pending"),
    ("markComplete", "fulfilled"), ("cancel", "cancelled"), ("complete", "fulfilled"),
    ("approved", "approved"),
])
def test_action_names(action: str, target: str) -> None:
    assert target_of(action) == target


@pytest.mark.parametrize("bad", ["paid", "APPROVED", "", None, 3, "delete"])
def test_unknown_status_or_action(bad: object) -> None:
    with pytest.raises(InvalidInput):
        canonical_status(bad)
    with pytest.raises(InvalidInput):
        target_of(bad)


def test_status_filter_accepts_aliases(people: Kernel) -> None:
    fulfilled = in_status(people, "fulfilled")
    issue(people)
    assert [o.id for o in people.obligations(status="complete")] == [fulfilled]
    with pytest.raises(InvalidInput):
        people.obligations(status="paid")


# -- transitions -----------------------------------------------------------------------

LEGAL = [(a, b) for a in STATUSES for b in sorted(TRANSITIONS[a]) if b != "fulfilled"]
ILLEGAL = [(a, b) for a in STATUSES for b in STATUSES
           if a != b and (b not in TRANSITIONS[a] or b == "fulfilled")]


def test_every_pair_is_classified() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(STATUSES) * (len(STATUSES) - 1)
    assert ("fulfilled", "rejected") in ILLEGAL and ("cancelled", "approved") in ILLEGAL


@pytest.mark.parametrize(("before", "after"), LEGAL)
def test_legal_transition(people: Kernel, before: str, after: str) -> None:
    key = in_status(people, before)
    seen = events_of(people)
    value = people.set_obligation_status(key, after, actor="ops:jane", reason="checked")
    assert value.status == after
    assert [type(e) for e in seen] == [ObligationStatusChanged]
    change = seen[0]
    assert isinstance(change, ObligationStatusChanged)
    assert (change.from_status, change.obligation.status, change.actor, change.reason) == (
        before, after, "ops:jane", "checked")
    last = people.obligation_history(key)[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        before, after, "ops:jane", "checked")


@pytest.mark.parametrize(("before", "after"), ILLEGAL)
def test_illegal_transition_changes_nothing(people: Kernel, before: str, after: str) -> None:
    key = in_status(people, before)
    history = people.obligation_history(key)
    seen = events_of(people)
    with pytest.raises(IllegalTransition) as caught:
        people.set_obligation_status(key, after)
    assert isinstance(caught.value, Conflict)
    assert people.obligation(key).status == before
    assert people.obligation_history(key) == history
    assert seen == []


def test_same_status_is_a_no_op(people: Kernel) -> None:
    key = in_status(people, "approved")
    history = people.obligation_history(key)
    assert people.set_obligation_status(key, "approve").status == "approved"
    assert people.obligation_history(key) == history


def test_unknown_obligation(people: Kernel) -> None:
    with pytest.raises(NotFound):
        people.set_obligation_status(999, "approve")
    with pytest.raises(NotFound):
        people.obligation(999)
    with pytest.raises(NotFound):
        people.obligation_history(999)


def test_obligation_in_open_payout_cannot_be_rejected(people: Kernel) -> None:
    key = in_status(people, "approved")
    result = people.generate_fulfillment()
    assert result.fulfillment is not None
    payout = result.fulfillment.payouts[0]
    assert people.obligation(key).payout_id == payout.id
    for action in ("reject", "cancel", "markPending"):
        with pytest.raises(IllegalTransition, match="open payout"):
            people.set_obligation_status(key, action)
    people.mark_payout(payout.id, "failed", reason="bank rejected")
    assert people.set_obligation_status(key, "reject").status == "rejected"


# -- bulk ------------------------------------------------------------------------------

def test_bulk_outcomes(people: Kernel) -> None:
    pending = [issue(people) for _ in range(3)]
    approved = in_status(people, "approved")
    fulfilled = in_status(people, "fulfilled")
    seen = events_of(people)
    result = people.approve_obligations([*pending, approved, fulfilled, 4242, pending[0]],
                                        actor="ops:jane", reason="month-end review")
    by_id = {o.id: o for o in result.outcomes}
    assert len(result.outcomes) == 6  # a repeated id is reported once
    assert [o.id for o in result.done] == pending
    assert [(o.id, o.reason) for o in result.skipped] == [(approved, "already approved")]
    refused = {o.id: o.reason for o in result.refused}
    assert refused == {fulfilled: "fulfilled is final", 4242: "no such obligation"}
    assert by_id[4242].status is None
    assert by_id[fulfilled].status == "fulfilled"
    assert [o.status for o in people.obligations() if o.id in pending] == ["approved"] * 3
    assert sorted(e.obligation.id for e in seen
                  if isinstance(e, ObligationStatusChanged)) == pending


def test_bulk_siren_action_names(people: Kernel) -> None:
    keys = [issue(people) for _ in range(2)]
    assert len(people.obligation_action("approve", keys).done) == 2
    assert len(people.obligation_action("markPending", keys).done) == 2
    assert len(people.obligation_action("reject", keys[:1]).done) == 1
    refused = people.obligation_action("markComplete", keys[1:]).refused
    assert refused[0].reason is not None and "paid payout" in refused[0].reason
    assert len(people.cancel_obligations(keys[1:]).done) == 1
    assert [o.status for o in people.obligations()] == ["rejected", "cancelled"]


@pytest.mark.parametrize(("action", "ids", "field"), [
    ("delete", [1], "action"), ("approve", "1,2", "ids"), ("approve", [1, "2"], "ids[1]"),
    ("approve", [0], "ids[0]"), ("approve", [True], "ids[0]"),
])
def test_bulk_refuses_bad_input(people: Kernel, action: str, ids: object,
                                field: str) -> None:
    key = issue(people)
    with pytest.raises(InvalidInput) as caught:
        people.obligation_action(action, ids)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert people.obligation(key).status == "pending"


def test_reason_and_actor_are_checked(people: Kernel) -> None:
    key = issue(people)
    with pytest.raises(InvalidInput) as caught:
        people.approve_obligations([key], actor="")
    assert caught.value.field == "actor"
    with pytest.raises(InvalidInput):
        people.approve_obligations([key], reason="x" * 1001)
    assert people.obligation(key).status == "pending"


# -- hold period -----------------------------------------------------------------------

def _distributed(make_kernel: Callable[..., Kernel], hold_days: int | None,
                 clock: list[datetime]) -> Kernel:
    kernel = make_kernel(clock=lambda: clock[0])
    kernel.create_collaborator("alice")
    spec = monthly() if hold_days is None else monthly(hold_days=hold_days)
    kernel.create_distributor(spec)
    kernel.record("sale", sale("s1", "alice", "100.00"))
    kernel.heartbeat(at("2026-02-01T00:00"))
    return kernel


def test_hold_period_approves_automatically(make_kernel: Callable[..., Kernel]) -> None:
    clock = [at("2026-02-01T00:00")]
    kernel = _distributed(make_kernel, 30, clock)
    [value] = kernel.obligations()
    assert value.status == "pending"
    assert kernel.heartbeat(at("2026-03-02T23:59")).approved_obligations == ()
    assert kernel.obligation(value.id).status == "pending"
    seen = events_of(kernel)
    report = kernel.heartbeat(at("2026-03-03T00:00"))
    assert report.approved_obligations == (value.id,)
    assert kernel.obligation(value.id).status == "approved"
    assert [type(e).__name__ for e in seen if isinstance(e, ObligationStatusChanged)] == [
        "ObligationStatusChanged"]
    last = kernel.obligation_history(value.id)[-1]
    assert (last.from_status, last.to_status, last.actor) == ("pending", "approved",
                                                              "heartbeat")
    assert last.reason == "hold period of 30 days ended"
    assert kernel.heartbeat(at("2026-04-01T00:00")).approved_obligations == ()


def test_hold_period_leaves_rejected_and_manual_alone(
        make_kernel: Callable[..., Kernel]) -> None:
    clock = [at("2026-02-01T00:00")]
    kernel = _distributed(make_kernel, 0, clock)
    [value] = kernel.obligations()
    assert value.status == "approved"  # hold 0: approved by the same heartbeat
    other = kernel.issue_obligation("alice", 100, "USD", source="program", source_id=1)
    kernel.heartbeat(at("2027-01-01T00:00"))
    assert kernel.obligation(other.id).status == "pending"  # not a distribution's


def test_no_hold_period_means_manual(make_kernel: Callable[..., Kernel]) -> None:
    clock = [at("2026-02-01T00:00")]
    kernel = _distributed(make_kernel, None, clock)
    kernel.heartbeat(at("2027-01-01T00:00"))
    assert {o.status for o in kernel.obligations()} == {"pending"}


def test_hold_days_in_distributor_config(kernel: Kernel) -> None:
    created = kernel.create_distributor(monthly(hold_days=14))
    assert created.spec.hold_days == 14
    assert kernel.distributor("monthly-bonus").spec.hold_days == 14
    assert kernel.create_distributor(monthly(id="other")).spec.hold_days is None
    for bad in (-1, "14", 1.5):
        with pytest.raises(InvalidInput) as caught:
            kernel.create_distributor(monthly(id="bad", hold_days=bad))
        assert caught.value.field == "hold_days"
