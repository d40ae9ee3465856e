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
from pathlib import Path

from benchmarks import distribute, ingest, period

PAGE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


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


@dataclass(frozen=True)
class Sizes:
    periods: tuple[tuple[int, int, str], ...]
    """(credits, collaborators, target) of the single-period rows"""
    events: int
    idle: int
    rounds: int = 3


QUICK = Sizes(periods=((10_000, 1_000, "≤ 1.5×"), (100_000, 10_000, "≤ 1.25×")),
              events=20_000, idle=1_000)
FULL = Sizes(periods=((10_000, 1_000, "≤ 1.5×"), (100_000, 10_000, "≤ 1.25×"),
                      (1_000_000, 100_000, "≤ 1.25×")), events=200_000, idle=10_000)


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
    ratio = engine["maxrss_mb"] / raw["maxrss_mb"]
    rows.append(Row(
        f"peak memory of that period ({credits:,} credits)", store,
        f"fresh process: engine {engine['maxrss_mb']:.0f} MB (+{engine['peak_mb']:.1f} MB "
        f"during the period), raw {raw['maxrss_mb']:.0f} MB (+{raw['peak_mb']:.1f} MB)",
        ratio, "≤ 1.5×", ratio <= 1.5))
    return rows


def bulk(url: str, store: str, sizes: Sizes) -> list[Row]:
    collaborators, batch = 5_000, 10_000
    engines, raws, reference = [], [], None
    for _ in range(sizes.rounds):
        for side, run in (("engine", ingest.run_engine), ("raw", ingest.run_baseline)):
            kernel = ingest.fresh(url, collaborators)
            if side == "raw":
                seconds = ingest.run_baseline(kernel, sizes.events, collaborators, batch,
                                              fastest=True)
            else:
                seconds = run(kernel, sizes.events, collaborators, batch)
            kernel.close()
            (engines if side == "engine" else raws).append(seconds)
            stored = ingest.stored_sales(url)
            if reference is None:
                reference = stored
            elif stored != reference:
                raise AssertionError(f"the {side} ingestion stored other rows")
    ratio = statistics.median(raws) / statistics.median(engines)  # throughput ratio
    fastest = "multi-row INSERT" if store == "SQLite" else "COPY"
    return [Row(f"bulk ingestion, {sizes.events:,} sales (batches of {batch:,})", store,
                f"engine {_times(engines)}; raw ({fastest}) {_times(raws)}", ratio,
                "≥ 0.75× the raw throughput", ratio >= 0.75)]


def idle(url: str, store: str, sizes: Sizes) -> list[Row]:
    period.prepare(url, 1_000, 100)
    from siren_core import Kernel

    with Kernel(url, clock=lambda: period.FEBRUARY) as kernel:
        kernel.heartbeat(period.FEBRUARY)
        whole, due, raw = distribute.idle(kernel, sizes.idle, 30)
    return [Row(f"idle heartbeat, {sizes.idle:,} distributors none due", store,
                f"kernel.heartbeat median {whole * 1000:.2f} ms (due check {due * 1000:.2f} "
                f"ms; a raw indexed SELECT {raw * 1000:.3f} ms)", None, "< 2 ms",
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


def not_measured(store: str) -> list[Row]:
    return [Row(measure, store, why, None, target, None) for measure, target, why in (
        ("1,000 small periods due at once", "≤ 1.5× raw per period",
         "not in --report yet: `python -m benchmarks.workers --workers 1` times the engine"),
        ("single `kernel.record`, one event per transaction", "≥ 0.5× raw",
         "not in --report yet"),
        ("catch-up of 12 periods, like-for-like", "≤ 1.1× twelve single periods",
         "not in --report yet: `python -m benchmarks.catchup` (not like-for-like)"),
    )]


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
    measures: list[Callable[[str, str, Sizes], list[Row]]] = [periods, bulk, idle]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        for store, url in stores(postgres, folder):
            for measure in measures:
                print(f"== {store}: {measure.__name__}", flush=True)
                found = measure(url, store, sizes)
                for row in found:
                    print(f"   {row.measure}: {row.figure}", flush=True)
                rows.extend(found)
            rows.extend(not_measured(store))
    rows.extend(command_line())
    write_page(rows, command)
    return rows
