"""Webhooks: the outbox is written in the transaction of each change, and the worker
delivers it signed, in order, retried with backoff, dead after the limit, re-sendable --
to a real receiver that verifies every delivery with the SDK's ``construct_event``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from receiver import Receiver, receiving

from siren_core import Kernel, hookimpl, outbox
from siren_core.errors import InvalidInput, NotFound
from siren_core.events import CollaboratorStatusChanged, Event
from siren_core.records import AllocationCalculator
from siren_core.webhooks import subscriptions, targets
from siren_core.webhooks.worker import Deliverer, Policy

from conftest import at, monthly, sale

FAST = Policy(max_attempts=3, backoff_s=10.0, backoff_max_s=60.0, timeout_s=5.0, lease_s=15)
"""Few attempts, long backoffs (the tests move the deliverer's clock by hand), and a
time-out a receiver on a loaded host answers within: at 0.5 s one answer came late in
CI, and the subscription's backlog waited behind the retry, as it should."""
HASTY = attrs.evolve(FAST, timeout_s=0.5)
"""For a receiver that never answers: each attempt times out quickly."""


class Clock:
    """The deliverer's clock, moved by hand: backoff is observed without waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=60)  # after the test's changes

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def subscribe(kernel: Kernel, receiver: Receiver, name: str, *events: str) -> int:
    made = subscriptions.create(kernel.engine, receiver.url(name), list(events) or ["*"],
                                allow_private=True)
    receiver.secrets[name] = made.secret
    return made.subscription.id


def outbox_rows(kernel: Kernel) -> list[tuple[int, str, str, str]]:
    """(id, delivery id, name, body) of every outbox row, in commit order."""
    with kernel.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(  # type: ignore[misc]
            "SELECT id, delivery_id, name, body FROM webhook_event ORDER BY id"))]


def deliverer(kernel: Kernel, clock: Callable[[], datetime] | None = None,
              policy: Policy = FAST) -> Deliverer:
    if clock is None:
        return Deliverer(kernel.engine, policy, allow_private=True)
    return Deliverer(kernel.engine, policy, allow_private=True, clock=clock)


def _setup(kernel: Kernel, *distributors: dict[str, Any]) -> None:
    kernel.create_collaborator("ana")
    kernel.create_collaborator("ben")
    for spec in (monthly(), *distributors):
        kernel.create_distributor(spec)
    kernel.record("sale", sale("o-1", "ana", "10.00"))
    kernel.record("sale", sale("o-2", "ben", "30.00"))


def test_every_event_is_delivered_signed_once_in_commit_order(
        kernel: Kernel, receiver: Receiver) -> None:
    subscribe(kernel, receiver, "all")
    _setup(kernel)
    kernel.heartbeat(at("2026-02-01T00:00"))
    rows = outbox_rows(kernel)
    names = [name for _id, _d, name, _b in rows]
    assert names[:2] == ["collaborator.created", "collaborator.created"]
    assert {"distribution.completed", "allocation.completed", "obligation.created",
            "metrics.updated"} <= set(names)
    assert deliverer(kernel).drain() == len(rows)
    got = receiver.of("all")
    assert receiver.refused == []
    assert [(r.delivery_id, r.type) for r in got] == [(d, n) for _i, d, n, _b in rows]
    assert [r.data for r in got] == [json.loads(body) for *_rest, body in rows]
    completed = next(r.data for r in got if r.type == "distribution.completed")
    assert completed["distribution"]["pool"] == 100000
    allocations = [r.data["allocation"] for r in got if r.type == "allocation.completed"]
    assert sorted((a["collaborator"], a["amount"]) for a in allocations) == [
        ("ana", 50000), ("ben", 50000)]
    assert deliverer(kernel).drain() == 0  # delivered once


def test_a_store_without_subscriptions_writes_no_outbox_row(kernel: Kernel) -> None:
    _setup(kernel)
    kernel.heartbeat(at("2026-02-01T00:00"))
    assert outbox_rows(kernel) == []


def test_only_the_events_a_subscription_names_are_written(kernel: Kernel,
                                                          receiver: Receiver) -> None:
    subscribe(kernel, receiver, "obligations", "obligation.created", "never.sent")
    _setup(kernel)
    kernel.heartbeat(at("2026-02-01T00:00"))
    assert {name for _i, _d, name, _b in outbox_rows(kernel)} == {"obligation.created"}
    deliverer(kernel).drain()
    assert sorted(r.data["obligation"]["amount"] for r in receiver.of("obligations")) == [
        50000, 50000]


class Failing:
    """A calculator that raises: its period rolls back."""

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        def allocate(context: Any, config: Any) -> dict[str, int]:
            raise RuntimeError("calculator down")

        return [AllocationCalculator(id="down", description="raises", allocate=allocate)]


def test_a_rolled_back_period_writes_nothing_to_the_outbox(
        make_kernel: Callable[..., Kernel], receiver: Receiver) -> None:
    kernel = make_kernel(plugins=[Failing()])
    _setup(kernel, monthly("broken", calculator={"id": "down"}))
    subscribe(kernel, receiver, "periods", "distribution.completed", "allocation.completed")
    report = kernel.heartbeat(at("2026-02-01T00:00"))
    assert [failure[1] for failure in report.failed] == ["broken"]
    bodies = [json.loads(body) for *_rest, body in outbox_rows(kernel)]
    assert {b["distribution"]["distributor"] for b in bodies if "distribution" in b} == {
        "monthly-bonus"}
    assert {b["allocation"]["distributor"] for b in bodies if "allocation" in b} == {
        "monthly-bonus"}


def test_a_failed_transaction_leaves_no_outbox_row(kernel: Kernel,
                                                   receiver: Receiver) -> None:
    subscribe(kernel, receiver, "all")
    with pytest.raises(RuntimeError), kernel.transaction():
        kernel.create_collaborator("ana")
        raise RuntimeError("changed my mind")
    assert outbox_rows(kernel) == []
    kernel.create_collaborator("ana")
    assert [name for _i, _d, name, _b in outbox_rows(kernel)] == ["collaborator.created"]


def test_a_subscription_another_process_makes_or_deletes_counts_from_the_next_event(
        make_kernel: Callable[..., Kernel], receiver: Receiver) -> None:
    recording, other = make_kernel(), make_kernel()  # two engines: two processes' pools
    _setup(recording)
    assert outbox_rows(recording) == []  # its connections have read "no subscription"
    key = subscribe(other, receiver, "late", "metrics.updated")
    recording.record("sale", sale("o-3", "ana", "5.00"))
    assert [name for _i, _d, name, _b in outbox_rows(recording)] == ["metrics.updated"]
    subscriptions.delete(other.engine, key)
    recording.record("sale", sale("o-4", "ana", "5.00"))
    assert len(outbox_rows(recording)) == 1


def test_a_subscription_made_inside_a_transaction_counts_for_the_rest_of_it(
        kernel: Kernel, receiver: Receiver) -> None:
    _setup(kernel)
    with kernel.transaction():
        kernel.record("sale", sale("o-3", "ana", "5.00"))  # reads "no subscription"
        subscribe(kernel, receiver, "now", "metrics.updated")
        kernel.record("sale", sale("o-4", "ana", "5.00"))
    [(_id, _delivery, name, body)] = outbox_rows(kernel)
    assert (name, json.loads(body)["sourceEventId"]) == ("metrics.updated", "o-4")


def test_a_receiver_answering_500_is_retried_with_backoff_until_200(
        kernel: Kernel, receiver: Receiver) -> None:
    subscribe(kernel, receiver, "flaky", "collaborator.created")
    receiver.answers["flaky"] = [500, 503, 200]
    clock = Clock()
    worker = deliverer(kernel, clock, attrs.evolve(FAST, max_attempts=5, backoff_max_s=600))
    kernel.create_collaborator("ana")
    assert worker.drain() == 1  # answered 500; the next try is not due yet
    [(row, tries)] = subscriptions.deliveries(kernel.engine)
    assert (row.status, row.attempts, tries[0].status_code) == ("pending", 1, 500)
    first_wait = (row.next_attempt_at - clock.now).total_seconds()
    assert 5.0 <= first_wait <= 10.0  # 10 s × a jitter in [0.5, 1]
    clock.advance(first_wait)
    assert worker.drain() == 1  # 503
    [(row, tries)] = subscriptions.deliveries(kernel.engine)
    second_wait = (row.next_attempt_at - clock.now).total_seconds()
    assert 10.0 <= second_wait <= 20.0  # doubled
    clock.advance(second_wait)
    assert worker.drain() == 1
    [(row, tries)] = subscriptions.deliveries(kernel.engine)
    assert row.status == "delivered"
    assert [t.status_code for t in tries] == [500, 503, 200]
    assert receiver.calls["flaky"] == 3
    [got] = receiver.of("flaky")
    assert got.delivery_id == row.delivery_id


def test_a_receiver_that_never_answers_is_dead_after_the_limit_and_can_be_resent(
        kernel: Kernel, receiver: Receiver) -> None:
    subscribe(kernel, receiver, "silent", "collaborator.created")
    subscribe(kernel, receiver, "healthy", "collaborator.created")
    receiver.hanging.add("silent")
    clock = Clock()
    worker = deliverer(kernel, clock, HASTY)
    for name in ("ana", "ben", "cy"):
        kernel.create_collaborator(name)
    worker.drain()
    assert [r.data["collaborator"]["id"] for r in receiver.of("healthy")] == [
        "ana", "ben", "cy"]  # not held up by the silent one
    for _ in range(3 * FAST.max_attempts):  # each waits its turn: ana, ben, cy
        clock.advance(FAST.backoff_max_s)
        worker.drain()
    dead = subscriptions.deliveries(kernel.engine, status="failed")
    assert [row.name for row, _t in dead] == ["collaborator.created"] * 3
    first, tries = dead[0]
    assert first.attempts == FAST.max_attempts
    assert all(t.status_code is None and "timed out" in (t.error or "") for t in tries)
    receiver.hanging.clear()
    subscriptions.resend(kernel.engine, first.id)
    worker.drain()
    [got] = receiver.of("silent")
    assert got.delivery_id == first.delivery_id  # the same id as every earlier attempt
    with pytest.raises(NotFound):
        subscriptions.resend(kernel.engine, 10**6)


def test_a_backlog_behind_a_retried_head_does_not_hide_other_subscriptions(
        kernel: Kernel, receiver: Receiver) -> None:
    subscribe(kernel, receiver, "down", "collaborator.created")
    receiver.answers["down"] = [500]
    for number in range(50):
        kernel.create_collaborator(f"c{number:02d}")
    subscribe(kernel, receiver, "up", "collaborator.created")
    kernel.create_collaborator("late")
    clock = Clock()
    worker = deliverer(kernel, clock)
    worker.drain()
    assert [r.data["collaborator"]["id"] for r in receiver.of("up")] == ["late"]
    assert receiver.calls["down"] == 1  # its head waits for its retry; the rest behind it


def test_per_subscription_order_holds_behind_a_retry(kernel: Kernel,
                                                     receiver: Receiver) -> None:
    subscribe(kernel, receiver, "ordered", "collaborator.created")
    receiver.answers["ordered"] = [500, 200]
    clock = Clock()
    worker = deliverer(kernel, clock)
    for name in ("ana", "ben", "cy"):
        kernel.create_collaborator(name)
    worker.drain()
    assert receiver.of("ordered") == []  # ben and cy wait for ana
    clock.advance(FAST.backoff_max_s)
    worker.drain()
    assert [r.data["collaborator"]["id"] for r in receiver.of("ordered")] == [
        "ana", "ben", "cy"]


def test_two_deliverers_share_the_work_and_keep_each_subscriptions_order(
        make_kernel: Callable[..., Kernel], receiver: Receiver) -> None:
    kernel = make_kernel()
    for number in range(4):
        subscribe(kernel, receiver, f"s{number}", "collaborator.created")
    for number in range(40):
        kernel.create_collaborator(f"c{number:02d}")
    stop = threading.Event()
    workers = [deliverer(make_kernel()).start(stop, threads=3, idle_s=0.05)
               for _ in range(2)]
    try:
        for number in range(4):
            _wait_for(lambda n=number: len(receiver.of(f"s{n}")) >= 40)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    expected = [f"c{number:02d}" for number in range(40)]
    for number in range(4):
        got = [r.data["collaborator"]["id"] for r in receiver.of(f"s{number}")]
        assert got == expected


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    done = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("not delivered in time")


def test_a_wrong_secret_fails_the_sdks_verification(kernel: Kernel,
                                                    receiver: Receiver) -> None:
    subscribe(kernel, receiver, "mine", "collaborator.created")
    receiver.secrets["mine"] = "whsec_not-the-one"
    kernel.create_collaborator("ana")
    deliverer(kernel).drain()
    assert receiver.refused and "verification failed" in receiver.refused[0]
    [(row, tries)] = subscriptions.deliveries(kernel.engine)
    assert (row.status, tries[0].status_code) == ("pending", 400)


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://example.com/hook", "http or https"),
    ("https://user:secret@example.com/hook", "credentials"),
    ("https:///nohost", "names no host"),
    ("http://127.0.0.1:9/hook", "loopback, private or link-local"),
    ("http://10.1.2.3/hook", "loopback, private or link-local"),
    ("http://169.254.169.254/latest/meta-data", "loopback, private or link-local"),
    ("http://[::1]/hook", "loopback, private or link-local"),
    ("http://[::ffff:192.168.0.1]/hook", "loopback, private or link-local"),
    ("http://localhost/hook", "loopback, private or link-local"),
    ("http://[::1/hook", "is not a URL"),
    ("http://exa\x00mple.com/", "NUL"),
    ("http://no-such-host.invalid/hook", "does not resolve"),
])
def test_targets_are_checked_at_subscription(kernel: Kernel, url: str, problem: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(targets.ALLOW_PRIVATE_ENV, raising=False)
    with pytest.raises(InvalidInput) as caught:
        subscriptions.create(kernel.engine, url, ["*"])
    assert caught.value.field == "targetUrl" and problem in str(caught.value)
    assert subscriptions.page(kernel.engine) == ([], 0)


def test_event_names_and_descriptions_are_text_the_store_keeps(kernel: Kernel) -> None:
    for events, description, field in ((["ok", "bad\x00"], None, "events[1]"),
                                       ([], None, "events"),
                                       (["*"], "x" * 1001, "description")):
        with pytest.raises(InvalidInput) as caught:
            subscriptions.create(kernel.engine, "https://example.com/", events, description,
                                 allow_private=True)
        assert caught.value.field == field


def test_a_target_is_checked_again_at_delivery(kernel: Kernel, receiver: Receiver) -> None:
    subscribe(kernel, receiver, "inside", "collaborator.created")
    kernel.create_collaborator("ana")
    strict = Deliverer(kernel.engine, FAST, allow_private=False)
    assert strict.drain() == 1
    [(row, tries)] = subscriptions.deliveries(kernel.engine)
    assert row.status == "pending" and "loopback, private or link-local" in (
        tries[0].error or "")
    assert receiver.calls == {}


def test_redirects_are_not_followed(kernel: Kernel, receiver: Receiver) -> None:
    subscribe(kernel, receiver, "moved", "collaborator.created")
    receiver.answers["moved"] = [302]
    kernel.create_collaborator("ana")
    deliverer(kernel).drain()
    [(row, tries)] = subscriptions.deliveries(kernel.engine)
    assert (row.status, tries[0].status_code, tries[0].error) == (
        "pending", 302, "answered 302")


def test_subscriptions_deleted_and_tested(kernel: Kernel, receiver: Receiver) -> None:
    key = subscribe(kernel, receiver, "t", "nothing.ever")
    delivery_id = subscriptions.send_test(kernel.engine, key)
    deliverer(kernel).drain()
    [got] = receiver.of("t")
    assert (got.type, got.delivery_id, got.data) == (
        "webhook.test", delivery_id, {"test": True, "subscriptionId": key})
    subscriptions.delete(kernel.engine, key)
    with pytest.raises(NotFound):
        subscriptions.get(kernel.engine, key)
    with pytest.raises(NotFound):
        subscriptions.send_test(kernel.engine, key)


def test_the_catalog_names_sirens_events_and_siren_cores_own() -> None:
    assert {"distribution.completed", "allocation.completed", "obligation.created",
            "payout.paid", "collaborator.deactivated", "sale.created",
            "collaborator_group_created", "distributor_bound_to_collaborator_group",
            "payout_failed"} <= set(outbox.CATALOG)
    assert "distribution_heartbeat_initialized" not in outbox.CATALOG


def _event_classes() -> list[type[Event]]:
    found, pending = [], list(Event.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        found.append(kind)
    return found


def test_every_event_class_is_delivered_under_a_catalogued_name_or_listed_as_not() -> None:
    for kind in _event_classes():
        if kind.__module__ != "siren_core.events" or kind in outbox._NOT_DELIVERED:
            continue
        names = ({"collaborator.updated", "collaborator.deactivated"}
                 if kind is CollaboratorStatusChanged
                 else {outbox._SIREN_NAMES.get(kind, kind.event_id)})
        assert names <= set(outbox.CATALOG), kind


def test_the_documented_catalog_is_the_catalog() -> None:
    page = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text()
    documented = re.findall(r"^\| `([a-z_.]+)` \|", page, flags=re.MULTILINE)
    assert documented == list(outbox.CATALOG)


def test_distributor_and_exchange_rate_changes_are_delivered_with_their_transaction(
        kernel: Kernel, receiver: Receiver) -> None:
    names = ("distributor_created", "distributor_updated", "distributor_deleted",
             "exchange_rate_set")
    subscribe(kernel, receiver, "config", *names)
    kernel.create_distributor(monthly())
    kernel.set_distributor_status("monthly-bonus", "inactive", now=at("2026-01-10"))
    kernel.set_distributor_status("monthly-bonus", "inactive", now=at("2026-01-11"))  # no-op
    kernel.set_distributor_status("monthly-bonus", "deleted", now=at("2026-01-12"))
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")  # unchanged
    with pytest.raises(NotFound):
        kernel.set_distributor_status("no-such", "inactive", now=at("2026-01-12"))
    assert [name for _i, _d, name, _b in outbox_rows(kernel)] == [
        "distributor_created", "distributor_updated", "distributor_deleted",
        "exchange_rate_set"]
    assert deliverer(kernel).drain() == 4
    got = receiver.of("config")
    assert receiver.refused == []
    assert got[1].data["distributor"]["spec"]["status"] == "inactive"
    assert got[1].data["previousStatus"] == "active"
    assert got[3].data["rate"]["rate"] == "1.0850"
