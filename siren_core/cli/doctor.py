"""``siren doctor``: distributors that would pay no one, and (``--verify``) the invariants."""

from __future__ import annotations

import json

import click
from rich.table import Table

from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console, reading
from siren_core.groups.values import DoctorFinding
from siren_core.verify import Violation, verify


@click.command()
@DATABASE_OPTION
@click.option("--verify", "check_invariants", is_flag=True,
              help="Also check every invariant of the store (allocations sum to pools, one "
                   "obligation per allocation, nothing paid twice…).")
@JSON_OPTION
def doctor(database: str, check_invariants: bool, as_json: bool) -> None:
    """List every active distributor that would pay no one (or credit no one in part).

    Exit code 1 when something was found, 0 when all is well.
    """
    with reading(database) as kernel:
        findings = kernel.doctor()
        violations = verify(kernel) if check_invariants else []
    if as_json:
        report = {"findings": [{"distributor": f.distributor, "problem": f.problem,
                                "detail": f.detail, "pays_no_one": f.pays_no_one}
                               for f in findings]}
        if check_invariants:
            report["violations"] = [{"invariant": v.invariant, "rows": [list(map(str, row))
                                                                       for row in v.rows]}
                                    for v in violations]
        click.echo(json.dumps(report, indent=2))
    else:
        _print(findings, violations, check_invariants)
    if findings or violations:
        raise SystemExit(1)


def _print(findings: list[DoctorFinding], violations: list[Violation],
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
