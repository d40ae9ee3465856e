"""The proof: about two thousand sales and refunds recorded by several writers (single
records and bulk batches, each writer its own kernel and connections) while another
kernel runs heartbeats across period ends. Each event is then checked one by one: it
credited each distributor exactly once (in its own period, or late in a later one), or
a ``credit_skip`` row says why not; each refund took back exactly its share; and
``verify`` is clean. Events are dated in the period the heartbeat is closing, so that
recording and closing race all the time."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa

from siren_core import Kernel, store
from siren_core.verify import verify

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 366  # the heartbeat stops at the latest after closing a year of daily periods
COLLABORATORS = 20
SINGLE_WRITERS, SINGLE_SALES = 2, 400
BULK_SALES, BULK_BATCH = 1_100, 25
REFUND_SHARE = 0.12
SECONDS = 60.0  # the bound of the whole race, far above its usual few seconds
PACE, PACE_SECONDS = 40, 1.0  # writers wait for the next day every 40 sales (or 1 s)

DAILY = {"id": "daily", "name": "Daily", "units": "USD", "schedule": "daily",
         "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "100.00"},
         "calculator": {"id": "proportional"},
         "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}]}
WEEKLY = {"id": "weekly", "name": "Weekly", "units": "USD", "schedule": "weekly",
          "start": "2026-01-01", "pool": {"resolver": "revenue_percentage", "percent": "10"},
          "calculator": {"id": "proportional"},
          "metrics": [{"type": "sale", "value": "amount", "credit": {"rule": "fixed"}}]}


class Race:
    """The day being closed (events are dated in it) and what each writer recorded."""

    def __init__(self) -> None:
        self.day = 0
        self.recording = True
        self.sales: dict[str, tuple[str | None, int, datetime]] = {}
        self.refunds: dict[str, int] = {}  # sale key → refunded amount
        self.lock = threading.Lock()
        self.turned = threading.Condition()

    def advance(self) -> None:
        with self.turned:
            self.day += 1
            self.turned.notify_all()

    def keep_pace(self) -> None:
        """Wait (a bounded while) for the heartbeat to move to the next day: the writers
        keep recording across many period ends, however the threads are scheduled."""
        with self.turned:
            seen = self.day
            self.turned.wait_for(lambda: self.day != seen or not self.recording,
                                 timeout=PACE_SECONDS)

    def moment(self, rng: random.Random) -> datetime:
        return START + timedelta(days=self.day, seconds=rng.randrange(86_400))

    def sale(self, rng: random.Random, key: str) -> dict[str, Any]:
        collaborator = None if rng.random() < 0.1 else f"c{rng.randrange(COLLABORATORS)}"
        amount, when = rng.randint(100, 50_000), self.moment(rng)
        with self.lock:
            self.sales[key] = (collaborator, amount, when)
        event = {"id": key, "at": when.isoformat(), "amount": f"{amount / 100:.2f}",
                 "currency": "USD"}
        return event if collaborator is None else {**event, "collaborator": collaborator}


def _heartbeats(kernel: Kernel, race: Race) -> int:
    deadline = time.monotonic() + SECONDS
    beats = 0
    while race.recording and race.day < DAYS and time.monotonic() < deadline:
        race.advance()  # writers now date their events in the day about to close
        kernel.heartbeat(START + timedelta(days=race.day))
        beats += 1
        time.sleep(0.05)
    return beats


def _single_writer(kernel: Kernel, race: Race, writer: int) -> None:
    rng = random.Random(writer)
    mine: list[str] = []
    for n in range(SINGLE_SALES):
        if n % PACE == 0:
            race.keep_pace()
        key = f"s{writer}-{n}"
        kernel.record("sale", race.sale(rng, key))
        mine.append(key)
        if rng.random() < REFUND_SHARE:
            _refund(kernel, race, rng, mine.pop(rng.randrange(len(mine))))


def _refund(kernel: Kernel, race: Race, rng: random.Random, key: str) -> None:
    _collaborator, amount, when = race.sales[key]
    partial = rng.random() < 0.5 and amount > 100
    refund = {"id": f"r-{key}", "at": (when + timedelta(minutes=1)).isoformat(), "sale": key}
    if partial:
        refund["amount"] = "1.00"
    kernel.record("refund", refund)
    race.refunds[key] = 100 if partial else amount


def _bulk_writer(kernel: Kernel, race: Race) -> None:
    rng = random.Random(99)
    for first in range(0, BULK_SALES, BULK_BATCH):
        if first % (2 * BULK_BATCH) == 0:
            race.keep_pace()
        batch = [{"type": "sale", **race.sale(rng, f"b-{n}")}
                 for n in range(first, first + BULK_BATCH)]
        report = kernel.record_many(batch)
        assert (report.inserted, report.rejected) == (BULK_BATCH, ()), report


def _run(make_kernel: Callable[..., Kernel]) -> tuple[Kernel, Race, int]:
    setup = make_kernel()
    with setup.transaction():
        for number in range(COLLABORATORS):
            setup.create_collaborator(f"c{number}")
        setup.create_distributor(DAILY)
        setup.create_distributor(WEEKLY)
    race = Race()
    writers: list[Callable[[], None]] = [
        *(partial(_single_writer, make_kernel(), race, w) for w in range(SINGLE_WRITERS)),
        partial(_bulk_writer, make_kernel(), race)]
    with ThreadPoolExecutor(len(writers) + 1) as pool:
        beating = pool.submit(_heartbeats, make_kernel(), race)
        done = [pool.submit(writer) for writer in writers]
        try:
            for future in done:
                future.result(SECONDS)
        finally:
            race.recording = False
        beats = beating.result(SECONDS)
    return setup, race, beats


Credits = dict[tuple[str, str], list[tuple[int, int, bool, datetime]]]


def _credits(kernel: Kernel) -> tuple[Credits, dict[tuple[str, str], str]]:
    """(event key, distributor) → its credit rows (points, revenue, late, effective_at);
    and → its skip reason."""
    credits: Credits = {}
    skips: dict[tuple[str, str], str] = {}
    with store.unit_of_work(kernel.engine, write=False) as conn:
        for key, name, points, revenue, late, when in conn.execute(sa.text(
                "SELECT e.key, d.external_id, c.points, c.revenue, c.late, c.effective_at "
                "FROM score_credit c JOIN source_event e ON e.id = c.source_event_id "
                "JOIN distributor d ON d.id = c.distributor_id ORDER BY c.id")):
            moment = when if isinstance(when, datetime) else datetime.fromisoformat(when)
            credits.setdefault((key, name), []).append(
                (int(points), int(revenue), bool(late), moment.replace(tzinfo=UTC)))
        for key, name, reason in conn.execute(sa.text(
                "SELECT e.key, d.external_id, s.reason FROM credit_skip s "
                "JOIN source_event e ON e.id = s.source_event_id "
                "JOIN distributor d ON d.id = s.distributor_id")):
            skips[(key, name)] = reason
    return credits, skips


def _check_sale(credits: Credits, skips: dict[tuple[str, str], str], key: str,
                sale: tuple[str | None, int, datetime]) -> None:
    collaborator, amount, when = sale
    for name in ("daily", "weekly"):
        rows = credits.get((key, name), [])
        if collaborator is None and name == "daily":
            assert (rows, skips.get((key, name))) == ([], "no_collaborator"), key
            continue
        assert len(rows) == 1 and (key, name) not in skips, (key, name, rows)
        points, revenue, late, effective_at = rows[0]
        assert (points, revenue) == ((10, 0) if name == "daily" else (
            amount if collaborator else 0, amount)), (key, name, rows)
        # in its own period, or late at the start of a later one (a period start)
        assert effective_at == when if not late else (
            effective_at > when and effective_at.time() == datetime.min.time()), (key, rows)


def test_events_raced_against_heartbeats_are_each_accounted_for(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel, race, beats = _run(make_kernel)
    assert beats >= SINGLE_SALES // PACE // 2  # many period ends crossed meanwhile
    assert len(race.sales) == SINGLE_WRITERS * SINGLE_SALES + BULK_SALES
    credits, skips = _credits(kernel)
    for key, sale in race.sales.items():
        _check_sale(credits, skips, key, sale)
    for key, refunded in race.refunds.items():
        collaborator, amount, _when = race.sales[key]
        for name, given in (("daily", 10), ("weekly", amount)):
            if name == "daily" and collaborator is None:
                continue
            taken = -sum(row[0] if collaborator else row[1]
                         for row in credits.get((f"r-{key}", name), []))
            assert taken == refunded * given // amount, (key, name)  # pro rata, exactly
    late = sum(1 for rows in credits.values() for row in rows if row[2])
    assert late > 0  # some events did land in a period closed meanwhile
    assert verify(kernel) == []
