"""``siren doctor``: distributors that would pay no one, periods that keep failing to
distribute, and (``--verify``) the invariants."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console, inspecting
from siren_core.groups.values import DoctorFinding
from siren_core.store.operations_queries import PeriodFailure
from siren_core.times import iso_utc
from siren_core.verify import Violation, verify


@click.command()
@DATABASE_OPTION
@click.option("--verify", "check_invariants", is_flag=True,
              help="Also check every invariant of the store (allocations sum to pools, one "
                   "obligation per allocation, nothing paid twice…).")
@JSON_OPTION
def doctor(database: str, check_invariants: bool, as_json: bool) -> None:
    """List every active distributor that would pay no one (or credit no one in part), and
    every period that failed to distribute and is still due, with its failed attempts and
    its last error, and every id two plugins provide (such an id is left out).

    Exit code 1 when something was found, 0 when all is well.
    """
    with inspecting(database) as kernel:
        findings = kernel.doctor()
        failing = kernel.period_failures(open_only=True)
        violations = verify(kernel) if check_invariants else []
        collisions = [collision.message for collision in kernel.registry.collisions]
    if as_json:
        report: dict[str, Any] = {
            "findings": [{"distributor": f.distributor, "problem": f.problem,
                          "detail": f.detail, "pays_no_one": f.pays_no_one}
                         for f in findings],
            "failing_periods": [_failing_json(f) for f in failing],
            "plugin_collisions": collisions}
        if check_invariants:
            report["violations"] = [{"invariant": v.invariant, "rows": [list(map(str, row))
                                                                       for row in v.rows]}
                                    for v in violations]
        click.echo(json.dumps(report, indent=2))
    else:
        for message in collisions:
            console().print(f"[red]plugin collision[/red] {message}")
        _print(findings, violations, check_invariants)
        _print_failing(failing)
    if findings or failing or violations or collisions:
        raise SystemExit(1)


def _failing_json(f: PeriodFailure) -> dict[str, Any]:
    return {"distribution": f.distribution_id, "distributor": f.distributor,
            "period_start": iso_utc(f.period_start), "period_end": iso_utc(f.period_end),
            "failures": f.failures, "last_error": f.last_error,
            "last_failed_at": iso_utc(f.last_failed_at) if f.last_failed_at else None}


def _print_failing(failing: tuple[PeriodFailure, ...]) -> None:
    if not failing:
        return
    table = Table("distribution", "distributor", "period (UTC)", "failures", "last failed",
                  "last error", title="Periods that fail to distribute")
    for f in failing:
        table.add_row(str(f.distribution_id), f.distributor,
                      f"{f.period_start:%Y-%m-%d %H:%M} → {f.period_end:%Y-%m-%d %H:%M}",
                      str(f.failures),
                      f"{f.last_failed_at:%Y-%m-%d %H:%M}" if f.last_failed_at else "",
                      f.last_error or "")
    console().print(table)


def _print(findings: tuple[DoctorFinding, ...], violations: list[Violation],
           check_invariants: bool) -> None:
    out = console()
    if not findings:
        out.print("All active distributors can pay someone.")
    else:
        table = Table("distributor", "problem", "pays no one", "detail")
        for f in findings:
            table.add_row(f.distributor, f.problem, "yes" if f.pays_no_one else "in part",
                          f.detail)
        out.print(table)
    if check_invariants:
        if violations:
            for violation in violations:
                out.print(f"[red]invariant broken[/red] {violation}")
        else:
            out.print("Every invariant holds.")


def register(cli: click.Group) -> None:
    cli.add_command(doctor)
