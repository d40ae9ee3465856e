"""Benchmark: throughput of 1, 2, 4 and 8 ``siren`` worker processes on one PostgreSQL.

    python -m benchmarks.workers --database postgresql+psycopg://…/db \\
        [--distributors 1000] [--workers 1,2,4,8] [--plot docs/workers.png]

Builds ``--distributors`` monthly distributors whose January is due, each with its own
score credits over 20 collaborators, then for each worker count: puts every period back to
"open" (raw SQL, untimed), starts that many processes, each with its own kernel, lets them
start their heartbeat at the same instant, and measures the wall time until the last one
has finished. Each process claims periods with ``FOR UPDATE SKIP LOCKED``, so they divide
the work; the run checks that every period was distributed exactly once.

Prints distributions per second and the speed-up over one worker; ``--plot`` writes a PNG
(needs matplotlib: ``pip install -e ".[bench]"``). The database is EMPTIED first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from siren_core import Kernel, store

NOW = datetime(2026, 2, 1, tzinfo=UTC)
COLLABORATORS = 20


def populate(url: str, distributors: int) -> None:
    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    with Kernel(url) as kernel:
        with kernel.transaction():
            for number in range(COLLABORATORS):
                kernel.create_collaborator(f"c{number:02d}")
            for number in range(distributors):
                kernel.create_distributor({
                    "id": f"d{number:04d}", "name": f"D{number}", "units": "USD",
                    "schedule": "monthly", "start": "2026-01-01",
                    "pool": {"resolver": "fixed", "amount": "1000.00"},
                    "calculator": {"id": "proportional"},
                    "metrics": [{"type": "sale", "value": "amount"}]})
        kernel.record_many({"type": "sale", "id": f"o-{n}", "collaborator": f"c{n % 20:02d}",
                            "at": f"2026-01-{1 + n % 28:02d}T12:00:00Z",
                            "amount": f"{1 + n % 50}.00", "currency": "USD"}
                           for n in range(60))


def reopen(url: str) -> None:
    """Undo a run: every January open again, nothing allocated (untimed)."""
    engine = store.open_engine(url)
    with engine.begin() as conn:
        for table in ("obligation_audit", "payout_item", "obligation", "allocation"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("DELETE FROM distribution WHERE period_index > 0"))
        conn.execute(sa.text("UPDATE distribution SET status = 'open', pool = NULL, "
                             "revenue = NULL, reason = NULL, completed_at = NULL"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))  # every run starts from the same state
    engine.dispose()


def child(url: str, go: float) -> None:
    with Kernel(url) as kernel:
        time.sleep(max(0.0, go - time.time()))
        report = kernel.heartbeat(NOW)
        print(json.dumps({"done": time.time(), "completed": len(report.completed)}))


def run(url: str, workers: int) -> tuple[float, list[int]]:
    go = time.time() + 3.0 + 0.3 * workers  # every process has imported and connected
    processes = [subprocess.Popen([sys.executable, "-m", "benchmarks.workers", "--child", url,
                                   "--go", str(go)], stdout=subprocess.PIPE, text=True)
                 for _ in range(workers)]
    results = [json.loads(p.communicate()[0]) for p in processes]
    return max(r["done"] for r in results) - go, [r["completed"] for r in results]


def plot(path: str, figures: dict[int, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted(figures)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(counts, [figures[c] for c in counts], marker="o", label="measured")
    ax.plot(counts, [figures[counts[0]] * c / counts[0] for c in counts], linestyle="--",
            label="linear")
    ax.set_xlabel("worker processes")
    ax.set_ylabel("distributions per second")
    ax.set_xticks(counts)
    ax.set_title("siren workers on one PostgreSQL (2-core host)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database")
    parser.add_argument("--distributors", type=int, default=1000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--plot")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--go", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.go)
        return
    if not args.database or not args.database.startswith("postgresql"):
        parser.error("--database must be a PostgreSQL URL (SQLite has one writer at a time)")
    populate(args.database, args.distributors)
    figures: dict[int, float] = {}
    for workers in (int(n) for n in args.workers.split(",")):
        reopen(args.database)
        seconds, split = run(args.database, workers)
        assert sum(split) == args.distributors, split
        figures[workers] = args.distributors / seconds
        print(f"{workers} worker(s): {seconds:6.2f} s, {figures[workers]:7.1f} distributions/s, "
              f"{figures[workers] / figures[min(figures)]:.2f}× one worker; "
              f"periods per worker {sorted(split, reverse=True)}")
    if args.plot:
        plot(args.plot, figures)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
