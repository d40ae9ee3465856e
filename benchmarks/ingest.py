"""Benchmark: bulk ingestion of sales, the engine against a raw-SQL baseline.

    python -m benchmarks.ingest --events 1000000 [--collaborators 10000] [--database URL]

Builds one monthly distributor (10 points per sale, a revenue-percentage pool, so every
sale writes one ``source_event`` row and one ``score_credit`` row carrying points and
revenue) and ``--collaborators`` active collaborators, then records ``--events`` sales of
January

* through the **engine**: ``kernel.record_many(events)`` (batches of ``--batch-size``, one
  transaction each: validation, trigger strategy, idempotency look-up, collaborator
  look-up, credit rule, compilers, the bulk insert of both tables);
* through the **baseline**: the same rows by hand through the DBAPI -- for each event the
  canonical JSON payload and its SHA-256 digest, then per batch one transaction with
  ``executemany`` of the ``source_event`` rows (ids chosen by the script) and of the
  ``score_credit`` rows. No validation, no look-ups;
* through the **fastest** raw path, the same rows as the baseline but written with
  ``COPY`` on PostgreSQL and multi-row ``INSERT … VALUES (…), (…)`` on SQLite (what the
  engine's bulk writes use);
* with ``--floor``, through the **floor** (:mod:`benchmarks.ingest_floor`): the fastest
  raw path plus the plugin calls, checks and look-ups any implementation of
  ``record_many`` must make, straight-line for this one configuration. A lower bound
  for the engine, not a competitor: floor/fastest is the most any kernel could reach.

All read the same generated event dictionaries, on a freshly emptied schema, and print
events/s and the ratios engine/baseline and engine/fastest. The database is EMPTIED
first (all siren tables dropped and created). Default database: a temporary SQLite file
(WAL, ``synchronous=NORMAL``, as the engine configures it). Nothing asserts times; figures go
to ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.ingest_floor import run_floor
from benchmarks.period import Driver
from benchmarks.raw import Raw
from siren_core import Kernel, store
from siren_core.store.tables import metadata

JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
DISTRIBUTOR = {
    "id": "bench", "name": "Benchmark", "units": "USD", "schedule": "monthly",
    "start": "2026-01-01", "pool": {"resolver": "revenue_percentage", "percent": "10"},
    "calculator": {"id": "proportional"},
    "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}],
}


def events(count: int, collaborators: int) -> Iterator[dict[str, Any]]:
    """``count`` sales spread over January and over the collaborators."""
    step = 31 * 24 * 3600 / max(count, 1)
    for number in range(count):
        when = JANUARY + timedelta(seconds=int(number * step))
        yield {"type": "sale", "id": f"o-{number}",
               "at": when.isoformat().replace("+00:00", "Z"),
               "collaborator": f"c-{number % collaborators}",
               "amount": f"{10 + number % 90}.{number % 100:02d}", "currency": "USD"}


def fresh(url: str, collaborators: int) -> Kernel:
    """An emptied schema with the collaborators (raw insert) and the distributor."""
    engine = store.open_engine(url)
    store.drop_schema(engine)
    engine.dispose()
    kernel = Kernel(url)
    now = datetime.now(UTC)
    table = metadata.tables["collaborator"]
    with kernel.engine.begin() as conn:
        conn.execute(table.insert(), [
            {"external_id": f"c-{n}", "name": f"c-{n}", "status": "active",
             "created_at": now, "updated_at": now} for n in range(collaborators)])
    kernel.create_distributor(DISTRIBUTOR)
    return kernel


def run_engine(kernel: Kernel, count: int, collaborators: int, batch_size: int) -> float:
    started = time.perf_counter()
    report = kernel.record_many(events(count, collaborators), batch_size=batch_size)
    elapsed = time.perf_counter() - started
    assert report.inserted == count and not report.rejected, report.rejected[:3]
    return elapsed


SOURCE_COLUMNS = ["id", "kind", "key", "occurred_at", "recorded_at", "collaborator_id",
                  "amount", "currency", "digest", "payload"]
CREDIT_COLUMNS = ["distributor_id", "source_event_id", "collaborator_id", "metric_type",
                  "rule", "layer", "points", "revenue", "effective_at", "late"]
SOURCE_TYPES = ["int4", "text", "text", "timestamp", "timestamp", "int4", "int8", "text",
                "text", "text"]
CREDIT_TYPES = ["int4", "int4", "int4", "text", "text", "int4", "int8", "int8", "timestamp",
                "bool"]
"""The columns' PostgreSQL types, for the raw side's binary ``COPY``."""

Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
"""A batch's ``source_event`` and ``score_credit`` rows."""
STREAMED_CHUNK = 500
"""Events whose rows :func:`write_fastest` builds at a time while ``COPY`` sends."""


