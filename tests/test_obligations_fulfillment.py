"""Fulfillment: batches, payouts, the minimum-payout carry-forward, failure and retry, CSV
export, concurrent generation, and the reconciliation invariant (a stateful property
test)."""

from __future__ import annotations

import csv
import io
import itertools
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from siren_core import Kernel
from siren_core.errors import InvalidInput, NotFound
from siren_core.events import (
    Event,
    FulfillmentCreated,
    FulfillmentStatusChanged,
    ObligationCompleted,
    PayoutCreated,
    PayoutFailed,
    PayoutPaid,
)
from siren_core.obligations.values import IllegalTransition
from siren_core.store import obligation_queries as oq
from siren_core.store import unit_of_work

_SOURCE_IDS = itertools.count(1)


def approved(kernel: Kernel, collaborator: str, amount: int, units: str = "USD") -> int:
    key = kernel.issue_obligation(collaborator, amount, units, source="test",
                                  source_id=next(_SOURCE_IDS)).id
    kernel.set_obligation_status(key, "approve")
    return key


@pytest.fixture
def people(kernel: Kernel) -> Kernel:
    for name in ("alice", "bob", "carol"):
        kernel.create_collaborator(name, email=f"{name}@example.com")
    return kernel


def events_of(kernel: Kernel) -> list[Event]:
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    return seen


def test_one_payout_per_collaborator_and_currency(people: Kernel) -> None:
    a1, a2 = approved(people, "alice", 1000), approved(people, "alice", 2500)
    a3 = approved(people, "alice", 700, "EUR")
    b1 = approved(people, "bob", 400)
    pending = people.issue_obligation("carol", 900, "USD", source="test", source_id=999).id
    seen = events_of(people)
    result = people.generate_fulfillment(actor="ops:jane")
    batch = result.fulfillment
    assert batch is not None and batch.status == "pending" and batch.actor == "ops:jane"
    payouts = [(p.collaborator, p.units, p.amount, p.obligation_ids, p.status)
               for p in batch.payouts]
    assert payouts == [("alice", "EUR", 700, (a3,), "unpaid"),
                       ("alice", "USD", 3500, (a1, a2), "unpaid"),
                       ("bob", "USD", 400, (b1,), "unpaid")]
    assert batch.totals == {"EUR": 700, "USD": 3900} and batch.payout_count == 3
    assert result.carried_forward == () and result.refused == ()
    assert [type(e) for e in seen] == [FulfillmentCreated] + [PayoutCreated] * 3
    assert people.obligation(pending).payout_id is None
    for payout in batch.payouts:
        for key in payout.obligation_ids:
            value = people.obligation(key)
            assert (value.status, value.payout_id) == ("approved", payout.id)
            last = people.obligation_history(key)[-1]
            assert (last.to_status, last.payout_id, last.actor) == (
                "approved", payout.id, "ops:jane")
    assert people.generate_fulfillment().fulfillment is None  # nothing left to batch


def test_chosen_ids_and_refusals(people: Kernel) -> None:
    a1, a2 = approved(people, "alice", 1000), approved(people, "alice", 2000)
    pending = people.issue_obligation("bob", 900, "USD", source="test", source_id=998).id
    result = people.generate_fulfillment([a2, pending, 4242])
    assert result.fulfillment is not None
    assert [p.obligation_ids for p in result.fulfillment.payouts] == [(a2,)]
    assert {o.id: o.reason for o in result.refused} == {
        pending: "is pending, not approved", 4242: "no such obligation"}
    again = people.generate_fulfillment([a2])
    assert again.fulfillment is None
    payout_id = result.fulfillment.payouts[0].id
    assert [(o.id, o.reason) for o in again.refused] == [(a2, f"is in open payout {payout_id}")]
    assert people.obligation(a1).payout_id is None


def test_minimum_carries_forward(people: Kernel) -> None:
    small = [approved(people, "alice", 3000), approved(people, "alice", 1000)]
    big = approved(people, "bob", 6000)
    jpy = approved(people, "bob", 100, "JPY")
    result = people.generate_fulfillment(minimum={"USD": 5000})
    assert result.fulfillment is not None
    assert [(p.collaborator, p.units, p.amount) for p in result.fulfillment.payouts] == [
        ("bob", "JPY", 100), ("bob", "USD", 6000)]
    [carried] = result.carried_forward
    assert (carried.collaborator, carried.units, carried.amount, carried.minimum,
            carried.obligation_ids) == ("alice", "USD", 4000, 5000, tuple(small))
    assert all(people.obligation(k).status == "approved" and
               people.obligation(k).payout_id is None for k in small)
    assert people.obligation(big).payout_id is not None
    assert people.obligation(jpy).payout_id is not None
    later = approved(people, "alice", 1000)
    result = people.generate_fulfillment(minimum={"USD": 5000})
    assert result.fulfillment is not None and result.carried_forward == ()
    [payout] = result.fulfillment.payouts
    assert (payout.collaborator, payout.amount, payout.obligation_ids) == (
        "alice", 5000, (*small, later))


