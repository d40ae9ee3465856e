"""One distribution period, engine against the fastest raw implementation, alternating
in one process (their times) and once more each in a fresh process (their peak memory),
checked row for row.

    python -m benchmarks.period --rows 100000 --collaborators 10000 [--rounds 3] [--database URL]

The **raw** side talks to the database with the driver alone (``sqlite3`` or ``psycopg``,
no SQLAlchemy, no siren_core import in its process), with the engine's durability settings
(SQLite: WAL, ``synchronous=NORMAL``, foreign keys on), in one transaction: lock the
period, the ``GROUP BY`` aggregate of the window's points of active collaborators (ints:
SQLite's sum is one, PostgreSQL's ``NUMERIC`` comes through psycopg's int loader; the
cursor is closed before the split, as the engine's, so the driver's copy of the result is
not held beside it), an integer largest-remainder split (ties: larger score, then smaller
collaborator id, as the ``proportional`` calculator), the allocations in one bulk write
(multi-row ``INSERT`` on SQLite, ``COPY`` on PostgreSQL), the obligations with ``INSERT …
SELECT`` and their audit entries with ``INSERT … SELECT`` (on PostgreSQL both in one
statement, a data-modifying ``WITH``), close the period and open the next, commit.

The **engine** side is ``kernel.heartbeat(now)`` on a kernel kept open (as in a server).
Rounds alternate raw, engine, raw, engine…, after one untimed round of each (the first
heartbeat of a process compiles its statements and loads the catalog); before each timed
side SQLite's WAL is checkpointed, untimed (:func:`settle`). The raw rows (allocations,
obligations, audit entries) must equal the engine's, or the benchmark fails.

Peak memory: one more raw and one more engine period, each in a fresh process (the
kernel opened before the period), the peak resident size (``VmHWM``) after its imports
(the raw side: with its connection), after it opened the store (the kernel; the raw
side's scratch period) and after the period (the growth is the period's own).

    python -m benchmarks.period --rows 1000000 --collaborators 100000 --memory-only [--rounds 3]

runs only the fresh-process rounds (no timed alternation), ``--rounds`` pairs of them, and
prints each process's split: imports, store open, the period.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FEBRUARY = datetime(2026, 2, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
SCRATCH = 9999  # the raw side's period index: beside the engine's, never in its way


# -- the raw side (driver only) ----------------------------------------------------------

def store_time(value: datetime, sqlite: bool) -> Any:
    """An aware instant as the store keeps it: on SQLite the text SQLAlchemy's ``DateTime``
    writes (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), on PostgreSQL a naive UTC datetime. A
    UTC value takes the engine's own shortcut (its ISO text without the ``+00:00``),
    sooner than ``astimezone``, ``replace`` and ``strftime``."""
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:-6] if sqlite else value.replace(
            tzinfo=None)
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(" ", "microseconds") if sqlite else naive


class Driver:
    """A DBAPI connection from a SQLAlchemy-style URL, with the engine's settings."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.connection: Any = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self.connection.execute(f"PRAGMA {pragma}")
        else:
            import psycopg
            from psycopg.types.numeric import IntLoader

            self.connection = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
            # a sum of integers is NUMERIC: read it as an int, exact, not as a Decimal
            self.connection.adapters.register_loader("numeric", IntLoader)
        self.mark = "?" if self.sqlite else "%s"

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def time(self, value: datetime) -> Any:
        return store_time(value, self.sqlite)

    def begin(self) -> Any:
        cursor = self.connection.cursor()
        if self.sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        return cursor

    def commit(self, cursor: Any) -> None:
        if self.sqlite:
            if self.connection.in_transaction:
                cursor.execute("COMMIT")
        else:
            self.connection.commit()

    def bulk(self, cursor: Any, table: str, columns: list[str],
             rows: list[tuple[Any, ...]], per: int = 200,
             types: list[str] | None = None) -> None:
        """Multi-row ``INSERT`` (``per`` rows a statement) on SQLite, ``COPY`` on PostgreSQL
        (binary with the columns' ``types``, see :func:`copy`)."""
        if not self.sqlite:
            copy(cursor, table, columns, rows, types)
            return
        multirow(cursor, "?", table, columns, rows, per)


