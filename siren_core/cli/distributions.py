"""``siren heartbeat``, ``worker``, ``distributions``, ``allocations`` and ``preview``."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from types import FrameType
from typing import Any

import click
from rich.table import Table

from siren_core.cli.common import (
    DATABASE_OPTION,
    JSON_OPTION,
    STORE_ID,
    TZ_OPTION,
    console,
    inspecting,
    instant,
    local_text,
    zone_name,
)
from siren_core.cli.listings import credit_json, credit_table
from siren_core.distribution.runner import HeartbeatReport
from siren_core.domain import Allocation, Distribution
from siren_core.errors import InvalidInput
from siren_core.kernel import Kernel
from siren_core.money import amount_text
from siren_core.store import DatabaseError, StoreUnavailable, one_line, transient
from siren_core.store.operations_queries import CreditLine, PeriodFailure
from siren_core.times import iso_utc
from siren_core.webhooks.worker import Deliverer


def _when(value: str | None, force: bool = False) -> datetime:
    """The instant of ``--now`` (default: the clock); later than the clock only with
    ``--force``: a mistyped date would otherwise close future periods for ever."""
    clock = datetime.now(UTC)
    if value is None:
        return clock
    when = instant("--now", value)
    if when > clock and not force:
        raise InvalidInput("--now", value, f"is later than the clock ({iso_utc(clock)}); "
                           "give --force to act on a future instant")
    return when


NOW_HELP = ("{what} up to this instant (ISO 8601 with a timezone; not later than the clock "
            "unless --force); default: the clock.")
FORCE_OPTION = click.option("--force", is_flag=True,
                            help="Accept a --now later than the clock.")


def distribution_json(d: Distribution, failure: PeriodFailure | None = None
                      ) -> dict[str, Any]:
    return {"id": d.id, "distributor": d.distributor, "period_start": iso_utc(d.period_start),
            "period_end": iso_utc(d.period_end), "status": d.status, "units": d.units,
            "pool": amount_text(d.pool, d.units), "reason": d.reason,
            "carried_in": amount_text(d.carried_in, d.units),
            "carried_out": amount_text(d.carried_out, d.units),
            "forfeited": amount_text(d.forfeited, d.units),
            "calculator": d.calculator, "config_version": d.config_version,
            **failure_json(failure)}


def _unallocated_text(d: Distribution) -> str:
    """The reason, and what became of a pool that allocated nothing."""
    if d.carried_out:
        return f"{d.reason} (carried forward)"
    return f"{d.reason} (forfeited)" if d.forfeited else d.reason or ""


def failure_json(failure: PeriodFailure | None) -> dict[str, Any]:
    """A period's failed attempts (0 and nulls when it never failed)."""
    return {"failures": failure.failures if failure else 0,
            "last_error": failure.last_error if failure else None,
            "last_failed_at": iso_utc(failure.last_failed_at)
            if failure and failure.last_failed_at else None}


def allocation_json(a: Allocation) -> dict[str, Any]:
    return {"id": a.id, "distribution": a.distribution_id, "collaborator": a.collaborator,
            "score": a.score, "amount": amount_text(a.amount, a.units), "units": a.units,
            "pool": amount_text(a.pool, a.units), "calculator": a.calculator,
            "config_version": a.config_version}


def _distribution_table(rows: tuple[Distribution, ...], title: str,
                        failures: Mapping[int, PeriodFailure] | None = None,
                        zone: tzinfo = UTC) -> Table:
    table = Table("id", "distributor", f"period ({zone_name(zone)})", "status", "pool",
                  "reason", title=title)
    if failures:
        table.add_column("failures")
        table.add_column("last error")
    for d in rows:
        pool = amount_text(d.pool, d.units)
        if pool and d.carried_in:
            pool += f" {d.units}, {amount_text(d.carried_in, d.units)} carried in"
        elif pool:
            pool += f" {d.units}"
        cells = [str(d.id), d.distributor,
                 f"{local_text(d.period_start, zone)} → {local_text(d.period_end, zone)}",
                 d.status, pool or "", _unallocated_text(d)]
        if failures:
            failure = failures.get(d.id)
            cells += [str(failure.failures), failure.last_error or ""] if failure else ["", ""]
        table.add_row(*cells)
    return table


def _report_json(report: HeartbeatReport) -> dict[str, Any]:
    return {"completed": [distribution_json(d) for d in report.completed],
            "failed": [{"distribution": i, "distributor": name, "error": error}
                       for i, name, error in report.failed]}


def _echo_report(report: HeartbeatReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(_report_json(report)))
        return
    if report.completed:
        console().print(_distribution_table(report.completed, "Distributed"))
    else:
        console().print("nothing was due")
    for distribution_id, name, error in report.failed:
        console().print(f"[red]failed[/red] distribution {distribution_id} of {name}: {error}")


