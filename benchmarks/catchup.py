"""Benchmark: catch-up of 12 missed monthly periods against 12 single periods.

    python -m benchmarks.catchup [--rows 1200000] [--collaborators 100000] [--database URL]

Store A holds ``--rows`` score credits spread over the twelve months of 2026; the heartbeat
runs once, on 2027-01-01, and distributes the twelve periods one by one, each in its own
transaction with only its own credits. Store B holds a twelfth of the rows, in January
only; its single period is distributed by one heartbeat. The figure to watch is the
catch-up time against twelve times the single-period time (target: at most 1.1×): catching
up must cost no more than the periods would have cost on time. Peak memory of the
catch-up is printed too. Both stores are EMPTIED first (a temporary SQLite file each when
``--database`` is not given; with a PostgreSQL URL, the two runs use it one after the
other).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.distribute import measure_peak
from benchmarks.raw import Raw
from siren_core import Kernel, store

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)


def fresh(url: str) -> Kernel:
    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    return Kernel(url)


def populate(kernel: Kernel, rows: int, collaborators: int, months: int) -> None:
    """One monthly distributor; ``rows`` credits over the first ``months`` months."""
    kernel.create_distributor({
        "id": "bench", "name": "Catch-up", "units": "USD", "schedule": "monthly",
        "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "100000.00"},
        "calculator": {"id": "proportional"}, "metrics": [{"type": "sale", "points": 1}]})
    raw = Raw(kernel)
    rng = random.Random(7)
    cursor = raw.begin()
    now = raw.time(YEAR_START)
    raw.bulk(cursor, "collaborator", ["external_id", "name", "status", "created_at",
                                      "updated_at"],
             ((f"c{i:07}", f"c{i:07}", "active", now, now) for i in range(collaborators)))
    cursor.execute("SELECT id FROM distributor")
    distributor = cursor.fetchone()[0]
    cursor.execute(raw.sql("INSERT INTO source_event (kind, key, occurred_at, recorded_at, "
                           "digest, payload) VALUES (?, ?, ?, ?, ?, ?)"),
                   ("bench", "bulk", now, now, "-", "{}"))
    cursor.execute("SELECT id FROM source_event")
    source = cursor.fetchone()[0]
    cursor.execute("SELECT min(id) FROM collaborator")
    first = cursor.fetchone()[0]
    end = YEAR_START + timedelta(days=31) if months == 1 else YEAR_END
    span = int((end - YEAR_START).total_seconds())
    raw.bulk(cursor, "score_credit",
             ["distributor_id", "source_event_id", "collaborator_id", "metric_type", "rule",
              "layer", "points", "revenue", "effective_at", "late"],
             ((distributor, source, first + i % collaborators, "sale", "fixed", 0,
               rng.randint(1, 100), 0,
               raw.time(YEAR_START + timedelta(seconds=rng.randrange(span))), False)
              for i in range(rows)))
    raw.connection.commit()
    raw.connection.cursor().execute("ANALYZE")
    raw.connection.commit()
    raw.close()


def timed_heartbeat(kernel: Kernel, now: datetime, periods: int) -> tuple[float, float]:
    def work() -> None:
        report = kernel.heartbeat(now)
        assert len(report.completed) == periods, report
    return measure_peak(work)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_200_000)
    parser.add_argument("--collaborators", type=int, default=100_000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp()
    urls = [args.database or f"sqlite:///{Path(folder) / name}" for name in ("a.db", "b.db")]
    with fresh(urls[0]) as kernel:
        populate(kernel, args.rows, args.collaborators, 12)
        catchup, peak = timed_heartbeat(kernel, YEAR_END, 12)
    with fresh(urls[1]) as kernel:
        populate(kernel, args.rows // 12, args.collaborators, 1)
        single, _ = timed_heartbeat(kernel, YEAR_START + timedelta(days=31), 1)
    print(f"catch-up of 12 periods ({args.rows:,} credits, {args.collaborators:,} "
          f"collaborators): {catchup:.2f} s, peak +{peak:.0f} MB")
    print(f"one period with a twelfth of the credits: {single:.2f} s; 12 × that = "
          f"{12 * single:.2f} s")
    print(f"ratio catch-up / (12 × single) = {catchup / (12 * single):.2f} (target ≤ 1.10)")


if __name__ == "__main__":
    main()
