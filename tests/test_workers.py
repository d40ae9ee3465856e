"""Several ``siren worker`` processes on one PostgreSQL database divide the due periods
between them, never distribute one twice, and a worker killed mid-run loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from siren_core import Kernel
from siren_core.verify import verify

from conftest import _reset_postgres

POSTGRES_URL = os.environ.get("SIREN_TEST_POSTGRES_URL")
DISTRIBUTORS = 50
PERIODS = 4  # January to April 2026 are due: 200 distributions
POOL = 100_00


def _populate(url: str) -> None:
    _reset_postgres(url)
    with Kernel(url) as kernel:
        with kernel.transaction():
            for number in range(20):
                kernel.create_collaborator(f"c{number:02d}")
            for number in range(DISTRIBUTORS):
                kernel.create_distributor({
                    "id": f"d{number:03d}", "name": f"D{number}", "units": "USD",
                    "schedule": "monthly", "start": "2026-01-01",
                    "pool": {"resolver": "fixed", "amount": "100.00"},
                    "calculator": {"id": "proportional"},
                    "metrics": [{"type": "sale", "value": "amount"}]})
        report = kernel.record_many(
            {"type": "sale", "id": f"o-{n}", "collaborator": f"c{n % 20:02d}",
             "at": datetime(2026, 1 + n % PERIODS, 1 + n % 27, 12, tzinfo=UTC).isoformat(),
             "amount": f"{1 + n % 97}.{n % 100:02d}", "currency": "USD"}
            for n in range(400))
        assert report.inserted == 400


def _worker(url: str) -> subprocess.Popen[str]:
    siren = Path(sys.executable).parent / "siren"
    return subprocess.Popen([str(siren), "worker", "--once", "--json", "--database", url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SIREN_DB_POOL_SIZE": "2"})


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL not configured: "
                    "set SIREN_TEST_POSTGRES_URL to run")
def test_four_workers_one_killed_pay_every_period_exactly_once() -> None:
    assert POSTGRES_URL
    _populate(POSTGRES_URL)
    workers = [_worker(POSTGRES_URL) for _ in range(4)]
    time.sleep(1.5)
    victim = workers[0]
    victim.send_signal(signal.SIGKILL)
    outputs = [worker.communicate(timeout=300) for worker in workers[1:]]
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    done_by = []
    for worker, (out, err) in zip(workers[1:], outputs, strict=True):
        assert worker.returncode == 0, err
        done_by.append(len(json.loads(out.splitlines()[-1])["completed"]))
    with Kernel(POSTGRES_URL) as kernel:
        # the clock is past April 2026: every month since is due too; finish the work
        finished_after = len(kernel.heartbeat(datetime.now(UTC)).completed)
        completed = kernel.distributions(status="completed")
        assert len({(d.distributor, d.period_index) for d in completed}) == len(completed)
        first_four = [d for d in completed if d.period_index < PERIODS]
        assert len(first_four) == DISTRIBUTORS * PERIODS
        assert sum(d.pool or 0 for d in first_four) == DISTRIBUTORS * PERIODS * POOL
        paid = {a.distribution_id: 0 for a in kernel.allocations()}
        for allocation in kernel.allocations():
            paid[allocation.distribution_id] += allocation.amount
        assert all(paid.get(d.id, 0) == d.pool for d in first_four)
        assert verify(kernel) == []
    assert sum(1 for count in done_by if count > 0) >= 2, (done_by, finished_after)
