"""Single recording, one event per transaction (the HTTP path): ``kernel.record`` against a
raw transaction doing the same checks, checked row for row.

    python -m benchmarks.record --events 1000 [--database URL]

The **raw** transaction, with the driver alone: is the (kind, key) already recorded (the
unique index), the collaborator's id and status, the distributor's open period holding
the event (``FOR SHARE`` on PostgreSQL, as the engine locks it), the ``source_event`` row
(``RETURNING id``) with the engine's canonical payload and SHA-256 digest, its
``score_credit`` row, commit. The **engine**: ``kernel.record("sale", event)`` per event.
Both run alternately on a freshly emptied schema, the stored rows must be equal.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks import ingest, period

COLLABORATORS = 1_000


def run_engine(url: str, count: int) -> float:
    with ingest.fresh(url, COLLABORATORS) as kernel:
        sales = [{k: v for k, v in event.items() if k != "type"}
                 for event in ingest.events(count, COLLABORATORS)]
        began = time.perf_counter()
        for sale in sales:
            kernel.record("sale", sale)
        return time.perf_counter() - began


def _checked(db: period.Driver, cursor: Any, event: dict[str, Any], distributor: int,
             now: Any) -> None:
    """One event in one transaction, with the engine's checks."""
    cursor.execute(db.sql("SELECT id FROM source_event WHERE kind = ? AND key = ?"),
                   ("sale", event["id"]))
    if cursor.fetchone() is not None:
        raise AssertionError("a duplicate in the benchmark's input")
    cursor.execute(db.sql("SELECT id, status FROM collaborator WHERE external_id = ?"),
                   (event["collaborator"],))
    collaborator, status = cursor.fetchone()
    assert status == "active"
    at = db.time(datetime.fromisoformat(event["at"]))
    cursor.execute(db.sql(
        "SELECT id FROM distribution WHERE distributor_id = ? AND status = 'open'"
        " AND period_start <= ?" + ("" if db.sqlite else " FOR SHARE")), (distributor, at))
    assert cursor.fetchone() is not None
    [source], [credit] = ingest.canonical_rows(db.time, [event], 0,
                                               {event["collaborator"]: collaborator},
                                               distributor, now)
    cursor.execute(db.sql(f"INSERT INTO source_event ({', '.join(ingest.SOURCE_COLUMNS[1:])})"
                          f" VALUES ({', '.join('?' * (len(ingest.SOURCE_COLUMNS) - 1))})"
                          " RETURNING id"), source[1:])
    source_id = cursor.fetchone()[0]
    cursor.execute(db.sql(f"INSERT INTO score_credit ({', '.join(ingest.CREDIT_COLUMNS)})"
                          f" VALUES ({', '.join('?' * len(ingest.CREDIT_COLUMNS))})"),
                   (credit[0], source_id, *credit[2:]))


def run_raw(url: str, count: int) -> float:
    ingest.fresh(url, COLLABORATORS).close()
    db = period.Driver(url)
    cursor = db.connection.cursor()
    cursor.execute("SELECT id FROM distributor")
    distributor = cursor.fetchone()[0]
    db.commit(cursor)
    sales = list(ingest.events(count, COLLABORATORS))
    began = time.perf_counter()
    for event in sales:
        cursor = db.begin()
        _checked(db, cursor, event, distributor, db.time(datetime.now(UTC)))
        db.commit(cursor)
    elapsed = time.perf_counter() - began
    db.connection.close()
    return elapsed


def alternate(url: str, count: int, rounds: int) -> tuple[list[float], list[float]]:
    """(engine seconds, raw seconds) of ``rounds`` alternating runs, rows compared."""
    engines, raws, reference = [], [], None
    for _ in range(rounds):
        for runs, run in ((engines, run_engine), (raws, run_raw)):
            runs.append(run(url, count))
            rows = ingest.stored_sales(url)
            if reference is None:
                reference = rows
            elif rows != reference:
                raise AssertionError(f"{run.__name__} stored other rows")
    return engines, raws


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.record",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None, help="EMPTIED first; default: SQLite file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/record.db"
        engines, raws = alternate(url, args.events, args.rounds)
    rate = statistics.median(raws) / statistics.median(engines)
    print(f"engine {statistics.median(engines) / args.events * 1e3:.2f} ms/event, raw "
          f"{statistics.median(raws) / args.events * 1e3:.2f} ms/event: engine throughput "
          f"{rate:.2f}× raw (target ≥ 0.5)")


if __name__ == "__main__":
    main()
