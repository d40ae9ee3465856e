"""Benchmark: catch-up of 12 missed monthly periods against 12 single periods, like for like.

    python -m benchmarks.catchup [--rows 100000] [--collaborators 10000] [--rounds 3]
                                 [--database URL]

One store, two monthly distributors starting in January 2026 with the same pool:
``year`` holds ``--rows`` credits in **each** of the twelve months of 2026, ``single``
the same ``--rows`` credits in January only — credit for credit the same collaborators,
points and times within the month, so each caught-up period has exactly the work of the
single period (the same number of allocations, obligations and audit entries).

* **Catch-up**: ``kernel.heartbeat`` on 2027-01-01 with ``single`` paused: twelve periods,
  one transaction each.
* **Twelve single periods**: the same twelve periods of ``year``, each distributed by a
  heartbeat of its own (on 2026-02-01, 2026-03-01, … 2027-01-01), ``single`` paused: the
  same rows written into the same growing tables, so the ratio catch-up / twelve single
  periods is the cost of catching up and nothing else (target: at most 1.1×).
* **The single January period**: ``kernel.heartbeat`` on 2026-02-01 with ``year`` paused,
  on tables holding no other period. Twelve times it is printed beside, for reference: it
  is not like-for-like, as each later month of a year inserts into indexes (obligations by
  collaborator, audit entries) that the earlier months have grown.

Rounds alternate (single, twelve single periods, catch-up, …), each undone untimed and
SQLite's WAL checkpointed before it (:func:`benchmarks.period.settle`); figures are
medians.
The database is EMPTIED first (default: a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from benchmarks import period

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2027, 1, 1, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 1, tzinfo=UTC)
SPAN = 28 * 24 * 3600  # every month has these seconds


def _months() -> list[datetime]:
    return [datetime(2026, month, 1, tzinfo=UTC) for month in range(1, 13)]


def populate(url: str, rows: int, collaborators: int) -> dict[str, int]:
    """The two distributors and their credits: name → distributor store id."""
    from siren_core import Kernel, store

    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    with Kernel(url) as kernel:
        for name in ("single", "year"):
            kernel.create_distributor({
                "id": name, "name": name, "units": "USD", "schedule": "monthly",
                "start": "2026-01-01", "pool": {"resolver": "fixed", "amount": "100000.00"},
                "calculator": {"id": "proportional"}, "metrics": [{"type": "sale"}]})
    db = period.Driver(url)
    cursor = db.begin()
    now = db.time(YEAR_START)
    db.bulk(cursor, "collaborator", ["external_id", "name", "status", "created_at",
                                     "updated_at"],
            [(f"c{i:07}", f"c{i:07}", "active", now, now) for i in range(collaborators)])
    cursor.execute("SELECT external_id, id FROM distributor")
    keys = {name: int(key) for name, key in cursor.fetchall()}
    cursor.execute(db.sql("INSERT INTO source_event (kind, key, occurred_at, recorded_at,"
                          " digest, payload) VALUES ('bench', 'bulk', ?, ?, '-', '{}')"),
                   (now, now))
    cursor.execute("SELECT id FROM source_event")
    source = cursor.fetchone()[0]
    cursor.execute("SELECT min(id) FROM collaborator")
    first = cursor.fetchone()[0]
    for name, months in (("single", _months()[:1]), ("year", _months())):
        for month in months:
            rng = random.Random(7)  # the same credits in every month
            db.bulk(cursor, "score_credit",
                    ["distributor_id", "source_event_id", "collaborator_id", "metric_type",
                     "rule", "layer", "points", "revenue", "effective_at", "late"],
                    [(keys[name], source, first + i % collaborators, "sale", "fixed", 0,
                      rng.randint(1, 100), 0,
                      db.time(month + timedelta(seconds=rng.randrange(SPAN))), False)
                     for i in range(rows)])
    db.commit(cursor)
    cursor = db.connection.cursor()
    cursor.execute("ANALYZE")
    db.commit(cursor)
    db.connection.close()
    return keys


def _status(db: period.Driver, key: int, status: str) -> None:
    cursor = db.begin()
    cursor.execute(db.sql("UPDATE distributor SET status = ? WHERE id = ?"), (status, key))
    db.commit(cursor)


@dataclass(frozen=True)
class Rounds:
    """Seconds of each round: the single January period, twelve periods one heartbeat
    each, twelve periods caught up by one heartbeat."""

    singles: list[float]
    monthly: list[float]
    catchups: list[float]

    @property
    def ratio(self) -> float:
        """Catch-up against twelve single periods (the target's)."""
        return statistics.median(self.catchups) / statistics.median(self.monthly)

    @property
    def against_january(self) -> float:
        """Catch-up against twelve times the January period (for reference)."""
        return statistics.median(self.catchups) / (12 * statistics.median(self.singles))


def alternate(url: str, keys: dict[str, int], rounds: int) -> Rounds:
    """``rounds`` alternating runs of the three sides."""
    from siren_core import Kernel

    db = period.Driver(url)
    measured = Rounds([], [], [])
    monthly_heartbeats = [*_months()[1:], YEAR_END]
    with Kernel(url) as kernel:
        for _ in range(rounds):
            for runs, name, other, beats, periods in (
                    (measured.singles, "single", "year", [FEBRUARY], 1),
                    (measured.monthly, "year", "single", monthly_heartbeats, 1),
                    (measured.catchups, "year", "single", [YEAR_END], 12)):
                _status(db, keys[other], "inactive")
                period.settle(db)  # the undo's 1.2 million deletions checkpointed, untimed
                began = time.perf_counter()
                for now in beats:
                    report = kernel.heartbeat(now)
                    assert len(report.completed) == periods, report
                runs.append(time.perf_counter() - began)
                _status(db, keys[other], "active")
                period.undo(db, keys[name])
    db.connection.close()
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.catchup",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=100_000, help="credits in each month")
    parser.add_argument("--collaborators", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/catchup.db"
        measured = alternate(url, populate(url, args.rows, args.collaborators), args.rounds)
    print(f"medians of {args.rounds}: catch-up of 12 {statistics.median(measured.catchups):.3f}"
          f" s; twelve single periods {statistics.median(measured.monthly):.3f} s; the "
          f"January period {statistics.median(measured.singles):.3f} s")
    print(f"ratio catch-up / twelve single periods = {measured.ratio:.2f} (target ≤ 1.10); "
          f"catch-up / (12 × January) = {measured.against_january:.2f}")


if __name__ == "__main__":
    main()