@pytest.mark.parametrize(("minimum", "field"), [
    ({"usd": 5}, "minimum"), ({"USD": -1}, "minimum.USD"), ({"USD": 5.0}, "minimum.USD"),
    ({"USD": "50.00"}, "minimum.USD"), ([("USD", 5)], "minimum"),
])
def test_minimum_is_checked(people: Kernel, minimum: object, field: str) -> None:
    approved(people, "alice", 1000)
    with pytest.raises(InvalidInput) as caught:
        people.generate_fulfillment(minimum=minimum)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert people.fulfillments() == ()


def test_paid_payout_fulfils_its_obligations(people: Kernel) -> None:
    keys = [approved(people, "alice", 1000), approved(people, "alice", 500)]
    approved(people, "bob", 200)
    batch = people.generate_fulfillment().fulfillment
    assert batch is not None
    alice, bob = batch.payouts
    seen = events_of(people)
    paid = people.mark_payout(alice.id, "paid", actor="ops:jane", reference="PP-123")
    assert (paid.status, paid.reference) == ("paid", "PP-123")
    for key in keys:
        value = people.obligation(key)
        assert (value.status, value.payout_id) == ("fulfilled", alice.id)
        last = people.obligation_history(key)[-1]
        assert (last.from_status, last.to_status, last.actor, last.payout_id) == (
            "approved", "fulfilled", "ops:jane", alice.id)
    completed = [e for e in seen if isinstance(e, ObligationCompleted)]
    assert [(e.obligation.id, e.obligation.status, e.payout_id) for e in completed] == [
        (k, "fulfilled", alice.id) for k in keys]
    assert [type(e) for e in seen][-2:] == [PayoutPaid, FulfillmentStatusChanged]
    assert people.fulfillment(batch.id).status == "processing"
    assert people.mark_payout(alice.id, "paid").status == "paid"  # again: no change
    with pytest.raises(IllegalTransition):
        people.mark_payout(alice.id, "failed")
    people.mark_payout(bob.id, "paid")
    assert people.fulfillment(batch.id).status == "complete"
    assert people.obligation_totals() == ({"USD": 1700}, {"USD": 1700})


def test_failed_payout_returns_obligations_and_retry(people: Kernel) -> None:
    key = approved(people, "alice", 1000)
    first = people.generate_fulfillment().fulfillment
    assert first is not None
    payout = first.payouts[0]
    people.mark_payout(payout.id, "processing")
    assert people.fulfillment(first.id).status == "processing"
    seen = events_of(people)
    failed = people.mark_payout(payout.id, "failed", reason="account closed")
    assert (failed.status, failed.reason) == ("failed", "account closed")
    assert [type(e) for e in seen] == [PayoutFailed, FulfillmentStatusChanged]
    assert people.fulfillment(first.id).status == "failed"
    value = people.obligation(key)
    assert (value.status, value.payout_id) == ("approved", None)
    last = people.obligation_history(key)[-1]
    assert last.reason == f"payout {payout.id} failed: account closed; back in the approved pool"
    with pytest.raises(IllegalTransition):
        people.mark_payout(payout.id, "paid")
    retry = people.generate_fulfillment().fulfillment
    assert retry is not None and retry.payouts[0].obligation_ids == (key,)
    people.mark_payout(retry.payouts[0].id, "paid")
    assert people.obligation(key).payout_id == retry.payouts[0].id
    assert people.obligation_totals() == ({"USD": 1000}, {"USD": 1000})
    assert [p.status for p in people.payouts()] == ["failed", "paid"]


def test_longest_reason_fits_the_audit_log(people: Kernel) -> None:
    key = approved(people, "alice", 1000)
    batch = people.generate_fulfillment().fulfillment
    assert batch is not None
    people.mark_payout(batch.payouts[0].id, "failed", reason="x" * 1000)
    last = people.obligation_history(key)[-1]
    assert last.reason is not None and ("x" * 1000) in last.reason
    with pytest.raises(InvalidInput):
        people.mark_payout(batch.payouts[0].id, "failed", reason="x" * 1001)


