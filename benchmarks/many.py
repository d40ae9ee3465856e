"""Many small periods due at once: one heartbeat against the raw period, per period.

    python -m benchmarks.many --distributors 1000 [--rounds 3] [--database URL]

``--distributors`` monthly distributors (a fixed pool, ``proportional``) share 20
collaborators and 60 sales of January (the workers benchmark's store). The **engine** is
one ``kernel.heartbeat`` distributing every due January; the **raw** side lists the due
periods with one indexed ``SELECT`` and distributes each with
:func:`benchmarks.period.raw_period` (one transaction a period, as the engine). Rounds
alternate; every allocation, obligation and audit entry must be equal.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from benchmarks import period, workers

POOL = 100_000  # "1000.00" of the workers benchmark's distributors


def _everything(db: period.Driver) -> list[tuple[Any, ...]]:
    cursor = db.connection.cursor()
    cursor.execute(
        "SELECT d.distributor_id, a.collaborator_id, a.score, a.amount, o.amount, o.status,"
        " u.to_status, u.reason FROM allocation a JOIN distribution d ON d.id ="
        " a.distribution_id JOIN obligation o ON o.source = 'allocation' AND o.source_id ="
        " a.id JOIN obligation_audit u ON u.obligation_id = o.id WHERE d.period_index = 0"
        " ORDER BY d.distributor_id, a.collaborator_id")
    found = [tuple(row) for row in cursor.fetchall()]
    db.commit(cursor)
    return found


def _undo_all(db: period.Driver) -> None:
    cursor = db.begin()
    for statement in ("DELETE FROM obligation_audit", "DELETE FROM obligation",
                      "DELETE FROM allocation",
                      "DELETE FROM distribution WHERE period_index > 0",
                      "UPDATE distribution SET status = 'open', pool = NULL, revenue = NULL,"
                      " reason = NULL, config_version = NULL, calculator = NULL,"
                      " completed_at = NULL"):
        cursor.execute(statement)
    db.commit(cursor)


def raw_heartbeat(db: period.Driver) -> int:
    cursor = db.connection.cursor()
    cursor.execute(db.sql(
        "SELECT d.id FROM distribution d JOIN distributor r ON r.id = d.distributor_id"
        " WHERE d.status = 'open' AND d.period_end <= ? AND r.status = 'active'"
        " ORDER BY d.period_end, d.id"), (db.time(workers.NOW),))
    due = [row[0] for row in cursor.fetchall()]
    db.commit(cursor)
    for distribution in due:
        period.raw_period(db, distribution, POOL, workers.NOW)
    return len(due)


def alternate(url: str, count: int, rounds: int) -> tuple[list[float], list[float]]:
    """(engine seconds, raw seconds) per run of ``count`` periods, rows compared."""
    from siren_core import Kernel

    workers.populate(url, count)
    db = period.Driver(url)
    engines, raws = [], []
    with Kernel(url, clock=lambda: workers.NOW) as kernel:
        for _ in range(rounds):
            began = time.perf_counter()
            assert raw_heartbeat(db) == count
            raws.append(time.perf_counter() - began)
            expected = _everything(db)
            _undo_all(db)
            began = time.perf_counter()
            assert len(kernel.heartbeat(workers.NOW).completed) == count
            engines.append(time.perf_counter() - began)
            if _everything(db) != expected:
                raise AssertionError("the raw periods wrote other rows than the engine")
            _undo_all(db)
    db.connection.close()
    return engines, raws


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.many",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--distributors", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None, help="EMPTIED first; default: SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/many.db"
        engines, raws = alternate(url, args.distributors, args.rounds)
    engine, raw = statistics.median(engines), statistics.median(raws)
    print(f"engine {engine / args.distributors * 1e3:.2f} ms a period, raw "
          f"{raw / args.distributors * 1e3:.2f} ms: {engine / raw:.2f}× (target ≤ 1.5)")


if __name__ == "__main__":
    main()