@click.command()
@DATABASE_OPTION
@click.option("--now", default=None, help=NOW_HELP.format(what="Distribute"))
@FORCE_OPTION
@JSON_OPTION
def heartbeat(database: str, now: str | None, force: bool, as_json: bool) -> None:
    """Distribute every period that has ended, oldest first, each exactly once.

    A --now later than the clock is refused unless --force: a period closed early stays
    closed (the events of its last days would count in the next one, late).
    """
    when = _when(now, force)
    with Kernel(database) as kernel:
        report = kernel.heartbeat(when)
    _echo_report(report, as_json)
    if report.failed:
        raise SystemExit(1)


class _Stop:
    def __init__(self) -> None:
        self.requested = False
        self.event = threading.Event()  # for the webhook deliveries' threads

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        self.event.set()


_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0
_ONCE_ATTEMPTS = 5


def _wait(stop: _Stop, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(min(0.2, seconds))


def _beat(kernel: Kernel, as_json: bool, quiet: bool,
          now: datetime | None = None) -> HeartbeatReport:
    """One heartbeat (at ``now``, default the clock), its report, and (unless ``quiet``)
    one line on stderr saying what it did and how long it took."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    report = kernel.heartbeat(now)
    if report.completed or report.failed or as_json:
        _echo_report(report, as_json)
    if not quiet:
        click.echo(f"worker: heartbeat {iso_utc(now)}: {len(report.completed)} period(s) "
                   f"distributed, {len(report.failed)} failed, "
                   f"{time.monotonic() - started:.2f} s", err=True)
    return report


@click.command()
@DATABASE_OPTION
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between heartbeats.")
@click.option("--once", is_flag=True, help="Run one heartbeat and exit (exit code 1 when "
              "a period failed, as heartbeat).")
@click.option("--quiet", is_flag=True, help="No line on stderr per heartbeat (failures and "
              "retries are still logged).")
@click.option("--now", default=None, help=NOW_HELP.format(
    what="Every heartbeat distributes").replace("the clock.", "the clock at each heartbeat."))
@FORCE_OPTION
@click.option("--webhook-threads", default=4, show_default=True, type=click.IntRange(0, 64),
              help="Webhook deliveries in flight at once, beside the heartbeats (0: deliver "
                   "none; see siren webhooks deliver).")
@JSON_OPTION
def worker(database: str, interval: float, once: bool, quiet: bool, now: str | None,
           force: bool, webhook_threads: int, as_json: bool) -> None:
    """Fire the heartbeat every INTERVAL seconds until stopped (SIGINT/SIGTERM).

    Each heartbeat logs one line on stderr: the periods distributed and failed, and the
    time it took (--quiet silences it). Safe to run several at once, on several hosts: each
    period is claimed by exactly one worker and distributed once. A database error that may
    pass (a lost connection, a restart, a lock) is logged in one line on stderr and the
    heartbeat is tried again after a pause that doubles from 0.5 s up to 30 s (with --once:
    five tries at most).

    Webhooks are delivered meanwhile by --webhook-threads threads of their own, so that a
    heartbeat never waits for a receiver (with --once: what is due after the heartbeat).
    """
    fixed = None if now is None else _when(now, force)
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    failures = 0
    kernel: Kernel | None = None
    deliveries: threading.Thread | None = None
    try:
        while not stop.requested:
            try:
                kernel = kernel or Kernel(database)  # opening the store may fail too
                if deliveries is None and webhook_threads and not once:
                    deliveries = Deliverer(kernel.engine).start(stop.event,
                                                                threads=webhook_threads)
                report = _beat(kernel, as_json, quiet, fixed)
            except (DatabaseError, StoreUnavailable) as exc:
                cause = exc.cause if isinstance(exc, StoreUnavailable) else exc
                failures += 1
                if (cause is None or not transient(cause)
                        or (once and failures >= _ONCE_ATTEMPTS)):
                    raise
                delay = min(_RETRY_FIRST_S * 2 ** min(failures - 1, 8), _RETRY_MAX_S)
                click.echo(f"worker: heartbeat failed ({one_line(cause)}); retrying in "
                           f"{delay:.1f} s", err=True)
                _wait(stop, delay)
                continue
            failures = 0
            if once:
                if webhook_threads:
                    Deliverer(kernel.engine).drain()
                if report.failed:
                    raise SystemExit(1)
                return
            _wait(stop, interval)
    finally:
        stop.event.set()
        if deliveries is not None:  # the POSTs in flight finish and are noted
            deliveries.join()
        if kernel is not None:
            kernel.close()


@click.command()
@DATABASE_OPTION
@click.option("--distributor", default=None, help="Only this distributor's periods.")
@click.option("--status", default=None, help="Only periods with this status (open, completed…).")
@TZ_OPTION
@JSON_OPTION
def distributions(database: str, distributor: str | None, status: str | None,
                  zone: tzinfo, as_json: bool) -> None:
    """List distributions (periods) with their pool and outcome; a period that failed to
    distribute shows its failed attempts and its last error."""
    with inspecting(database) as kernel:
        rows = kernel.distributions(distributor=distributor, status=status)
        failures = {f.distribution_id: f for f in kernel.period_failures()}
    if as_json:
        click.echo(json.dumps({"distributions": [distribution_json(d, failures.get(d.id))
                                                 for d in rows]}))
        return
    console().print(_distribution_table(rows, "Distributions", failures, zone))


@click.command()
@DATABASE_OPTION
@click.argument("distribution", type=STORE_ID)
@click.option("--explain", is_flag=True, help="Also each score per metric type and the "
              "score credits behind it (with their source events).")
@TZ_OPTION
@JSON_OPTION
def allocations(database: str, distribution: int, explain: bool, zone: tzinfo,
                as_json: bool) -> None:
    """List the allocations of DISTRIBUTION (its id), with the inputs that explain them:
    score, pool, calculator and configuration version (--explain: the score per metric
    type and the credits that made it)."""
    with inspecting(database) as kernel:
        rows = kernel.allocations(distribution)
        behind = kernel.allocation_credits(distribution) if explain else []
    by_collaborator: dict[str, list[CreditLine]] = {}
    for credit in behind:
        by_collaborator.setdefault(credit.collaborator, []).append(credit)
    if as_json:
        click.echo(json.dumps({"allocations": [
            {**allocation_json(a), **(_explain_json(by_collaborator.get(a.collaborator, []))
                                      if explain else {})} for a in rows]}))
        return
    table = Table("collaborator", "score", "amount", "pool", "calculator", "config version",
                  title=f"Allocations of distribution {distribution}")
    if explain:
        table.add_column("score per metric type (rule)")
    for a in rows:
        cells = [a.collaborator, str(a.score), f"{amount_text(a.amount, a.units)} {a.units}",
                 f"{amount_text(a.pool, a.units)} {a.units}", a.calculator,
                 str(a.config_version)]
        if explain:
            cells.append(", ".join(f"{kind} {points}" for kind, points in
                                   _metric_scores(by_collaborator.get(a.collaborator, []))))
        table.add_row(*cells)
    console().print(table)
    if explain:
        console().print(credit_table(behind, "Score credits behind them", zone))


def _metric_scores(credits: list[CreditLine]) -> list[tuple[str, int]]:
    """Points per ``metric type (rule)``, in the order of the credits."""
    totals: dict[str, int] = {}
    for c in credits:
        key = f"{c.metric_type} ({c.rule})"
        totals[key] = totals.get(key, 0) + c.points
    return list(totals.items())


def _explain_json(credits: list[CreditLine]) -> dict[str, Any]:
    scores: dict[str, dict[str, int]] = {}
    for c in credits:
        by_rule = scores.setdefault(c.metric_type, {})
        by_rule[c.rule] = by_rule.get(c.rule, 0) + c.points
    return {"metric_scores": {kind: sum(rules.values()) for kind, rules in scores.items()},
            "rule_scores": scores, "credits": [credit_json(c) for c in credits]}


@click.command()
@DATABASE_OPTION
@click.argument("distributor")
@click.option("--now", default=None, help="Pretend the period closes at this instant (not "
              "later than the clock unless --force); default: the clock.")
@FORCE_OPTION
@JSON_OPTION
def preview(database: str, distributor: str, now: str | None, force: bool,
            as_json: bool) -> None:
    """What DISTRIBUTOR's open period would pay if it closed now (writes nothing)."""
    when = _when(now, force)
    with inspecting(database) as kernel:
        result = kernel.preview(distributor, when)
    d, outcome = result.distribution, result.outcome
    rows = [{"collaborator": name, "score": score, "amount": amount_text(amount, d.units)}
            for _key, name, score, amount in outcome.allocations]
    if as_json:
        click.echo(json.dumps({
            "distributor": distributor, "period_start": iso_utc(d.period_start),
            "window_end": iso_utc(result.window_end), "units": d.units,
            "pool": amount_text(outcome.pool, d.units), "reason": outcome.reason,
            "carried_in": amount_text(outcome.carried_in, d.units),
            "carried_out": amount_text(outcome.carried_out, d.units),
            "late_credits": result.late, "allocations": rows}))
        return
    pool = f"{amount_text(outcome.pool, d.units)} {d.units}" + (
        f", {amount_text(outcome.carried_in, d.units)} carried in" if outcome.carried_in else "")
    table = Table("collaborator", "score", "amount",
                  title=f"Preview of {distributor}: {iso_utc(d.period_start)} → "
                        f"{iso_utc(result.window_end)}, pool {pool}"
                        + (f" ({outcome.reason})" if outcome.reason else ""))
    for row in rows:
        table.add_row(str(row["collaborator"]), str(row["score"]), f"{row['amount']} {d.units}")
    console().print(table)
    if result.late:
        console().print(f"{result.late} late credit(s): events of periods already "
                        "distributed, counted in this one")


def register(cli: click.Group) -> None:
    for command in (heartbeat, worker, distributions, allocations, preview):
        cli.add_command(command)
