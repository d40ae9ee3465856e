"""Crash suite: a worker process is killed with SIGKILL at a random moment of its work;
a fresh worker then finishes, and every invariant holds: each due period distributed
exactly once, allocations summing to pools, one obligation per allocation, no obligation
paid twice, scores reset exactly at period bounds.

Runs: ``SIREN_CRASH_RUNS`` (default 50 on SQLite, 20 on PostgreSQL; ``pytest --long``
multiplies them by 5). Seeds are fixed, so a failure is reproducible by its test id.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability.scenario import expected_periods, postgres_stores, sqlite_stores, work

from siren_core import Kernel
from siren_core.verify import verify

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "reliability" / "crash_worker.py"


def _runs(default: int, config: pytest.Config) -> int:
    runs = int(os.environ.get("SIREN_CRASH_RUNS", default))
    return runs * 5 if config.getoption("--long") else runs


def _start_worker(url: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(WORKER), url], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started", process.stderr.read()
    return process


def _full_run_seconds(url: str) -> float:
    process = _start_worker(url)
    began = time.monotonic()
    _out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return time.monotonic() - began


def _kill_and_recover(url: str, seed: int, duration: float) -> tuple[float, bool]:
    process = _start_worker(url)
    delay = random.Random(seed).uniform(0, duration)
    time.sleep(delay)
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    with Kernel(url) as kernel:
        work(kernel)
        violations = verify(kernel)
        assert violations == [], f"seed {seed}: {[str(v) for v in violations]}"
        completed = kernel.distributions(status="completed")
        assert len(completed) == expected_periods(kernel), f"seed {seed}"
        assert len({(d.distributor, d.period_index) for d in completed}) == len(completed)
        assert kernel.obligations(status="pending") == ()
        assert kernel.obligations(status="approved") == ()
    return delay, finished


def _crash_runs(make_store: Callable[[], str], runs: int) -> None:
    duration = _full_run_seconds(make_store())
    outcomes = [_kill_and_recover(make_store(), seed, duration) for seed in range(runs)]
    killed_mid_work = sum(1 for _delay, finished in outcomes if not finished)
    assert killed_mid_work >= runs // 2, "most kills should land while the worker works"


def test_sigkill_at_random_points_on_sqlite(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    _crash_runs(sqlite_stores(tmp_path), _runs(50, pytestconfig))


def test_sigkill_at_random_points_on_postgresql(pytestconfig: pytest.Config) -> None:
    url = os.environ.get("SIREN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("PostgreSQL not configured: set SIREN_TEST_POSTGRES_URL to run")
    _crash_runs(postgres_stores(url), _runs(20, pytestconfig))
