"""Helpers of the concurrency tests: a heartbeat held open inside its transaction, and
real waits observed in the database (``pg_stat_activity``), never guessed by sleeping
alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from siren_core import hookimpl, store
from siren_core.records import AllocationCalculator, AllocationContext

HOLD_SECONDS = 20.0
"""The longest a held transaction waits to be released (a failing test ends anyway)."""


class HeldCalculator:
    """An allocation calculator (``held``) that pays the first scored collaborator, after
    waiting for ``release``: the heartbeat's transaction stays open meanwhile, its period
    locked ``FOR UPDATE`` (or, on SQLite, the database's write lock held)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def _allocate(self, context: AllocationContext, _config: Any) -> dict[str, int]:
        self.started.set()
        self.release.wait(HOLD_SECONDS)
        first = next(iter(context.scores))
        return {first: context.pool}

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id="held", description="waits for the test",
                                     allocate=self._allocate)]


def waiting_on_locks(url: str) -> int:
    """How many other sessions of the database wait for a lock right now (PostgreSQL)."""
    engine = store.open_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar_one())
    finally:
        engine.dispose()


def wait_for_waiters(url: str, count: int, *, seconds: float = 10.0) -> None:
    """Return once ``count`` sessions wait for a lock (PostgreSQL); on SQLite, where a
    writer waits inside ``BEGIN IMMEDIATE`` invisibly, give the writers a moment."""
    if url.startswith("sqlite"):
        time.sleep(0.3)
        return
    deadline = time.monotonic() + seconds
    while waiting_on_locks(url) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sessions came to wait"
        time.sleep(0.02)


@contextmanager
def open_periods_locked(url: str) -> Iterator[None]:
    """Lock every open period ``FOR UPDATE`` in a transaction of its own (like a heartbeat
    distributing them) for the duration of the block, then roll it back (PostgreSQL); on
    SQLite, hold the write lock."""
    engine = store.open_engine(url)
    try:
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                if not url.startswith("sqlite"):
                    conn.execute(sa.text(
                        "SELECT id FROM distribution WHERE status = 'open' FOR UPDATE"))
                yield
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(n)`` in ``count`` threads started together; each one's result or the
    exception it raised, in thread order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        barrier.wait(HOLD_SECONDS)
        try:
            results[n] = work(n)
        except Exception as exc:  # the test looks at what each thread got
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HOLD_SECONDS * 3)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return results