def test_mark_whole_fulfillment(people: Kernel) -> None:
    for name in ("alice", "bob", "carol"):
        approved(people, name, 1000)
    batch = people.generate_fulfillment().fulfillment
    assert batch is not None
    people.mark_payout(batch.payouts[0].id, "failed")
    processing = people.mark_fulfillment(batch.id, "processing")
    assert processing.status == "processing"
    assert [p.status for p in processing.payouts] == ["failed", "processing", "processing"]
    done = people.mark_fulfillment(batch.id, "paid", reference="batch-7")
    assert done.status == "complete"
    assert [p.status for p in done.payouts] == ["failed", "paid", "paid"]
    with pytest.raises(IllegalTransition):
        people.mark_fulfillment(batch.id, "failed")
    assert people.obligation_totals() == ({"USD": 2000}, {"USD": 2000})
    second = people.generate_fulfillment().fulfillment
    assert second is not None
    assert people.mark_fulfillment(second.id, "failed", reason="upload rejected"
                                   ).status == "failed"
    assert [o.status for o in people.obligations()] == ["approved", "fulfilled", "fulfilled"]
    assert people.fulfillments(status="failed")[0].id == second.id


def test_unknown_and_bad_ids(people: Kernel) -> None:
    with pytest.raises(NotFound):
        people.mark_payout(77, "paid")
    with pytest.raises(NotFound):
        people.mark_fulfillment(77, "paid")
    with pytest.raises(NotFound):
        people.fulfillment(77)
    with pytest.raises(InvalidInput):
        people.mark_payout(1, "unpaid")
    with pytest.raises(InvalidInput):
        people.fulfillments(status="done")


def test_export_csv(people: Kernel) -> None:
    a1, a2 = approved(people, "alice", 1050), approved(people, "alice", 5)
    approved(people, "bob", 1500, "JPY")
    batch = people.generate_fulfillment().fulfillment
    assert batch is not None
    rows = list(csv.DictReader(io.StringIO(people.export_fulfillment_csv(batch.id))))
    assert rows == [
        {"payout_id": str(batch.payouts[0].id), "collaborator": "alice",
         "email": "alice@example.com", "amount": "10.55", "currency": "USD",
         "amount_minor": "1055", "obligation_ids": f"{a1} {a2}", "status": "unpaid"},
        {"payout_id": str(batch.payouts[1].id), "collaborator": "bob",
         "email": "bob@example.com", "amount": "1500", "currency": "JPY",
         "amount_minor": "1500", "obligation_ids": str(batch.payouts[1].obligation_ids[0]),
         "status": "unpaid"}]
    people.mark_payout(batch.payouts[0].id, "paid")
    open_rows = list(csv.DictReader(io.StringIO(people.export_fulfillment_csv(batch.id))))
    assert [r["collaborator"] for r in open_rows] == ["bob"]
    every = list(csv.DictReader(io.StringIO(
        people.export_fulfillment_csv(batch.id, all_payouts=True))))
    assert [r["status"] for r in every] == ["paid", "unpaid"]


def test_database_refuses_a_second_open_payout_item(people: Kernel) -> None:
    key = approved(people, "alice", 1000)
    batch = people.generate_fulfillment().fulfillment
    assert batch is not None
    with pytest.raises(sa.exc.IntegrityError), unit_of_work(people.engine) as conn:
        conn.execute(oq.payout_item.insert().values(
            payout_id=batch.payouts[0].id, obligation_id=key, amount=1000, is_open=True))


def test_concurrent_generation_never_pays_twice(
        make_kernel: Callable[..., Kernel]) -> None:
    setup = make_kernel()
    for name in ("alice", "bob", "carol", "dave"):
        setup.create_collaborator(name)
    keys = [approved(setup, name, 100 + i) for i in range(10)
            for name in ("alice", "bob", "carol", "dave")]
    workers = [make_kernel() for _ in range(4)]
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def generate(kernel: Kernel) -> None:
        try:
            barrier.wait()
            kernel.generate_fulfillment()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=generate, args=(k,)) for k in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    payouts = setup.payouts()
    batched = [key for payout in payouts for key in payout.obligation_ids]
    assert sorted(batched) == sorted(keys)  # every obligation once, none twice
    assert len(payouts) == 4  # one per collaborator: a single generation won them all
    for payout in payouts:
        setup.mark_payout(payout.id, "paid")
    fulfilled, paid = setup.obligation_totals()
    assert fulfilled == paid == {"USD": sum(100 + i for i in range(10)) * 4}