def write_fastest(raw: Raw, cursor: Any, build: Callable[[list[dict[str, Any]], int], Rows],
                  batch: list[dict[str, Any]], first_id: int) -> None:
    """The batch's rows (``build(events, their first id)``) by the fastest raw path.

    On PostgreSQL the ``source_event`` rows stream into their ``COPY`` as they are
    built, :data:`STREAMED_CHUNK` events at a time, so the server stores each chunk while
    the next is built (200,000 sales, 5,000 collaborators: 6.0–6.5 s against 6.6–7.0 s
    with every row built first, the client's time the same); the ``score_credit`` rows
    follow in theirs. SQLite runs in this process: nothing to overlap there."""
    credits: list[tuple[Any, ...]] = []

    def sources() -> Iterator[tuple[Any, ...]]:
        for start in range(0, len(batch), STREAMED_CHUNK):
            made, credited = build(batch[start:start + STREAMED_CHUNK], first_id + start)
            credits.extend(credited)
            yield from made

    raw.fastest(cursor, "source_event", SOURCE_COLUMNS, sources(), SOURCE_TYPES)
    raw.fastest(cursor, "score_credit", CREDIT_COLUMNS, credits, CREDIT_TYPES)


def canonical_rows(store_time: Callable[[datetime], Any], batch: list[dict[str, Any]],
                   first_id: int, keys: dict[str, int], distributor: int, now: Any
                   ) -> Rows:
    """The ``source_event`` and ``score_credit`` rows the engine stores for ``batch``
    (``store_time``: a time in the store's format)."""
    sources, credits = [], []
    quote, sha256, parse = encode_basestring_ascii, hashlib.sha256, datetime.fromisoformat
    for offset, event in enumerate(batch):
        when = parse(event["at"])
        # The engine's canonical text, written at once for these events' one shape (what
        # the JSON encoder gives for them, keys sorted; 22k instructions an event fewer
        # than the encoder on a dict): the time as ``str(datetime)``, the amount as
        # written, the empty lines.
        payload = (f'{{"amount":{quote(event["amount"])},"at":{quote(str(when))},'
                   f'"collaborator":{quote(event["collaborator"])},'
                   f'"currency":{quote(event["currency"])},"id":{quote(event["id"])},'
                   f'"lines":[]}}')
        digest = sha256(payload.encode()).hexdigest()
        at = store_time(when)
        amount = int(event["amount"].replace(".", ""))
        collaborator = keys[event["collaborator"]]
        source_id = first_id + offset
        sources.append((source_id, "sale", event["id"], at, now, collaborator, amount, "USD",
                        digest, payload))
        credits.append((distributor, source_id, collaborator, "sale", "fixed", 0, 10, amount,
                        at, False))
    return sources, credits


def stored_sales(url: str) -> list[tuple[Any, ...]]:
    """Every recorded sale and its credit (not their ids or recording times): what two
    ingestions of the same events must agree on."""
    db = Driver(url)
    cursor = db.connection.cursor()
    cursor.execute(
        "SELECT e.kind, e.key, e.occurred_at, e.collaborator_id, e.amount, e.currency,"
        " e.digest, e.payload, c.distributor_id, c.collaborator_id, c.metric_type, c.rule,"
        " c.layer, c.points, c.revenue, c.effective_at, c.late FROM source_event e"
        " JOIN score_credit c ON c.source_event_id = e.id ORDER BY e.key")
    found = [tuple(row) for row in cursor.fetchall()]
    db.connection.close()
    return found


