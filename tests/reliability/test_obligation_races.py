"""Obligations under concurrency: transitions and fulfillment racing on overlapping ids
from several connections end with every invariant holding and only SirenErrors raised;
racing issues of one idempotency key all answer the same obligation."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.errors import SirenError
from siren_core.store import is_sqlite, unit_of_work
from siren_core.store.engine import retrying
from siren_core.verify import verify

from conftest import at, monthly, sale

THREADS = 6
OPERATIONS = 80
OBLIGATIONS = 60
TIME_LIMIT_S = 40.0
ACTIONS = ("approve", "approve", "reject", "cancel", "markPending")
NOW = at("2026-02-01")


def _populate(kernel: Kernel) -> list[int]:
    """Obligations issued directly, and pending ones of two distributors with a hold of
    0 days whose periods alternate (so their ids interleave): each heartbeat approves
    those across both distributors."""
    with kernel.transaction():
        for number in range(8):
            kernel.create_collaborator(f"c{number}")
        for name in ("held-a", "held-b"):
            kernel.create_distributor(monthly(name, schedule="weekly", hold_days=0))
    kernel.record_many([sale(f"s{n}", f"c{n % 8}", "10.00", f"2026-01-{1 + n % 28:02d}T10:00Z")
                        for n in range(56)])
    kernel.heartbeat(NOW)
    kernel.obligation_action("markPending", [o.id for o in kernel.obligations()])
    issued = [kernel.issue_obligation(f"c{n % 8}", 100 + n, "USD", source="bonus",
                                      source_id=n + 1).id for n in range(OBLIGATIONS)]
    return [o.id for o in kernel.obligations() if o.source == "allocation"] + issued


def _operate(kernel: Kernel, rng: random.Random, ids: list[int]) -> None:
    """One random operation on a random, shuffled, overlapping subset of ``ids``."""
    choice = rng.randrange(7)
    chosen = rng.sample(ids, rng.randint(1, len(ids) // 2))
    if choice == 6:
        kernel.heartbeat(NOW)  # approves the held obligations
    elif choice <= 1:
        kernel.obligation_action(rng.choice(ACTIONS), chosen, actor="race")
    elif choice == 2:
        kernel.generate_fulfillment(None if rng.random() < 0.3 else chosen, actor="race")
    elif choice == 3:
        payouts = kernel.payouts(status="unpaid") + kernel.payouts(status="processing")
        if payouts:
            kernel.mark_payout(rng.choice(payouts).id,
                               rng.choice(("paid", "failed", "processing")), actor="race")
    else:
        batches = kernel.fulfillments(status="pending") + kernel.fulfillments(
            status="processing")
        if batches:
            kernel.mark_fulfillment(rng.choice(batches).id,
                                    rng.choice(("paid", "failed", "processing")),
                                    actor="race")


def _race(make_kernel: Callable[..., Kernel], work: Callable[[Kernel, int], None]
          ) -> list[BaseException]:
    """Run ``work(kernel, thread number)`` in THREADS threads, each with its own kernel;
    the exceptions that are not SirenErrors."""
    kernels = [make_kernel() for _ in range(THREADS)]
    unexpected: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(number: int) -> None:
        start.wait()
        try:
            work(kernels[number], number)
        except BaseException as exc:  # collected and asserted on below
            unexpected.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIME_LIMIT_S + 30)
    assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
    return unexpected


def _history_consistent(kernel: Kernel, key: int) -> bool:
    changes = kernel.obligation_history(key)
    chained = all(before.to_status == after.from_status
                  for before, after in itertools.pairwise(changes))
    current = kernel.obligations()
    status = next(o.status for o in current if o.id == key)
    return bool(changes) and changes[0].from_status is None and chained and (
        changes[-1].to_status == status)


def test_concurrent_transitions_keep_every_invariant(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()
    ids = _populate(kernel)
    deadline = time.monotonic() + TIME_LIMIT_S

    def work(worker: Kernel, number: int) -> None:
        rng = random.Random(number)
        for _ in range(OPERATIONS):
            if time.monotonic() > deadline:
                return
            # a refusal (illegal move, a payout settled meanwhile) is an answer
            with contextlib.suppress(SirenError):
                _operate(worker, rng, ids)

    unexpected = _race(make_kernel, work)
    assert not unexpected, [f"{type(exc).__name__}: {exc}" for exc in unexpected]
    assert verify(kernel) == []
    assert all(_history_consistent(kernel, key) for key in ids)
    fulfilled, paid = kernel.obligation_totals()
    assert fulfilled == paid


def test_racing_issues_of_one_key_answer_one_obligation(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()
    kernel.create_collaborator("alice")
    answers: dict[int, list[int]] = {}
    lock = threading.Lock()

    def work(worker: Kernel, _number: int) -> None:
        for source_id in range(1, 16):
            issued = worker.issue_obligation("alice", 500, "USD", source="contest",
                                             source_id=source_id)
            with lock:
                answers.setdefault(source_id, []).append(issued.id)

    unexpected = _race(make_kernel, work)
    assert not unexpected, [f"{type(exc).__name__}: {exc}" for exc in unexpected]
    assert all(len(set(found)) == 1 and len(found) == THREADS for found in answers.values())
    assert len(kernel.obligations(source="contest")) == 15
    assert verify(kernel) == []



def test_a_deadlock_victim_is_run_again(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()
    if is_sqlite(kernel.engine):
        pytest.skip("SQLite serializes writers: no deadlock to retry")
    first, second = _populate(kernel)[:2]
    crossed = threading.Barrier(2, timeout=10)
    attempts: list[int] = []

    def lock_both(one: int, other: int) -> int:
        attempts.append(one)
        with unit_of_work(kernel.engine) as conn:
            lock = "SELECT id FROM obligation WHERE id = :id FOR UPDATE"
            conn.execute(sa.text(lock), {"id": one})
            if attempts.count(one) == 1:
                crossed.wait()  # both hold one row and want the other's: a real deadlock
            conn.execute(sa.text(lock), {"id": other})
        return one

    results: list[int] = []
    threads = [threading.Thread(target=lambda a=a, b=b: results.append(
        retrying(kernel.engine, lambda: lock_both(a, b)))) for a, b in ((first, second),
                                                                        (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == sorted([first, second])
    assert len(attempts) == 3  # the victim ran twice
