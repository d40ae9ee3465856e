"""Webhook crash suite: a worker that distributes periods and delivers webhooks at once is
killed with SIGKILL at a random moment -- while it distributes, or while deliveries are in
flight -- and a fresh worker finishes. Then: every committed event was delivered at least
once (verified by the SDK's ``construct_event``), a repeat carries the same delivery id and
body, nothing was delivered for a period whose transaction rolled back (each period has
exactly one ``distribution.completed``, and every delivered id is a committed outbox row),
and per subscription the first deliveries came in commit order.

Runs: ``SIREN_WEBHOOK_CRASH_RUNS`` (default 8 on SQLite, 4 on PostgreSQL; ``--long``: ×5).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from receiver import Receiver, receiving
from reliability.scenario import expected_periods, postgres_stores, sqlite_stores

from siren_core import Kernel
from siren_core.webhooks import subscriptions

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "reliability" / "webhook_worker.py"
DELAY_S = 0.01
"""How long the receiver takes to answer: deliveries trail the work, so that kills land
among them too."""
SUBSCRIPTIONS = {"a": ["distribution.completed", "payout.paid"],
                 "b": ["distribution.completed", "fulfillment.created", "payout.created"]}


def _runs(default: int, config: pytest.Config) -> int:
    runs = int(os.environ.get("SIREN_WEBHOOK_CRASH_RUNS", default))
    return runs * 5 if config.getoption("--long") else runs


def _subscribe(url: str, receiver: Receiver) -> None:
    with Kernel(url) as kernel:
        for name, events in SUBSCRIPTIONS.items():
            made = subscriptions.create(kernel.engine, receiver.url(name), events,
                                        allow_private=True)
            receiver.secrets[name] = made.secret


def _start(url: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, str(WORKER), url], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started", process.stderr.read()
    return process


def _finish(process: subprocess.Popen[str]) -> float:
    """Run to the end; seconds until the work (distribution and payment) was done."""
    began = time.monotonic()
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    distributed = time.monotonic() - began
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and line == "distributed" and "done" in out, err
    return distributed


def _outbox(url: str) -> dict[str, list[tuple[int, str, str, str]]]:
    """Per subscription name: (event id, delivery id, name, body) in commit order."""
    names = {f"/{name}": name for name in SUBSCRIPTIONS}
    with Kernel(url) as kernel, kernel.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT e.id, e.delivery_id, e.name, e.body, s.target_url FROM webhook_event e "
            "JOIN webhook_delivery d ON d.event_id = e.id "
            "JOIN webhook_subscription s ON s.id = d.subscription_id ORDER BY e.id")).all()
    found: dict[str, list[tuple[int, str, str, str]]] = {name: [] for name in SUBSCRIPTIONS}
    for event_id, delivery_id, name, body, target in rows:
        found[names["/" + target.rsplit("/", 1)[1]]].append((event_id, delivery_id, name, body))
    return found


def _phase(url: str, output: str) -> set[str]:
    """Where the kill landed: during the ``work`` (distributing, approving, paying: the
    worker had not said ``distributed``), with deliveries in flight (``delivery``: some
    pending), both or neither."""
    with Kernel(url) as kernel:
        left = subscriptions.deliveries(kernel.engine, status="pending", number=10**6)
    return ({"work"} if "distributed" not in output else set()) | (
        {"delivery"} if left else set())


def _check(url: str, receiver: Receiver, seed: int) -> None:
    committed = _outbox(url)
    assert receiver.refused == [], f"seed {seed}"
    with Kernel(url) as kernel:
        periods = expected_periods(kernel)
    for name, rows in committed.items():
        by_id = {delivery_id: (event_id, body) for event_id, delivery_id, _n, body in rows}
        got = receiver.of(name)
        assert {r.delivery_id for r in got} == set(by_id), f"seed {seed}: {name}"
        for r in got:  # a repeat is the same event: same id, same body
            assert r.data == json.loads(by_id[r.delivery_id][1]), f"seed {seed}"
        first: list[int] = []
        for r in got:
            event_id = by_id[r.delivery_id][0]
            if event_id not in first:
                first.append(event_id)
        assert first == sorted(first), f"seed {seed}: {name} out of commit order"
        completed = [json.loads(body)["distribution"]["id"] for _e, _d, n, body in rows
                     if n == "distribution.completed"]
        assert len(completed) == len(set(completed)) == periods, f"seed {seed}"


def _crash_runs(make_store: Callable[[], str], runs: int) -> None:
    with receiving(delay_s=DELAY_S) as receiver:
        url = make_store()
        _subscribe(url, receiver)
        began = time.monotonic()
        distributed = _finish(_start(url))
        total = time.monotonic() - began
        _check(url, receiver, -1)
    phases: list[set[str]] = []
    work_span = distributed
    for seed in range(3 * runs):
        if seed >= runs and _both_phases(phases):
            break
        with receiving(delay_s=DELAY_S) as receiver:
            url = make_store()
            _subscribe(url, receiver)
            rng = random.Random(seed)
            delay = (rng.uniform(0, work_span) if seed % 2 == 0
                     else rng.uniform(distributed, total))
            process = _start(url)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            output, _err = process.communicate(timeout=60)
            phases.append(_phase(url, output))
            if seed % 2 == 0 and "work" not in phases[-1]:
                work_span /= 2  # this start was quicker than the timed one: kill sooner
            _finish(_start(url))
            _check(url, receiver, seed)
    assert _both_phases(phases), phases


def _both_phases(phases: list[set[str]]) -> bool:
    """Some kill landed during the work and some with deliveries in flight: the runs
    exercised both (a worker that starts faster than the timed run can make the first
    runs miss the work; more runs follow, killing sooner, up to three times as many)."""
    return any("work" in p for p in phases) and any("delivery" in p for p in phases)


def test_sigkill_while_distributing_and_delivering_on_sqlite(
        tmp_path: Path, pytestconfig: pytest.Config) -> None:
    _crash_runs(sqlite_stores(tmp_path), _runs(8, pytestconfig))


def test_sigkill_while_distributing_and_delivering_on_postgresql(
        pytestconfig: pytest.Config) -> None:
    url = os.environ.get("SIREN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL not configured: set SIREN_TEST_POSTGRES_URL to run")
    _crash_runs(postgres_stores(url), _runs(4, pytestconfig))
