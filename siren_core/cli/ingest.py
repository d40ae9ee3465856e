"""``siren ingest FILE.jsonl``: record a file of source events through the bulk API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console
from siren_core.errors import InvalidInput, shown
from siren_core.jsontext import json_problem, load_json
from siren_core.kernel import Kernel
from siren_core.metrics import DEFAULT_BATCH_SIZE
from siren_core.metrics.reports import BulkReport


class _Lines:
    """Numbered JSON objects of a JSON Lines file; a bad line becomes an ``InvalidInput``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bytes_read = 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                self.bytes_read += len(raw)
                yield from _parsed(number, raw)


def _parsed(number: int, raw: bytes) -> Iterator[tuple[int, Any]]:
    """The line's JSON value, or the ``InvalidInput`` saying why it has none.

    Undecodable bytes are refused, not replaced: two ids that differ only in their bad
    bytes would both become ``\ufffd`` and the second sale would pass for a duplicate.
    """
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        visible = raw.decode("utf-8", errors="backslashreplace").strip()[:80]
        yield number, InvalidInput("line", visible, f"is not valid UTF-8 (byte {exc.start + 1} "
                                                  f"of the line)")
        return
    if not text:
        return
    try:
        yield number, load_json(text)
    except (ValueError, RecursionError) as exc:
        yield number, InvalidInput("line", text[:80], json_problem(exc))


def _report_json(report: BulkReport) -> dict[str, Any]:
    return {"inserted": report.inserted, "duplicates": report.duplicates,
            "credits": report.credits, "skipped": report.skipped,
            "late": report.late, "late_lines": report.late_positions,
            "rejected": len(report.rejected),
            "rejections": [{"line": r.position, "type": r.type, "id": r.id, "field": r.field,
                            "value": r.value if isinstance(r.value, str | int | None)
                            else shown(r.value), "problem": r.problem}
                           for r in report.rejected]}


def _shown(text: str | None) -> str:
    """``text`` for a table cell: a NUL, a control character or a lone surrogate (what a
    rejected line may hold) is shown escaped, as in the reason, not written raw."""
    if text is None:
        return ""
    return text if text.isprintable() else repr(text)[1:-1]


def _print_report(report: BulkReport, out: Console, show: int) -> None:
    out.print(f"inserted {report.inserted}, duplicates {report.duplicates}, "
              f"rejected {len(report.rejected)} ({report.credits} score credits, "
              f"{report.skipped} skipped with a reason, {report.late} late)")
    if report.late_positions:
        lines = ", ".join(map(str, report.late_positions[:show]))
        more = len(report.late_positions) - show
        out.print(f"late lines (their period was already distributed): {lines}"
                  + (f" … and {more} more (--json)" if more > 0 else ""))
    if not report.rejected:
        return
    table = Table("line", "type", "id", "reason", title="Rejected lines")
    for rejection in report.rejected[:show]:
        table.add_row(str(rejection.position), _shown(rejection.type), _shown(rejection.id),
                      rejection.reason)
    out.print(table)
    if len(report.rejected) > show:
        out.print(f"… and {len(report.rejected) - show} more (--show N, or --json)")


MAX_BATCH_SIZE = 1_000_000
"""The most events per transaction ``siren ingest`` takes (a batch is held in memory)."""


def _check_options(batch_size: int, show: int) -> None:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput("--batch-size", batch_size,
                           f"must be between 1 and {MAX_BATCH_SIZE:,} events")
    if show < 0:
        raise InvalidInput("--show", show, "must be 0 or more")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@DATABASE_OPTION
@click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True,
              help="Events per transaction.")
@click.option("--show", default=20, show_default=True, help="Rejected lines to list.")
@JSON_OPTION
def ingest(file: Path, database: str, batch_size: int, show: int, as_json: bool) -> None:
    """Record the source events of a JSON Lines FILE, one {"type": ..., ...} per line.

    Every line is inserted, counted as a duplicate, or rejected with its line number and
    reason (a bad line rejects only itself). Lines whose period was already distributed
    at some distributor are counted and listed as late (each distributor's late_events
    says whether they count in its open period or are refused). Exit code 0 if no line
    was rejected, 1 if some were.
    """
    _check_options(batch_size, show)
    lines = _Lines(file)
    progress = Progress(TextColumn("ingesting"), BarColumn(), TextColumn("{task.fields[n]} events"),
                        TimeElapsedColumn(), console=Console(stderr=True), disable=as_json)
    with Kernel(database) as kernel, progress:
        task = progress.add_task("ingest", total=file.stat().st_size or 1, n=0)
        done = 0

        def advance(count: int) -> None:
            nonlocal done
            done += count
            progress.update(task, completed=lines.bytes_read, n=done)

        report = kernel.record_numbered(lines, batch_size=batch_size, progress=advance)
    if as_json:
        click.echo(json.dumps(_report_json(report), indent=2))
    else:
        _print_report(report, console(), show)
    if report.rejected:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(ingest)
