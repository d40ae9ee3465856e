"""Benchmark: one distribution period, the engine against a raw-SQL baseline.

    python -m benchmarks.distribute --rows 1000000 --collaborators 100000 [--database URL]
        [--calculator proportional]

Builds one monthly distributor (fixed pool, the ``--calculator``, by default
``proportional``) whose January holds
``--rows`` score credits spread over ``--collaborators`` active collaborators (written with
raw ``executemany``/``COPY`` for setup speed), then times

* the **baseline**: the same work by hand through the DBAPI -- the ``GROUP BY``
  aggregate of the period's scores, an integer proportional split, a bulk insert of the
  allocations (``COPY`` on PostgreSQL, ``executemany`` on SQLite, as the engine does), an
  ``INSERT … SELECT`` of their obligations (and of their audit entries, as the engine
  writes them), closing the period, one commit;
* the **engine**: ``kernel.heartbeat(now)`` distributing that period (claim, scores, pool,
  calculator, allocations, obligations, next period, events after commit);

alternately ``--rounds`` times each (the engine's run is undone, untimed, between
rounds), and prints the best time of each, their ratio and the engine's peak memory above
its start (peak resident set size, from ``/proc/self/status`` ``VmHWM`` after resetting it;
falls back to ``ru_maxrss``). Then the idle heartbeat: ``--idle`` distributors (default 1,000), none
due, the engine's ``heartbeat`` against one raw indexed ``SELECT … WHERE period_end <= now``
(median of ``--repeat`` runs).

The database is EMPTIED first (all siren tables dropped and created). Default database: a
temporary SQLite file (WAL). Numbers go to ``docs/performance.md``; nothing asserts times.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.raw import Raw
from siren_core import Kernel, store
from siren_core.store.tables import metadata

JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 1, tzinfo=UTC)
POOL = "10000000.00"  # $10M: every collaborator gets something
AUDIT = "obligation_audit" in metadata.tables


# -- memory ----------------------------------------------------------------------------

def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_peak(work: Callable[[], Any]) -> tuple[float, float]:
    """(seconds, peak MB above the resident size at start) of ``work()``."""
    start_kb = _status_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    exact = _reset_peak()
    began = time.perf_counter()
    work()
    elapsed = time.perf_counter() - began
    peak_kb = (_status_kb("VmHWM") if exact else None) or resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss
    return elapsed, max(peak_kb - start_kb, 0) / 1024


# -- setup -----------------------------------------------------------------------------

def _chunks(total: int, make: Callable[[int], tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for i in range(total):
        yield make(i)


def populate(kernel: Kernel, rows: int, collaborators: int, seed: int = 7,
             calculator: str = "proportional") -> int:
    """One distributor with ``rows`` January credits over ``collaborators``; its store id."""
    kernel.create_distributor({
        "id": "bench", "name": "Benchmark", "units": "USD", "schedule": "monthly",
        "start": JANUARY.date().isoformat(), "pool": {"resolver": "fixed", "amount": POOL},
        "calculator": {"id": calculator},
        "metrics": [{"type": "sale", "points": 1, "credit": {"rule": "fixed"}}]})
    raw = Raw(kernel)
    random.seed(seed)
    cursor = raw.begin()
    now = raw.time(JANUARY)
    raw.bulk(cursor, "collaborator", ["external_id", "name", "status", "created_at",
                                      "updated_at"],
             _chunks(collaborators, lambda i: (f"c{i:07}", f"c{i:07}", "active", now, now)))
    cursor.execute(raw.sql("SELECT id FROM distributor WHERE external_id = ?"), ("bench",))
    distributor_key = cursor.fetchone()[0]
    cursor.execute(raw.sql(
        "INSERT INTO source_event (kind, key, occurred_at, recorded_at, digest, payload) "
        "VALUES (?, ?, ?, ?, ?, ?)"), ("bench", "bulk", now, now, "-", "{}"))
    cursor.execute(raw.sql("SELECT id FROM source_event WHERE key = ?"), ("bulk",))
    source = cursor.fetchone()[0]
    cursor.execute("SELECT min(id) FROM collaborator")
    first = cursor.fetchone()[0]
    seconds = int((FEBRUARY - JANUARY).total_seconds())
    raw.bulk(cursor, "score_credit",
             ["distributor_id", "source_event_id", "collaborator_id", "metric_type", "rule",
              "layer", "points", "revenue", "effective_at", "late"],
             _chunks(rows, lambda i: (
                 distributor_key, source, first + i % collaborators, "sale", "fixed", 0,
                 random.randint(1, 100), 0,
                 raw.time(JANUARY + timedelta(seconds=random.randrange(seconds))), False)))
    raw.connection.commit()
    cursor.close()
    raw.connection.cursor().execute("ANALYZE")
    raw.connection.commit()
    raw.close()
    return int(distributor_key)


# -- the baseline ------------------------------------------------------------------------

def baseline(kernel: Kernel, distributor_key: int) -> float:
    """The period distributed by hand into a scratch distribution; seconds (then undone)."""
    raw = Raw(kernel)
    cursor = raw.begin()
    cursor.execute(raw.sql(
        "INSERT INTO distribution (distributor_id, period_index, period_start, period_end, "
        "units, status) VALUES (?, ?, ?, ?, ?, ?)"),
        (distributor_key, 9999, raw.time(JANUARY), raw.time(FEBRUARY), "USD", "open"))
    cursor.execute(raw.sql("SELECT id FROM distribution WHERE period_index = ?"), (9999,))
    scratch = cursor.fetchone()[0]
    raw.connection.commit()

    began = time.perf_counter()
    cursor = raw.begin()
    cursor.execute(raw.sql(
        "SELECT id FROM distribution WHERE id = ? AND status = 'open'"
        + ("" if raw.sqlite else " FOR UPDATE")), (scratch,))
    cursor.fetchone()
    cursor.execute(raw.sql(
        "SELECT c.id, t.points FROM collaborator c JOIN ("
        " SELECT collaborator_id, sum(points) AS points FROM score_credit"
        " WHERE distributor_id = ? AND effective_at >= ? AND effective_at < ?"
        " AND collaborator_id IS NOT NULL GROUP BY collaborator_id HAVING sum(points) > 0"
        ") t ON t.collaborator_id = c.id WHERE c.status = 'active' ORDER BY c.external_id"),
        (distributor_key, raw.time(JANUARY), raw.time(FEBRUARY)))
    scores = cursor.fetchall()
    pool = int(POOL.replace(".", ""))
    total = sum(points for _key, points in scores)
    amounts = [(scratch, key, points, pool * points // total) for key, points in scores]
    raw.bulk(cursor, "allocation", ["distribution_id", "collaborator_id", "score", "amount"],
             iter(amounts))
    now = raw.time(FEBRUARY)
    cursor.execute(raw.sql(
        "INSERT INTO obligation (collaborator_id, amount, units, status, award_type, source,"
        " source_id, created_at, updated_at) SELECT collaborator_id, amount, 'USD', 'pending',"
        " 'distribution', 'allocation', id, ?, ? FROM allocation WHERE distribution_id = ?"
        " RETURNING id"), (now, now, scratch))
    issued = [row[0] for row in cursor.fetchall()]
    if AUDIT:  # the engine audits every obligation it issues; so does the baseline
        cursor.executemany(raw.sql(
            "INSERT INTO obligation_audit (obligation_id, from_status, to_status, actor, "
            "reason, at) VALUES (?, NULL, 'pending', 'baseline', 'issued', ?)"),
            [(key, now) for key in issued])
    cursor.execute(raw.sql("UPDATE distribution SET status = 'completed', pool = ?, "
                           "completed_at = ? WHERE id = ?"), (pool, now, scratch))
    raw.connection.commit()
    elapsed = time.perf_counter() - began

    cursor = raw.begin()
    if AUDIT:
        cursor.execute(raw.sql(
            "DELETE FROM obligation_audit WHERE obligation_id IN (SELECT o.id FROM obligation"
            " o JOIN allocation a ON o.source = 'allocation' AND o.source_id = a.id"
            " WHERE a.distribution_id = ?)"), (scratch,))
    cursor.execute(raw.sql(
        "DELETE FROM obligation WHERE source = 'allocation' AND source_id IN "
        "(SELECT id FROM allocation WHERE distribution_id = ?)"), (scratch,))
    cursor.execute(raw.sql("DELETE FROM allocation WHERE distribution_id = ?"), (scratch,))
    cursor.execute(raw.sql("DELETE FROM distribution WHERE id = ?"), (scratch,))
    raw.connection.commit()
    raw.close()
    return elapsed


def reopen(kernel: Kernel, distributor_key: int) -> None:
    """Undo the engine's run (untimed) so that it can be timed again on the same data."""
    raw = Raw(kernel)
    cursor = raw.begin()
    cursor.execute(raw.sql("SELECT id FROM distribution WHERE distributor_id = ? "
                           "AND period_index = 0"), (distributor_key,))
    first = cursor.fetchone()[0]
    mine = ("SELECT o.id FROM obligation o JOIN allocation a ON o.source = 'allocation' "
            "AND o.source_id = a.id WHERE a.distribution_id = ?")
    if AUDIT:
        cursor.execute(raw.sql(f"DELETE FROM obligation_audit WHERE obligation_id IN ({mine})"),
                       (first,))
    cursor.execute(raw.sql(f"DELETE FROM obligation WHERE id IN ({mine})"), (first,))
    cursor.execute(raw.sql("DELETE FROM allocation WHERE distribution_id = ?"), (first,))
    cursor.execute(raw.sql("DELETE FROM distribution WHERE distributor_id = ? "
                           "AND period_index > 0"), (distributor_key,))
    cursor.execute(raw.sql(
        "UPDATE distribution SET status = 'open', pool = NULL, revenue = NULL, reason = NULL,"
        " config_version = NULL, calculator = NULL, completed_at = NULL WHERE id = ?"),
        (first,))
    raw.connection.commit()
    raw.close()


