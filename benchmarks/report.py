"""``python -m benchmarks --report [--quick] [--postgres URL]``: the issue's targets,
measured on SQLite (a temporary file) and on PostgreSQL (``--postgres``, EMPTIED), written
into ``docs/performance.md`` between its figure markers.

Every row is a ratio within one alternating run (engine, raw, engine, raw…) of work that
was checked row for row, or an absolute figure where the target is absolute.
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from benchmarks import catchup, distribute, ingest, ingest_floor, many, period, record, workers

PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


FAILED = "failed: "
"""How a measure that raised begins its figure."""


@dataclass(frozen=True)
class Row:
    measure: str
    store: str
    figure: str
    """what was measured, in words and numbers"""
    ratio: float | None
    target: str
    passed: bool | None
    """``None``: not measured"""

    @property
    def failed(self) -> bool:
        """The measure raised instead of measuring (the page says so)."""
        return self.figure.startswith(FAILED)


@dataclass(frozen=True)
class Sizes:
    periods: tuple[tuple[int, int, str], ...]
    """(credits, collaborators, target) of the single-period rows"""
    events: int
    """bulk ingestion"""
    records: int
    """single recordings"""
    idle: int
    small_periods: int
    catch_up: tuple[int, int]
    """(credits a month, collaborators)"""
    rounds: int = 3


QUICK = Sizes(periods=((10_000, 1_000, "≤ 1.5×"), (100_000, 10_000, "≤ 1.25×")),
              events=20_000, records=300, idle=1_000, small_periods=200,
              catch_up=(10_000, 1_000))
FULL = Sizes(periods=((10_000, 1_000, "≤ 1.5×"), (100_000, 10_000, "≤ 1.25×"),
                      (1_000_000, 100_000, "≤ 1.25×")), events=200_000, records=2_000,
             idle=10_000, small_periods=1_000, catch_up=(100_000, 10_000))


def _times(values: list[float]) -> str:
    return f"best {min(values):.3f} s, median {statistics.median(values):.3f} s"


def _within(ratio: float, limit: float) -> bool:
    return ratio <= limit


# -- the measures ------------------------------------------------------------------------

def periods(url: str, store: str, sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    for credits, collaborators, target in sizes.periods:
        key, pool = period.prepare(url, credits, collaborators)
        raws, engines = period.alternate(url, key, pool, sizes.rounds)
        ratio = statistics.median(engines) / statistics.median(raws)
        rows.append(Row(f"one period, {credits:,} credits ({collaborators:,} collaborators)",
                        store, f"engine {_times(engines)}; raw {_times(raws)}", ratio,
                        target, _within(ratio, float(target.strip("≤ ×")))))
    raw, engine = period.memory(url, key, pool)
    total = engine["maxrss_mb"] / raw["maxrss_mb"]
    growth = engine["peak_mb"] / max(raw["peak_mb"], 0.1)
    where = f"fresh process, {credits:,} credits: engine {{}} MB, raw {{}} MB"
    whole = f"fresh process, {credits:,} credits: engine {{}}, raw {{}}"
    rows.append(Row("peak memory of that period: the whole process", store,
                    whole.format(*(f"{side['maxrss_mb']:.0f} MB ({side['opened_mb']:.0f} MB"
                                   " before the period)" for side in (engine, raw))),
                    total, "≤ 1.5×", total <= 1.5))
    rows.append(Row("peak memory of that period: its growth during the period", store,
                    where.format(f"+{engine['peak_mb']:.1f}", f"+{raw['peak_mb']:.1f}"),
                    growth, "≤ 1.5×", growth <= 1.5))
    return rows


def bulk(url: str, store: str, sizes: Sizes) -> list[Row]:
    collaborators, batch = 5_000, 10_000
    sides: dict[str, Callable[..., float]] = {
        "engine": ingest.run_engine, "raw": partial(ingest.run_baseline, fastest=True),
        "floor": ingest_floor.run_floor}
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    reference = None
    for _ in range(sizes.rounds):
        for side, run in sides.items():
            kernel = ingest.fresh(url, collaborators)
            seconds[side].append(run(kernel, sizes.events, collaborators, batch))
            kernel.close()
            stored = ingest.stored_sales(url)
            if reference is None:
                reference = stored
            elif stored != reference:
                raise AssertionError(f"the {side} ingestion stored other rows")
    engine, raw, floor = (statistics.median(seconds[side])
                          for side in ("engine", "raw", "floor"))
    ratio = raw / engine  # throughput ratio
    fastest = "multi-row INSERT" if store == "SQLite" else "COPY"
    return [Row(f"bulk ingestion, {sizes.events:,} sales (batches of {batch:,})", store,
                f"engine {_times(seconds['engine'])}; raw ({fastest}) "
                f"{_times(seconds['raw'])}; the plugin floor {_times(seconds['floor'])}, "
                f"at most {raw / floor:.2f}× reachable ([why](#the-floor-of-bulk-ingestion))",
                ratio, "≥ 0.75× the raw throughput", ratio >= 0.75)]


def idle(url: str, store: str, sizes: Sizes) -> list[Row]:
    period.prepare(url, 1_000, 100)
    from siren_core import Kernel

    with Kernel(url, clock=lambda: period.FEBRUARY) as kernel:
        kernel.heartbeat(period.FEBRUARY)
        whole, due, raw = distribute.idle(kernel, sizes.idle, 30)
    return [Row(f"idle heartbeat, {sizes.idle:,} distributors none due", store,
                f"kernel.heartbeat median {whole * 1000:.2f} ms (due check {due * 1000:.2f} "
                f"ms; raw, its two reads {raw * 1000:.3f} ms)", None, "< 2 ms",
                whole < 0.002)]


def command_line() -> list[Row]:
    siren = Path(sys.executable).with_name("siren")
    rows = []
    for argument in ("--version", "--help"):
        times = []
        for _ in range(7):
            began = time.perf_counter()
            subprocess.run([str(siren), argument], check=True, capture_output=True)
            times.append(time.perf_counter() - began)
        rows.append(Row(f"`siren {argument}`", "—", f"{_times(times)} (7 runs)", None,
                        "≤ 0.4 s", statistics.median(times) <= 0.4))
    return rows


def single_records(url: str, store: str, sizes: Sizes) -> list[Row]:
    engines, raws = record.alternate(url, sizes.records, sizes.rounds)
    ratio = statistics.median(raws) / statistics.median(engines)
    each = {name: statistics.median(runs) / sizes.records * 1000
            for name, runs in (("engine", engines), ("raw", raws))}
    return [Row("single `kernel.record`, one event per transaction", store,
                f"{sizes.records:,} events: engine {each['engine']:.2f} ms an event, raw "
                f"{each['raw']:.2f} ms (medians of {sizes.rounds})", ratio,
                "≥ 0.5× the raw throughput", ratio >= 0.5)]


def small_periods(url: str, store: str, sizes: Sizes) -> list[Row]:
    engines, raws = many.alternate(url, sizes.small_periods, sizes.rounds)
    ratio = statistics.median(engines) / statistics.median(raws)
    each = {name: statistics.median(runs) / sizes.small_periods * 1000
            for name, runs in (("engine", engines), ("raw", raws))}
    return [Row(f"{sizes.small_periods:,} small periods due at once", store,
                f"engine {each['engine']:.2f} ms a period, raw {each['raw']:.2f} ms "
                f"(medians of {sizes.rounds})", ratio, "≤ 1.5× raw per period", ratio <= 1.5)]


def catch_up(url: str, store: str, sizes: Sizes) -> list[Row]:
    credits, collaborators = sizes.catch_up
    keys = catchup.populate(url, credits, collaborators)
    measured = catchup.alternate(url, keys, sizes.rounds)
    return [Row(f"catch-up of 12 periods of {credits:,} credits each, like-for-like", store,
                f"catch-up {_times(measured.catchups)}; the same twelve periods one "
                f"heartbeat each {_times(measured.monthly)} (12 × the January period on "
                f"tables holding no other: {measured.against_january:.2f}×)",
                measured.ratio, "≤ 1.1× twelve single periods", measured.ratio <= 1.1)]


def two_workers(url: str, store: str, sizes: Sizes) -> list[Row]:
    """PostgreSQL only: 1 and 2 worker processes over the same due periods, alternating."""
    count = sizes.small_periods
    workers.populate(url, count)
    rates: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(sizes.rounds):
        for processes in (1, 2):
            workers.reopen(url)
            seconds, split = workers.run(url, processes)
            assert sum(split) == count, split
            rates[processes].append(count / seconds)
    ratio = statistics.median(rates[2]) / statistics.median(rates[1])
    workers.plot(str(PAGE.parent / "workers.png"),
                 {n: statistics.median(r) for n, r in rates.items()})
    return [Row(f"2 workers, {count:,} due periods", store,
                f"1 worker {statistics.median(rates[1]):.0f} periods/s, 2 workers "
                f"{statistics.median(rates[2]):.0f}/s (medians of {sizes.rounds}; "
                "docs/workers.png)", ratio, "≥ 1.6× one worker", ratio >= 1.6)]


# -- the page ----------------------------------------------------------------------------

def machine() -> str:
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores (shared), "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def table(rows: list[Row]) -> str:
    lines = ["| measure | store | measured | ratio | target | |", "|---|---|---|---|---|---|"]
    for row in rows:
        mark = "not measured" if row.passed is None else "pass" if row.passed else "**miss**"
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        lines.append(f"| {row.measure} | {row.store} | {row.figure} | {ratio} | "
                     f"{row.target} | {mark} |")
    return "\n".join(lines)


def write_page(rows: list[Row], command: str, page: Path = PAGE) -> None:
    text = page.read_text()
    before, rest = text.split(BEGIN, 1)
    _old, after = rest.split(END, 1)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"\n_Generated by `{command}` on {stamp}; {machine()}._\n\n{table(rows)}\n")
    page.write_text(before + BEGIN + body + END + after)


def stores(postgres: str | None, folder: str) -> list[tuple[str, str]]:
    found = [("SQLite", f"sqlite:///{folder}/report.db")]
    if postgres:
        found.append(("PostgreSQL", postgres))
    return found


def report(quick: bool, postgres: str | None, command: str) -> list[Row]:
    sizes = QUICK if quick else FULL
    measures: list[Callable[[str, str, Sizes], list[Row]]] = [
        periods, small_periods, single_records, bulk, idle, catch_up]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        for store, url in stores(postgres, folder):
            for measure in measures + ([two_workers] if store == "PostgreSQL" else []):
                print(f"== {store}: {measure.__name__}", flush=True)
                try:
                    found = measure(url, store, sizes)
                except Exception as exc:  # the others still run; the page says so
                    found = [Row(measure.__name__, store, f"{FAILED}{type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:200]}", None, "—", False)]
                for row in found:
                    print(f"   {row.measure}: {row.figure}", flush=True)
                rows.extend(found)
    rows.extend(command_line())
    write_page(rows, command)
    return rows