def test_concurrent_settlement_fulfils_once(make_kernel: Callable[..., Kernel]) -> None:
    setup = make_kernel()
    for name in ("alice", "bob"):
        setup.create_collaborator(name)
    keys = [approved(setup, name, 500) for name in ("alice", "bob") for _ in range(3)]
    batch = setup.generate_fulfillment().fulfillment
    assert batch is not None
    workers = [make_kernel() for _ in range(4)]
    completed: list[int] = []
    lock = threading.Lock()

    def listen(event: Event) -> None:
        if isinstance(event, ObligationCompleted):
            with lock:
                completed.append(event.obligation.id)

    for worker in workers:
        worker.subscribe(listen)
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []
    payout = batch.payouts[0].id

    def settle(index: int, kernel: Kernel) -> None:
        try:
            barrier.wait()
            if index % 2:
                kernel.mark_fulfillment(batch.id, "paid")
            else:
                kernel.mark_payout(payout, "paid")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=settle, args=pair) for pair in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # a fulfillment completed by a racing worker refuses further marking: that is fine
    assert all(isinstance(e, IllegalTransition) for e in errors)
    assert sorted(completed) == sorted(keys)  # each obligation completed exactly once
    assert setup.fulfillment(batch.id).status == "complete"
    assert setup.obligation_totals() == ({"USD": 3000}, {"USD": 3000})


# -- the reconciliation invariant, over random sequences of operations ----------------

class Lifecycle(RuleBasedStateMachine):
    """Random issue / approve / reject / generate (pending ones too or not) / pay / fail
    sequences; after every step the fulfilled obligations sum to the paid payouts and no
    obligation is paid twice."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = Kernel("sqlite://")
        for name in ("alice", "bob"):
            self.kernel.create_collaborator(name)
        self.source_ids = itertools.count(1)

    def teardown(self) -> None:
        self.kernel.close()

    def _ids(self) -> list[int]:
        return [o.id for o in self.kernel.obligations()]

    @rule(collaborator=st.sampled_from(["alice", "bob"]),
          amount=st.integers(min_value=1, max_value=10_000),
          units=st.sampled_from(["USD", "EUR"]))
    def issue(self, collaborator: str, amount: int, units: str) -> None:
        self.kernel.issue_obligation(collaborator, amount, units, source="test",
                                     source_id=next(self.source_ids))

    @precondition(lambda self: bool(self._ids()))
    @rule(action=st.sampled_from(["approve", "reject", "cancel", "markPending",
                                  "markComplete"]), data=st.data())
    def act(self, action: str, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self._ids()), max_size=4))
        result = self.kernel.obligation_action(action, ids)
        assert len(result.outcomes) == len(set(ids))

    @rule(minimum=st.sampled_from([None, {"USD": 5000}, {"EUR": 100, "USD": 1}]),
          include_pending=st.booleans())
    def generate(self, minimum: dict[str, int] | None, include_pending: bool) -> None:
        result = self.kernel.generate_fulfillment(minimum=minimum,
                                                  include_pending=include_pending)
        taken = {key for p in (result.fulfillment.payouts if result.fulfillment else ())
                 for key in p.obligation_ids}
        assert set(result.approved) <= taken
        assert all(self.kernel.obligation(key).status == "approved" for key in taken)

    @precondition(lambda self: bool(self.kernel.payouts()))
    @rule(status=st.sampled_from(["processing", "paid", "failed"]), data=st.data())
    def settle(self, status: str, data: st.DataObject) -> None:
        payout = data.draw(st.sampled_from(self.kernel.payouts()))
        try:
            self.kernel.mark_payout(payout.id, status)
        except IllegalTransition:
            assert payout.status in ("paid", "failed")

    @precondition(lambda self: bool(self.kernel.fulfillments()))
    @rule(status=st.sampled_from(["processing", "paid", "failed"]), data=st.data())
    def settle_batch(self, status: str, data: st.DataObject) -> None:
        batch = data.draw(st.sampled_from(self.kernel.fulfillments()))
        try:
            self.kernel.mark_fulfillment(batch.id, status)
        except IllegalTransition:
            assert batch.status in ("complete", "failed")

    @invariant()
    def fulfilled_equals_paid(self) -> None:
        fulfilled, paid = self.kernel.obligation_totals()
        assert fulfilled == paid

    @invariant()
    def paid_at_most_once(self) -> None:
        paid = [key for p in self.kernel.payouts(status="paid") for key in p.obligation_ids]
        assert len(paid) == len(set(paid))
        open_items = [key for p in self.kernel.payouts() if p.status in ("unpaid", "processing")
                      for key in p.obligation_ids]
        assert len(open_items) == len(set(open_items))
        for value in self.kernel.obligations():
            if value.status == "fulfilled":
                assert value.id in paid
            elif value.payout_id is not None:
                assert value.status == "approved" and value.id in open_items


Lifecycle.TestCase.settings = settings(
    max_examples=15, stateful_step_count=15, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_lifecycle = Lifecycle.TestCase