# -- idle heartbeat --------------------------------------------------------------------

def _seconds(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def _idle_beat(kernel: Kernel, now: datetime) -> None:
    assert kernel.heartbeat(now).completed == ()


def idle(kernel: Kernel, count: int, repeat: int) -> tuple[float, float, float]:
    """Median seconds of an idle heartbeat over ``count`` distributors: (the kernel's
    heartbeat, the distribution due check alone, the raw baseline: the heartbeat's two
    reads, due periods and hold periods, each a statement alone)."""
    for i in range(count):
        kernel.create_distributor({
            "id": f"idle-{i:05}", "name": "idle", "units": "USD", "schedule": "monthly",
            "start": FEBRUARY.date().isoformat(), "pool": {"resolver": "fixed", "amount": "1"},
            "calculator": {"id": "proportional"}})
    now = FEBRUARY + timedelta(days=14)
    raw = Raw(kernel)
    if not raw.sqlite:  # each read a statement alone, as the engine's (no BEGIN, COMMIT)
        raw.connection.driver_connection.autocommit = True
    due_check = raw.sql(
        "SELECT d.id, d.distributor_id FROM distribution d JOIN distributor r "
        "ON r.id = d.distributor_id WHERE d.status = 'open' AND d.period_end <= ? "
        "AND r.status = 'active' ORDER BY d.period_end, d.id")
    holds = "SELECT id, hold_days FROM distributor WHERE hold_days IS NOT NULL"

    def raw_reads() -> None:
        cursor = raw.connection.cursor()
        cursor.execute(due_check, (raw.time(now),))
        assert cursor.fetchall() == []
        cursor.execute(holds)
        assert cursor.fetchall() == []

    engine_times, runner_times, base_times = [], [], []
    for _ in range(repeat):  # alternating, so the three share the host's moments
        engine_times.append(_seconds(lambda: _idle_beat(kernel, now)))
        # the distribution part alone (the due check)
        runner_times.append(_seconds(lambda: kernel._runner.heartbeat(now)))
        base_times.append(_seconds(raw_reads))
    if not raw.sqlite:
        raw.connection.driver_connection.autocommit = False  # back to the pool as it was
    raw.close()
    return (statistics.median(engine_times), statistics.median(runner_times),
            statistics.median(base_times))


# -- main ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distribute",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--collaborators", type=int, default=100_000)
    parser.add_argument("--database", default=None,
                        help="database URL (EMPTIED first); default: a temporary SQLite file")
    parser.add_argument("--idle", type=int, default=1000, help="idle distributors (0: skip)")
    parser.add_argument("--repeat", type=int, default=30, help="idle heartbeats timed")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating baseline/engine runs of the period (best kept)")
    # The calculator reads only what it uses of its context (docs/distribution.md): with
    # proportional the engine runs the statements it ran before the lazy views existed;
    # `--calculator recent` adds the read of the period's credits.
    parser.add_argument("--calculator", default="proportional",
                        help="the distributor's calculator id (default proportional)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{os.path.join(folder, 'bench.db')}"
        run(url, args.rows, args.collaborators, args.idle, args.repeat, args.rounds,
            args.calculator)


def run(url: str, rows: int, collaborators: int, idle_count: int, repeat: int,
        rounds: int = 3, calculator: str = "proportional") -> None:
    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    kernel = Kernel(url, clock=lambda: FEBRUARY)
    backend = kernel.engine.dialect.name
    began = time.perf_counter()
    key = populate(kernel, rows, collaborators, calculator=calculator)
    print(f"{backend}: {rows:,} credits, {collaborators:,} collaborators, {calculator} "
          f"(setup {time.perf_counter() - began:.1f} s)")
    bases, runs, peaks = [], [], []
    for attempt in range(rounds):
        bases.append(baseline(kernel, key))
        if attempt:
            reopen(kernel, key)
        seconds, peak = measure_peak(lambda: kernel.heartbeat(FEBRUARY))
        runs.append(seconds)
        peaks.append(peak)
    base, seconds, peak = min(bases), min(runs), max(peaks)
    [done] = kernel.distributions(status="completed")
    counts = kernel.table_counts()
    assert counts["allocation"] == counts["obligation"] == min(rows, collaborators)
    print(f"  best of {rounds} alternating runs each:")
    print(f"  baseline (raw SQL)  {base:8.3f} s")
    print(f"  engine (heartbeat)  {seconds:8.3f} s   ratio {seconds / base:.2f}x   "
          f"peak memory +{peak:.0f} MB   pool {done.pool}")
    if idle_count:
        engine_idle, runner_idle, base_idle = idle(kernel, idle_count, repeat)
        print(f"  idle heartbeat, {idle_count:,} distributors none due (median of {repeat}):")
        print(f"    kernel.heartbeat {engine_idle * 1000:.2f} ms, of which the distribution "
              f"due check {runner_idle * 1000:.2f} ms; raw, the same two reads "
              f"{base_idle * 1000:.3f} ms")
    kernel.close()


if __name__ == "__main__":
    main()