def run_baseline(kernel: Kernel, count: int, collaborators: int, batch_size: int, *,
                 fastest: bool = False) -> float:
    """The same rows by hand, in the same batches: one-row ``executemany``, or (``fastest``)
    ``COPY`` on PostgreSQL and multi-row ``INSERT`` on SQLite."""
    raw = Raw(kernel)
    with kernel.engine.connect() as conn:
        query = sa.text("SELECT external_id, id FROM collaborator")
        keys: dict[str, int] = {row[0]: row[1] for row in conn.execute(query)}
        distributor = conn.execute(sa.text("SELECT id FROM distributor")).scalar_one()
    now = raw.time(datetime.now(UTC))

    def build(batch: list[dict[str, Any]], first_id: int) -> Rows:
        return canonical_rows(raw.time, batch, first_id, keys, distributor, now)

    stream = events(count, collaborators)
    started = time.perf_counter()
    next_id = 1
    while batch := list(islice(stream, batch_size)):
        cursor = raw.begin()
        if fastest:
            write_fastest(raw, cursor, build, batch, next_id)
        else:
            sources, credits = build(batch, next_id)
            raw.insert(cursor, "source_event", SOURCE_COLUMNS, sources)
            raw.insert(cursor, "score_credit", CREDIT_COLUMNS, credits)
        raw.commit(cursor)
        next_id += len(batch)
    elapsed = time.perf_counter() - started
    raw.connection.close()
    return elapsed


def _count(kernel: Kernel) -> tuple[int, int]:
    counts = kernel.table_counts()
    return counts["source_event"], counts["score_credit"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--collaborators", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="Rounds (baseline, engine, fastest[, floor] each); best times and "
                             "per-round ratios are printed")
    parser.add_argument("--database", default=None,
                        help="Database URL to EMPTY and use (default: a temporary SQLite file)")
    parser.add_argument("--floor", action="store_true",
                        help="Also run the floor: the fastest raw side plus the plugin calls "
                             "and look-ups any implementation must make "
                             "(benchmarks/ingest_floor.py)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'bench.db'}"
        backend = sa.engine.make_url(url).get_backend_name()
        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}
        rounds: list[dict[str, float]] = []
        runs: list[tuple[str, Callable[[Kernel, int, int, int], float]]] = [
            ("baseline", run_baseline), ("engine", run_engine),
            ("fastest", partial(run_baseline, fastest=True))]
        if args.floor:
            runs.append(("floor", run_floor))
        for _round in range(args.repeat):
            rounds.append({})
            for name, run in runs:
                kernel = fresh(url, args.collaborators)
                cpu = time.process_time()
                seconds = run(kernel, args.events, args.collaborators, args.batch_size)
                cpu = time.process_time() - cpu
                assert _count(kernel) == (args.events, args.events), _count(kernel)
                kernel.close()
                rounds[-1][name] = seconds
                best[name] = min(seconds, best.get(name, seconds))
                best_cpu[name] = min(cpu, best_cpu.get(name, cpu))
                print(f"  {name:8} {seconds:7.2f} s wall, {cpu:7.2f} s CPU of this process",
                      flush=True)
        rates = {name: args.events / seconds for name, seconds in best.items()}
        for name, seconds in best.items():
            print(f"{backend:10} {name:8} {args.events:>9,} events in {seconds:7.2f} s: "
                  f"{rates[name]:>9,.0f} events/s (best of {args.repeat})")
        print(f"{backend:10} ratio engine/baseline: {rates['engine'] / rates['baseline']:.2f} "
              f"(CPU time of this process: "
              f"{best_cpu['baseline'] / best_cpu['engine']:.2f})")
        fastest = "COPY" if backend == "postgresql" else "multi-row INSERT"
        print(f"{backend:10} ratio engine/{fastest}: {rates['engine'] / rates['fastest']:.2f}; "
              f"executemany baseline/{fastest}: {rates['baseline'] / rates['fastest']:.2f}")
        # Rounds run their three back to back, so a round's ratios share the machine's
        # mood; the best times may come from different rounds.
        if args.floor:
            print(f"{backend:10} ratio floor/{fastest}: {rates['floor'] / rates['fastest']:.2f} "
                  f"(the most any implementation making these plugin calls could reach); "
                  f"engine/floor: {rates['engine'] / rates['floor']:.2f}")
        for other in (name for name, _ in runs if name != "engine"):
            ratios = [one[other] / one["engine"] for one in rounds]
            print(f"{backend:10} engine/{other} per round: "
                  f"{', '.join(f'{ratio:.2f}' for ratio in ratios)} "
                  f"(median {statistics.median(ratios):.2f})")


if __name__ == "__main__":
    main()