def copy(cursor: Any, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]],
         types: list[str] | None = None) -> None:
    """``COPY … FROM STDIN`` of ``rows`` through psycopg: in the binary format when the
    columns' PostgreSQL ``types`` are given (``int4``, ``timestamp``…), less of the
    client's time than the text format (the values must fit their types: psycopg wraps an
    int too large for ``int4`` instead of refusing it, which the raw sides' values never
    are; the engine checks its values first, see ``siren_core.store.queries``)."""
    binary = " (FORMAT BINARY)" if types else ""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as copying:
        if types:
            copying.set_types(types)
        for row in rows:
            copying.write_row(row)


ALLOCATION_COLUMNS = ["distribution_id", "collaborator_id", "score", "amount"]
ALLOCATION_TYPES = ["int4", "int4", "int8", "int8"]


def multirow(cursor: Any, mark: str, table: str, columns: list[str],
             rows: list[tuple[Any, ...]], per: int = 200) -> None:
    """``INSERT`` of ``per`` rows a statement (``executemany``), the rest in one more."""
    marks = f"({', '.join(mark for _ in columns)})"
    into = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    whole = len(rows) - len(rows) % per
    cursor.executemany(into + ", ".join([marks] * per),
                       [[value for row in rows[start:start + per] for value in row]
                        for start in range(0, whole, per)])
    if whole < len(rows):
        cursor.execute(into + ", ".join([marks] * (len(rows) - whole)),
                       [value for row in rows[whole:] for value in row])


