"""Run every benchmark: ``python -m benchmarks [--full] [--database URL] [--only NAME…]``.

``python -m benchmarks --report [--quick] [--postgres URL]`` measures the targets of
issue 18 instead and rewrites the figures of ``docs/performance.md`` (see
:mod:`benchmarks.report`).

Quick sizes by default (a minute or two on a laptop); ``--full`` uses the sizes the
figures in ``docs/performance.md`` were measured with (1,000,000 events or credits,
100,000 collaborators). Each benchmark prints the engine's figure, its raw-SQL baseline,
their ratio and, where it matters, peak memory. Benchmarks empty the database they are
given. ``workers`` needs PostgreSQL and is skipped without a PostgreSQL ``--database``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
from collections.abc import Callable

import sqlalchemy as sa

from benchmarks import (
    cascades,
    catchup,
    distribute,
    ingest,
    many,
    obligations,
    period,
    record,
    report,
    webhooks,
    workers,
)

QUICK: dict[str, list[str]] = {
    "ingest": ["--events", "100000", "--collaborators", "5000", "--repeat", "1"],
    "distribute": ["--rows", "100000", "--collaborators", "10000", "--rounds", "2"],
    "catchup": ["--rows", "10000", "--collaborators", "1000"],
    "period": ["--rows", "100000", "--collaborators", "10000"],
    "record": ["--events", "300"],
    "many": ["--distributors", "200"],
    "cascades": ["--members", "10000", "--depth", "200", "--events", "5"],
    "obligations": ["--collaborators", "500", "--per", "10"],
    "workers": ["--distributors", "200", "--workers", "1,2,4"],
    "webhooks": ["--events", "200", "--subscriptions", "4"],
}
FULL: dict[str, list[str]] = {
    "ingest": [], "distribute": [], "catchup": [], "cascades": [], "obligations": [],
    "period": ["--rows", "1000000", "--collaborators", "100000"], "record": [], "many": [],
    "workers": ["--distributors", "1000", "--workers", "1,2,4,8"],
    "webhooks": [],
}
MAINS: dict[str, Callable[[list[str]], object]] = {
    "ingest": ingest.main, "distribute": distribute.main, "catchup": catchup.main,
    "cascades": cascades.main, "obligations": obligations.main,
    "workers": workers.main, "period": period.main, "record": record.main,
    "many": many.main, "webhooks": webhooks.main,
}


def machine(database: str | None) -> str:
    parts = [f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
             f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    if database and database.startswith("postgresql"):
        with sa.create_engine(database).connect() as conn:
            parts.append(str(conn.execute(sa.text("SHOW server_version")).scalar()))
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the documented sizes")
    parser.add_argument("--database", help="run on this database (emptied!)")
    parser.add_argument("--only", nargs="*", choices=sorted(MAINS), help="just these")
    parser.add_argument("--report", action="store_true",
                        help="measure the targets, rewrite docs/performance.md's figures")
    parser.add_argument("--quick", action="store_true", help="with --report: small sizes")
    parser.add_argument("--postgres", help="with --report: this PostgreSQL too (emptied!)")
    args = parser.parse_args()
    if args.report:
        command = "python -m benchmarks --report" + (" --quick" if args.quick else "") + (
            " --postgres URL" if args.postgres else "")
        rows = report.report(args.quick, args.postgres, command)
        failed = [f"{row.store}: {row.measure}" for row in rows if row.failed]
        if failed:  # the page says so too; the run must not pass for a complete one
            sys.exit("measures that failed: " + "; ".join(failed))
        return
    sizes = FULL if args.full else QUICK
    print(f"machine: {machine(args.database)}")
    for name in args.only or list(MAINS):
        argv = list(sizes[name])
        if name == "workers" and not (args.database or "").startswith("postgresql"):
            print("\n== workers: skipped (needs a PostgreSQL --database)")
            continue
        if args.database:
            argv += ["--database", args.database]
        print(f"\n== {name} {' '.join(argv)}", flush=True)
        MAINS[name](argv)


if __name__ == "__main__":
    main()
