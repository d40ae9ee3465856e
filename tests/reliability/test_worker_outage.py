"""``siren worker`` lives through database outages (issue 14, "outages").

A real ``siren worker`` process distributes a year of daily periods while the test
terminates its PostgreSQL connections server-side, again while it idles; on SQLite the
database is held locked past the worker's busy timeout. Each time the worker logs one line,
waits, carries on, distributes every period exactly once and exits 0 on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.verify import verify

from conftest import monthly

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTORS = 2
DAYS = 120


def _populate(kernel: Kernel) -> datetime:
    """Two daily distributors whose last DAYS periods are due, and sales in them."""
    start = (datetime.now(UTC) - timedelta(days=DAYS)).date()
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    for number in range(DISTRIBUTORS):
        kernel.create_distributor(monthly(f"daily-{number}", schedule="daily",
                                          start=start.isoformat()))
    first = datetime(start.year, start.month, start.day, 12, tzinfo=UTC)
    kernel.record_many([{"type": "sale", "id": f"o-{day}", "collaborator": ("ana", "ben")[day % 2],
                         "at": (first + timedelta(days=day)).isoformat(), "amount": "10.00",
                         "currency": "USD"} for day in range(DAYS)])
    return first


def _start_worker(url: str, stderr: Any = subprocess.PIPE, **env: str
                  ) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from siren_core.cli import main; main()",
               "worker", "--database", url, "--interval", "0.5", "--quiet"]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=stderr, text=True, env={**os.environ, **env})


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _completed(kernel: Kernel) -> int:
    return len(kernel.distributions(status="completed"))


def _all_done(kernel: Kernel) -> bool:
    """Every period that ended is distributed (the open ones all end in the future)."""
    now = datetime.now(UTC)
    return all(d.period_end > now for d in kernel.distributions(status="open"))


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM the worker (if it still runs): it must exit 0, with no traceback."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    err = err or ""  # (none here when it went to a file)
    assert process.returncode == 0, err
    assert "Traceback" not in err, err
    return err


def _check_each_period_once(kernel: Kernel) -> None:
    assert verify(kernel) == []
    rows = kernel.distributions()
    assert len({(d.distributor, d.period_start) for d in rows}) == len(rows)
    assert sum(1 for d in rows if d.status == "completed") >= DISTRIBUTORS * DAYS
    assert len(kernel.obligations()) == sum(1 for d in rows if d.status == "completed"
                                            and d.reason is None)


def _terminate_connections(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
    engine.dispose()
    return int(killed)


def test_the_worker_outlives_terminated_connections(database_url: str,
                                                    make_kernel: Callable[..., Kernel]) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    kernel = make_kernel()
    _populate(kernel)
    kernel.close()
    process = _start_worker(database_url)
    try:
        assert _wait_for(lambda: _completed(kernel) > 0, 30), "the worker never distributed"
        kills = 0
        while not _all_done(kernel) and kills < 40:  # terminate while it distributes
            kills += 1 if _terminate_connections(database_url) else 0
            time.sleep(0.3)
        assert kills >= 3, "the worker finished before it could be disturbed"
        assert process.poll() is None, "the worker died"
        assert _wait_for(lambda: _all_done(kernel), 60)
        for _ in range(3):  # and while it idles
            _terminate_connections(database_url)
            time.sleep(0.8)
        assert process.poll() is None, "the worker died"
        kernel.record("sale", {"id": "late", "collaborator": "ana", "amount": "1.00",
                               "currency": "USD", "at": datetime.now(UTC).isoformat()})
    finally:
        err = _stop(process)
    assert "worker: heartbeat failed" in err, err
    assert all(line.startswith(("worker: heartbeat failed", "worker: webhook delivery failed"))
               for line in err.splitlines()), err  # its delivery threads retry too
    _check_each_period_once(kernel)


def test_the_worker_waits_out_a_locked_sqlite_database(database_url: str,
                                                       make_kernel: Callable[..., Kernel],
                                                       tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a SQLite lock")
    kernel = make_kernel()
    _populate(kernel)
    path = database_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the write lock, held past the worker's timeout
    log = tmp_path / "worker.err"
    with log.open("w") as sink:
        process = _start_worker(database_url, sink, SIREN_SQLITE_BUSY_TIMEOUT_MS="200")
    try:
        # however long the worker takes to start on a loaded host, it meets the lock
        assert _wait_for(lambda: "retrying in" in log.read_text(), 60), log.read_text()
        assert process.poll() is None, "the worker died"
        assert _completed(kernel) == 0
        blocker.execute("ROLLBACK")
        assert _wait_for(lambda: _all_done(kernel), 60)
    finally:
        blocker.close()
        _stop(process)
    err = log.read_text()
    assert "database is locked" in err and "retrying in" in err, err
    _check_each_period_once(kernel)
