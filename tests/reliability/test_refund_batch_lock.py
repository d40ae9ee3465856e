"""A long refund batch on SQLite lets a heartbeat in (issue 14): the batch commits its
refunds in transactions of about a second, with a pause between them, instead of holding
the write lock for the whole batch past another writer's busy timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from siren_core import Kernel
from siren_core.metrics.bulk import BulkReport
from siren_core.verify import verify

from conftest import monthly

ROOT = Path(__file__).resolve().parents[2]
SALES = 4000
BUSY_TIMEOUT_MS = 2500


def _sales(kernel: Kernel) -> None:
    for name in ("ana", "ben", "cid"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly())
    kernel.create_distributor(monthly("weekly-bonus", schedule="weekly"))
    report = kernel.record_many({"type": "sale", "id": f"o-{n}",
                                 "collaborator": ("ana", "ben", "cid")[n % 3],
                                 "at": f"2026-01-{1 + n % 28:02d}T10:00:00Z",
                                 "amount": "10.00", "currency": "USD"} for n in range(SALES))
    assert report.inserted == SALES


def test_a_heartbeat_started_during_a_long_refund_batch_succeeds(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's database-wide write lock")
    kernel = Kernel(database_url)
    _sales(kernel)
    done: list[tuple[BulkReport, float]] = []

    def refund_all() -> None:
        began = time.monotonic()
        report = kernel.record_many({"type": "refund", "id": f"r-{n}", "sale": f"o-{n}",
                                     "at": "2026-01-29T00:00:00Z"} for n in range(SALES))
        done.append((report, time.monotonic() - began))

    batch = threading.Thread(target=refund_all)
    batch.start()
    try:
        time.sleep(0.8)  # the batch holds the write lock by now
        heartbeat = subprocess.run(
            [sys.executable, "-c", "from siren_core.cli import main; main()", "heartbeat",
             "--database", database_url, "--now", "2026-02-01T00:00:00Z"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "SIREN_SQLITE_BUSY_TIMEOUT_MS": str(BUSY_TIMEOUT_MS)})
    finally:
        batch.join(timeout=300)
    [(report, seconds)] = done
    assert seconds > 1.5 * BUSY_TIMEOUT_MS / 1000, "the batch was too short to test anything"
    assert heartbeat.returncode == 0, heartbeat.stderr
    assert report.inserted == SALES and not report.rejected
    assert len(kernel.distributions(status="completed")) >= 2
    assert verify(kernel) == []
    kernel.close()
