"""Single recording, one event per transaction (the HTTP path): ``kernel.record`` against a
raw transaction doing the same checks, checked row for row.

    python -m benchmarks.record --events 1000 [--database URL]

The **raw** transaction, with the driver alone: one statement reads whether the
(kind, key) is already recorded (the unique index), the collaborator's id and status and
the distributor's open period holding the event (``FOR SHARE`` on PostgreSQL, as the
engine locks it); one statement (PostgreSQL: a data-modifying ``WITH``; SQLite: two)
writes the ``source_event`` row with the engine's canonical payload and SHA-256 digest
and its ``score_credit`` row; commit. The **engine**: ``kernel.record("sale", event)`` per event.
Both run alternately on a freshly emptied schema, the stored rows must be equal.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

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


class RawStatements(NamedTuple):
    """The raw transaction's statements, built once (not per event)."""

    read: str
    insert_source: str
    insert_credit: str

    @classmethod
    def of(cls, db: period.Driver) -> RawStatements:
        lock = "" if db.sqlite else " FOR SHARE"
        read = db.sql(
            "SELECT (SELECT id FROM source_event WHERE kind = ? AND key = ?),"
            " c.id, c.status,"
            " (SELECT id FROM distribution WHERE distributor_id = ? AND status = 'open'"
            f" AND period_start <= ?{lock})"
            " FROM collaborator AS c WHERE c.external_id = ?")
        marks = ", ".join("?" * (len(ingest.SOURCE_COLUMNS) - 1))
        insert_source = (f"INSERT INTO source_event ({', '.join(ingest.SOURCE_COLUMNS[1:])})"
                         f" VALUES ({marks}) RETURNING id")
        columns = ", ".join(c for c in ingest.CREDIT_COLUMNS if c != "source_event_id")
        credit_marks = ", ".join("?" * (len(ingest.CREDIT_COLUMNS) - 1))
        if db.sqlite:
            return cls(read, insert_source, f"INSERT INTO score_credit ({columns},"
                       f" source_event_id) VALUES ({credit_marks}, ?)")
        return cls(read, "", db.sql(f"WITH e AS ({insert_source}) INSERT INTO score_credit"
                                    f" ({columns}, source_event_id)"
                                    f" SELECT {credit_marks}, e.id FROM e"))


_WITHOUT_SOURCE_ID = [n for n, c in enumerate(ingest.CREDIT_COLUMNS) if c != "source_event_id"]


def _checked(db: period.Driver, statements: RawStatements, cursor: Any,
             event: dict[str, Any], distributor: int, now: Any) -> None:
    """One event in one transaction, with the engine's checks: every read in one
    statement, every write in one statement on PostgreSQL (a data-modifying ``WITH``;
    SQLite, without those, runs the two inserts, which cost it no round trip)."""
    at = db.time(datetime.fromisoformat(event["at"]))
    cursor.execute(statements.read, ("sale", event["id"], distributor, at,
                                     event["collaborator"]))
    existing, collaborator, status, open_period = cursor.fetchone()
    if existing is not None:
        raise AssertionError("a duplicate in the benchmark's input")
    assert status == "active" and open_period is not None
    [source], [credit] = ingest.canonical_rows(db.time, [event], 0,
                                               {event["collaborator"]: collaborator},
                                               distributor, now)
    credit_values = tuple(credit[n] for n in _WITHOUT_SOURCE_ID)
    if db.sqlite:
        cursor.execute(statements.insert_source, source[1:])
        cursor.execute(statements.insert_credit, (*credit_values, cursor.fetchone()[0]))
        return
    cursor.execute(statements.insert_credit, (*source[1:], *credit_values))


def run_raw(url: str, count: int) -> float:
    ingest.fresh(url, COLLABORATORS).close()
    db = period.Driver(url)
    cursor = db.connection.cursor()
    cursor.execute("SELECT id FROM distributor")
    distributor = cursor.fetchone()[0]
    db.commit(cursor)
    sales = list(ingest.events(count, COLLABORATORS))
    statements = RawStatements.of(db)
    began = time.perf_counter()
    for event in sales:
        cursor = db.begin()
        _checked(db, statements, cursor, event, distributor, db.time(datetime.now(UTC)))
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
