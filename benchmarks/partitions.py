"""Does monthly partitioning of the credits pay on PostgreSQL? A period's aggregate on a
plain table against the same rows in a table partitioned by month.

    python -m benchmarks.partitions --database postgresql+psycopg://…/bench [--credits 10000000]

In a scratch schema ``bench_partitions`` (dropped first and at the end): ``plain``, shaped
like ``score_credit`` with its covering index ``(distributor_id, effective_at,
collaborator_id, points, revenue)``, and ``monthly``, the same columns ``PARTITION BY
RANGE (effective_at)`` with one partition a month and the same index. Both get the same
``--credits`` rows (``COPY``) over ``--months`` months of one distributor and
``--collaborators`` collaborators, then ``VACUUM ANALYZE``. Timed, alternating
(``--rounds``): the period's ``GROUP BY`` of one month in the middle; best and median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from benchmarks.period import Driver

COLUMNS = ("id bigint, distributor_id int NOT NULL, source_event_id bigint NOT NULL,"
           " collaborator_id int, points bigint NOT NULL, revenue bigint NOT NULL,"
           " effective_at timestamp NOT NULL")
INDEX = "(distributor_id, effective_at, collaborator_id, points, revenue)"
QUERY = ("SELECT collaborator_id, sum(points) FROM bench_partitions.{table}"
         " WHERE distributor_id = 1 AND effective_at >= %s AND effective_at < %s"
         " AND collaborator_id IS NOT NULL GROUP BY collaborator_id HAVING sum(points) > 0")


def month(index: int) -> datetime:
    return datetime(2026 + index // 12, 1 + index % 12, 1)


def create(db: Driver, months: int) -> None:
    cursor = db.connection.cursor()
    cursor.execute("DROP SCHEMA IF EXISTS bench_partitions CASCADE")
    cursor.execute("CREATE SCHEMA bench_partitions")
    cursor.execute(f"CREATE TABLE bench_partitions.plain ({COLUMNS})")
    cursor.execute(f"CREATE TABLE bench_partitions.monthly ({COLUMNS})"
                   " PARTITION BY RANGE (effective_at)")
    for index in range(months):
        cursor.execute(f"CREATE TABLE bench_partitions.monthly_{index} PARTITION OF"
                       f" bench_partitions.monthly FOR VALUES FROM ('{month(index)}')"
                       f" TO ('{month(index + 1)}')")
    db.connection.commit()


def rows(credits: int, months: int, collaborators: int) -> Iterator[tuple[Any, ...]]:
    """The same credits every time (streamed: 10M tuples would not fit in memory)."""
    rng = random.Random(7)
    start, span = month(0), int((month(months) - month(0)).total_seconds())
    for i in range(credits):
        yield (i, 1, i, 1 + i % collaborators, rng.randint(1, 100), 0,
               start + timedelta(seconds=rng.randrange(span)))


def fill(db: Driver, credits: int, months: int, collaborators: int) -> None:
    cursor = db.connection.cursor()
    for table in ("plain", "monthly"):
        with cursor.copy(f"COPY bench_partitions.{table} (id, distributor_id, source_event_id,"
                         " collaborator_id, points, revenue, effective_at) FROM STDIN") as copy:
            for row in rows(credits, months, collaborators):
                copy.write_row(row)
        cursor.execute(f"CREATE INDEX ON bench_partitions.{table} {INDEX}")
        db.connection.commit()
    db.connection.autocommit = True
    cursor.execute("VACUUM ANALYZE bench_partitions.plain")
    cursor.execute("VACUUM ANALYZE bench_partitions.monthly")
    db.connection.autocommit = False


def timed(db: Driver, table: str, months: int) -> float:
    cursor = db.connection.cursor()
    middle = months // 2
    began = time.perf_counter()
    cursor.execute(QUERY.format(table=table), (month(middle), month(middle + 1)))
    cursor.fetchall()
    elapsed = time.perf_counter() - began
    db.connection.commit()
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partitions",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--database", required=True, help="a PostgreSQL URL")
    parser.add_argument("--credits", type=int, default=10_000_000)
    parser.add_argument("--months", type=int, default=10)
    parser.add_argument("--collaborators", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    db = Driver(args.database)
    began = time.perf_counter()
    create(db, args.months)
    fill(db, args.credits, args.months, args.collaborators)
    print(f"{args.credits:,} credits over {args.months} months written twice in "
          f"{time.perf_counter() - began:.0f} s")
    times: dict[str, list[float]] = {"plain": [], "monthly": []}
    for _ in range(args.rounds):
        for table in times:
            times[table].append(timed(db, table, args.months))
    for table, values in times.items():
        print(f"{table:8} one month's aggregate: best {min(values):.3f} s, median "
              f"{statistics.median(values):.3f} s")
    cursor = db.connection.cursor()
    cursor.execute("DROP SCHEMA bench_partitions CASCADE")
    db.connection.commit()
    db.connection.close()


if __name__ == "__main__":
    main()