def largest_remainder(pool: int, scores: list[tuple[int, str, int]]) -> list[tuple[int, int, int]]:
    """(collaborator id, score, amount) summing exactly to ``pool``."""
    total = sum(points for _key, _name, points in scores)
    amounts = [pool * points // total for _key, _name, points in scores]
    leftover = pool - sum(amounts)
    order = sorted(range(len(scores)), key=lambda i: (-(pool * scores[i][2] % total),
                                                      -scores[i][2], scores[i][1]))
    for index in order[:leftover]:
        amounts[index] += 1
    return [(key, points, amount) for (key, _name, points), amount
            in zip(scores, amounts, strict=True)
            if amount > 0]


SCORES = (
    "SELECT c.id, c.external_id, t.points FROM collaborator c JOIN ("
    " SELECT collaborator_id, sum(points) AS points FROM score_credit"
    " WHERE distributor_id = ? AND effective_at >= ? AND effective_at < ?"
    " AND collaborator_id IS NOT NULL GROUP BY collaborator_id HAVING sum(points) > 0"
    ") t ON t.collaborator_id = c.id WHERE c.status = 'active' ORDER BY c.external_id")
OBLIGATIONS = (
    "INSERT INTO obligation (collaborator_id, amount, units, status, award_type, source,"
    " source_id, created_at, updated_at) SELECT collaborator_id, amount, ?, 'pending',"
    " 'distribution', 'allocation', id, ?, ? FROM allocation WHERE distribution_id = ?")
AUDIT = ("INSERT INTO obligation_audit (obligation_id, from_status, to_status, actor, reason,"
         " at) SELECT {id}, NULL, 'pending', ?, 'issued for an allocation', ? FROM {source}")


def raw_period(db: Driver, distribution: int, pool: int, now: datetime) -> None:
    """Distribute one open period by hand, in one transaction (``pool``: the fixed pool
    of the distributor's configuration)."""
    cursor = db.begin()
    cursor.execute(db.sql(
        "SELECT distributor_id, period_index, period_start, period_end, units"
        " FROM distribution WHERE id = ? AND status = 'open'"
        + ("" if db.sqlite else " FOR UPDATE")), (distribution,))
    owner, index, start, end, units = cursor.fetchone()
    cursor.execute(db.sql(SCORES), (owner, start, end))
    scores = cursor.fetchall()  # ints: SQLite's sum, the loader
    cursor.close()  # the driver's copy of the result goes before the split (PostgreSQL)
    cursor = db.connection.cursor()
    rows = largest_remainder(pool, scores)
    del scores
    db.bulk(cursor, "allocation", ALLOCATION_COLUMNS,
            [(distribution, key, points, amount) for key, points, amount in rows],
            types=ALLOCATION_TYPES)
    at, actor = db.time(now), f"distribution #{distribution}"
    if db.sqlite:
        cursor.execute(OBLIGATIONS, (units, at, at, distribution))
        cursor.execute(AUDIT.format(id="o.id", source=(
            "obligation o JOIN allocation a ON o.source = 'allocation' AND o.source_id = a.id"
            " WHERE a.distribution_id = ?")), (actor, at, distribution))
    else:
        cursor.execute(db.sql(f"WITH issued AS ({OBLIGATIONS} RETURNING id) "
                              + AUDIT.format(id="id", source="issued")),
                       (units, at, at, distribution, actor, at))
    cursor.execute(db.sql("UPDATE distribution SET status = 'completed', completed_at = ?"
                          " WHERE id = ?"), (at, distribution))
    cursor.execute(db.sql(
        "INSERT INTO distribution (distributor_id, period_index, period_start, period_end,"
        " units, status) VALUES (?, ?, ?, ?, ?, 'open')"), (owner, index + 1, end, end, units))
    db.commit(cursor)


# -- what both sides wrote ---------------------------------------------------------------

def written(db: Driver, distribution: int) -> dict[str, list[list[Any]]]:
    """The rows a period wrote, comparable between two periods of the same window."""
    cursor = db.connection.cursor()
    queries = {
        "allocations": "SELECT collaborator_id, score, amount FROM allocation"
                       " WHERE distribution_id = ? ORDER BY collaborator_id",
        "obligations": "SELECT o.collaborator_id, o.amount, o.units, o.status, o.award_type"
                       " FROM obligation o JOIN allocation a ON o.source = 'allocation'"
                       " AND o.source_id = a.id WHERE a.distribution_id = ?"
                       " ORDER BY o.collaborator_id",
        "audit": "SELECT o.collaborator_id, u.from_status, u.to_status, u.reason"
                 " FROM obligation_audit u JOIN obligation o ON o.id = u.obligation_id"
                 " JOIN allocation a ON o.source = 'allocation' AND o.source_id = a.id"
                 " WHERE a.distribution_id = ? ORDER BY o.collaborator_id",
    }
    found = {}
    for name, query in queries.items():
        cursor.execute(db.sql(query), (distribution,))
        found[name] = [list(row) for row in cursor.fetchall()]
    if not db.sqlite:
        db.connection.commit()
    return found


def undo(db: Driver, distributor: int) -> None:
    """Remove what the distributor's periods wrote (the raw side's scratch periods too) and
    reopen its first period (untimed)."""
    cursor = db.begin()
    mine = ("SELECT o.id FROM obligation o JOIN allocation a ON o.source = 'allocation'"
            " AND o.source_id = a.id JOIN distribution d ON d.id = a.distribution_id"
            " WHERE d.distributor_id = ?")
    for statement in (f"DELETE FROM obligation_audit WHERE obligation_id IN ({mine})",
                      f"DELETE FROM obligation WHERE id IN ({mine})",
                      "DELETE FROM allocation WHERE distribution_id IN (SELECT id FROM"
                      " distribution WHERE distributor_id = ?)",
                      "DELETE FROM distribution WHERE distributor_id = ? AND period_index > 0"):
        cursor.execute(db.sql(statement), (distributor,))
    cursor.execute(db.sql(
        "UPDATE distribution SET status = 'open', pool = NULL, revenue = NULL, reason = NULL,"
        " config_version = NULL, calculator = NULL, completed_at = NULL WHERE"
        " distributor_id = ? AND period_index = 0"), (distributor,))
    db.commit(cursor)


def scratch_period(db: Driver, distributor: int) -> int:
    """An open copy of the distributor's first period for the raw side; its id."""
    cursor = db.begin()
    cursor.execute(db.sql(
        "INSERT INTO distribution (distributor_id, period_index, period_start, period_end,"
        " units, status) SELECT distributor_id, ?, period_start, period_end, units,"
        " 'open' FROM distribution WHERE distributor_id = ? AND period_index = 0"),
        (SCRATCH, distributor))
    cursor.execute(db.sql("SELECT id FROM distribution WHERE distributor_id = ? AND"
                          " period_index = ?"), (distributor, SCRATCH))
    found = int(cursor.fetchone()[0])
    db.commit(cursor)
    return found


# -- one round in a fresh process -------------------------------------------------------

def _maxrss_mb() -> float:
    """This process's peak resident size: ``VmHWM`` (per address space, so a fresh process
    starts from nothing; ``ru_maxrss`` keeps the parent's size across fork + exec on
    Linux), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(side: str, url: str, distributor: int, pool: int) -> dict[str, Any]:
    """One timed period in this (fresh) process."""
    if side == "raw":
        db = Driver(url)
        imported = _maxrss_mb()
        scratch = scratch_period(db, distributor)
        before = _maxrss_mb()
        began = time.perf_counter()
        raw_period(db, scratch, pool, FEBRUARY)
        seconds = time.perf_counter() - began
        after = _maxrss_mb()
        rows = written(db, scratch)
        undo(db, distributor)
        db.connection.close()
    else:
        from siren_core import Kernel

        imported = _maxrss_mb()
        with Kernel(url, clock=lambda: FEBRUARY) as kernel:
            before = _maxrss_mb()
            began = time.perf_counter()
            report = kernel.heartbeat(FEBRUARY)
            seconds = time.perf_counter() - began
            after = _maxrss_mb()
            assert len(report.completed) == 1, report
        rows = {}
    return {"seconds": seconds, "imported_mb": imported, "opened_mb": before,
            "peak_mb": after - before, "maxrss_mb": after, "rows": rows}


def fresh_round(side: str, url: str, distributor: int, pool: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.period", "--child", side,
                          "--database", url, "--distributor", str(distributor),
                          "--pool", str(pool)], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"the {side} round failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def engine_rows(url: str, distributor: int) -> dict[str, list[list[Any]]]:
    db = Driver(url)
    cursor = db.connection.cursor()
    cursor.execute(db.sql("SELECT id FROM distribution WHERE distributor_id = ? AND"
                          " period_index = 0"), (distributor,))
    found = written(db, int(cursor.fetchone()[0]))
    db.connection.close()
    return found


def _check(raw: dict[str, Any], engine: dict[str, Any]) -> None:
    if raw != engine:
        raise AssertionError(f"the raw period wrote other rows than the engine: "
                             f"{ {k: len(v) for k, v in raw.items()} } vs "
                             f"{ {k: len(v) for k, v in engine.items()} }")


def settle(db: Driver) -> None:
    """Untimed, before each timed side: SQLite's WAL checkpointed and restarted, so a
    side's commit never pays the checkpoint of the other side's and the undo's writes.

    SQLite checkpoints in the commit that takes the WAL past 1,000 pages. A period of
    10,000 credits writes about 100, so which side's commit crossed it was the phase of
    the rounds, not the work: it was the engine's third round in every run (and the
    report's median of three is that round or the first). Larger periods cross it in
    their own commit, on either side alike."""
    if db.sqlite:
        db.connection.execute("PRAGMA wal_checkpoint(RESTART)")


def alternate(url: str, distributor: int, pool: int, rounds: int
              ) -> tuple[list[float], list[float]]:
    """Seconds of ``rounds`` raw and engine periods, alternating in this process (the
    kernel stays open, as in a server), each checked row for row against the other.

    One more round of each side runs first, checked but not timed: the steady state is
    measured, not the first heartbeat of a process (which compiles its statements and
    loads the catalog once, about 8 ms at any size) nor the raw side's first statements."""
    from siren_core import Kernel

    db = Driver(url)
    raws, engines = [], []
    with Kernel(url, clock=lambda: FEBRUARY) as kernel:
        for number in range(rounds + 1):
            scratch = scratch_period(db, distributor)
            settle(db)
            began = time.perf_counter()
            raw_period(db, scratch, pool, FEBRUARY)
            raw_seconds = time.perf_counter() - began
            rows = written(db, scratch)
            undo(db, distributor)
            settle(db)
            began = time.perf_counter()
            report = kernel.heartbeat(FEBRUARY)
            engine_seconds = time.perf_counter() - began
            assert len(report.completed) == 1, report
            _check(rows, engine_rows(url, distributor))
            undo(db, distributor)
            if number:  # the first round warms both sides up
                raws.append(raw_seconds)
                engines.append(engine_seconds)
    db.connection.close()
    return raws, engines


def memory(url: str, distributor: int, pool: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One raw and one engine period, each in a fresh process: their peak memory."""
    raw = fresh_round("raw", url, distributor, pool)
    engine = fresh_round("engine", url, distributor, pool)
    _check(raw.pop("rows"), engine_rows(url, distributor))
    db = Driver(url)
    undo(db, distributor)
    db.connection.close()
    engine.pop("rows")
    return raw, engine


def prepare(url: str, rows: int, collaborators: int) -> tuple[int, int]:
    """An emptied store with the period's credits: (distributor store id, pool)."""
    from benchmarks.distribute import POOL, populate
    from siren_core import Kernel, store

    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    with Kernel(url, clock=lambda: FEBRUARY) as kernel:
        key = populate(kernel, rows, collaborators)
    return key, int(POOL.replace(".", ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.period",
                                     description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--collaborators", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None, help="EMPTIED first; default: SQLite file")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the fresh-process rounds: each process's peak, split")
    parser.add_argument("--child", choices=["raw", "engine"], help=argparse.SUPPRESS)
    parser.add_argument("--distributor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pool", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.database, args.distributor, args.pool)))
        return
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/period.db"
        key, pool = prepare(url, args.rows, args.collaborators)
        if args.memory_only:
            for _ in range(args.rounds):
                print_split(*memory(url, key, pool))
            return
        raws, engines = alternate(url, key, pool, args.rounds)
        raw_memory, engine_memory = memory(url, key, pool)
    for name, times, peak in (("raw", raws, raw_memory), ("engine", engines, engine_memory)):
        print(f"{name:6} best {min(times):.3f} s  median {statistics.median(times):.3f} s  "
              f"fresh process: peak {peak['maxrss_mb']:.0f} MB, +{peak['peak_mb']:.1f} MB "
              f"during the period")
    print(f"ratio engine/raw: best {min(engines) / min(raws):.2f}, "
          f"median {statistics.median(engines) / statistics.median(raws):.2f}")


def print_split(raw: dict[str, Any], engine: dict[str, Any]) -> None:
    """Where each fresh process's peak came from: imports, store open, the period."""
    for name, peak in (("raw", raw), ("engine", engine)):
        print(f"{name:6} imports {peak['imported_mb']:.1f} MB, store open "
              f"+{peak['opened_mb'] - peak['imported_mb']:.1f} MB, period "
              f"+{peak['peak_mb']:.1f} MB: peak {peak['maxrss_mb']:.1f} MB")
    print(f"ratio engine/raw: whole process {engine['maxrss_mb'] / raw['maxrss_mb']:.2f}, "
          f"period {engine['peak_mb'] / max(raw['peak_mb'], 0.1):.2f}")

if __name__ == "__main__":
    main()
