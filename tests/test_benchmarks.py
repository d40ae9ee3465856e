"""The benchmarks' raw sides write exactly the engine's rows (correctness only, tiny sizes:
nothing here measures or asserts a time). Each benchmark compares row for row itself and
raises on a difference; these run them on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sys

import pytest

from benchmarks import (
    catchup,
    distribute,
    ingest,
    ingest_floor,
    instructions,
    many,
    period,
    record,
)


def test_a_raw_period_writes_the_engines_allocations_obligations_and_audit(
        database_url: str) -> None:
    key, pool = period.prepare(database_url, 3_000, 300)
    raws, engines = period.alternate(database_url, key, pool, 1)
    assert len(raws) == len(engines) == 1
    raw, engine = period.memory(database_url, key, pool)  # a fresh process each
    for side in (raw, engine):
        assert side["seconds"] > 0 and side["maxrss_mb"] >= side["peak_mb"] >= 0


def test_the_largest_remainder_split_sums_to_the_pool_with_the_calculators_ties() -> None:
    scores = [(1, "b", 1), (2, "a", 1), (3, "c", 1)]
    assert period.largest_remainder(100, scores) == [(1, 1, 33), (2, 1, 34), (3, 1, 33)]


def test_raw_small_periods_equal_the_heartbeats(database_url: str) -> None:
    engines, raws = many.alternate(database_url, 5, 1)
    assert len(engines) == len(raws) == 1


def test_a_raw_recording_stores_the_engines_rows(database_url: str) -> None:
    engines, raws = record.alternate(database_url, 20, 1)
    assert len(engines) == len(raws) == 1


def test_the_fastest_raw_ingestion_stores_the_engines_rows(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "STREAMED_CHUNK", 30)  # batches of 100: chunks, one partial
    with ingest.fresh(database_url, 50) as kernel:
        ingest.run_engine(kernel, 300, 50, 100)
    engine_rows = ingest.stored_sales(database_url)
    with ingest.fresh(database_url, 50) as kernel:
        ingest.run_baseline(kernel, 300, 50, 100, fastest=True)
    assert ingest.stored_sales(database_url) == engine_rows


def test_the_ingestion_floor_stores_the_engines_rows(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "STREAMED_CHUNK", 30)
    with ingest.fresh(database_url, 50) as kernel:
        ingest.run_engine(kernel, 300, 50, 100)
    engine_rows = ingest.stored_sales(database_url)
    with ingest.fresh(database_url, 50) as kernel:
        ingest_floor.run_floor(kernel, 300, 50, 100)
    assert ingest.stored_sales(database_url) == engine_rows
    assert len(engine_rows) == 300


def test_catch_up_runs_twelve_periods_of_the_single_periods_size(database_url: str) -> None:
    keys = catchup.populate(database_url, 200, 50)
    measured = catchup.alternate(database_url, keys, 1)  # asserts every heartbeat's periods
    assert len(measured.singles) == len(measured.monthly) == len(measured.catchups) == 1


def test_the_report_fails_when_a_measure_fails(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A measure that raised (a missing database, say) is written on the page as
    failed, and ``python -m benchmarks --report`` exits non-zero naming it."""
    from benchmarks import __main__ as runner
    from benchmarks import report

    rows = [report.Row("idle", "PostgreSQL", f"{report.FAILED}OperationalError: no such",
                       None, "—", False),
            report.Row("idle heartbeat", "SQLite", "0.1 ms", None, "< 2 ms", True)]
    monkeypatch.setattr(report, "report", lambda *_args: rows)  # the real one takes minutes
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--report"])
    with pytest.raises(SystemExit) as stopped:
        runner.main()
    assert stopped.value.code == "measures that failed: PostgreSQL: idle"
    assert [row.failed for row in rows] == [True, False]


@pytest.mark.parametrize("side", instructions.SIDES)
def test_each_counted_side_records_the_sales(database_url: str, side: str) -> None:
    """What ``python -m benchmarks.instructions`` runs under callgrind, run plainly."""
    instructions.run_side(side, 40, 10, database_url)
    assert len(ingest.stored_sales(database_url)) == 40


@pytest.mark.parametrize("side", instructions.PATHS["record"])
def test_each_counted_single_recording_side_records_the_sales(database_url: str,
                                                              side: str) -> None:
    """What ``python -m benchmarks.instructions --path record`` runs under callgrind."""
    instructions.run_recordings(side, 30, database_url)
    assert len(ingest.stored_sales(database_url)) == 30


def test_the_single_recording_count_has_no_floor_side(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        instructions.main(["--path", "record", "--side", "floor"])
    assert exit_.value.code == 2
    assert "--side floor is not a side of --path record" in capsys.readouterr().err


def test_the_instruction_count_refuses_no_events(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        instructions.main(["--events", "0"])
    assert exit_.value.code == 2
    assert "--events must be at least 1, not 0" in capsys.readouterr().err


def test_the_idle_heartbeats_raw_side_reads_what_the_heartbeat_reads(
        database_url: str) -> None:
    from siren_core import Kernel

    with Kernel(database_url, clock=lambda: period.FEBRUARY) as kernel:
        whole, due, raw = distribute.idle(kernel, 3, 2)  # asserts nothing due, no holds
        assert whole > 0 and due > 0 and raw > 0
        assert kernel.heartbeat(period.FEBRUARY).completed == ()  # the store usable after it


def test_the_bytecode_count_names_the_functions_that_run_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``--bytecodes``: two fresh traced processes, their difference an event, and the
    functions behind it (the floor side's plugin calls among them)."""
    instructions.main(["--bytecodes", "--events", "20", "--collaborators", "10",
                       "--side", "floor", "--top", "40"])
    head, *functions = capsys.readouterr().out.splitlines()
    found = re.fullmatch(r"floor +([\d.]+) bytecodes an event", head)
    assert found is not None and float(found.group(1)) > 100
    assert len(functions) == 40
    assert any(line.endswith("plugins/sale/__init__.py:sale_metrics") for line in functions)
