"""``siren collaborators``, ``siren distributors`` and ``siren credits``: what an operator
reads to see who is set up and where a score came from. ``--json`` carries every field the
table shows (times in UTC)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import click
from rich.table import Table

from siren_core.cli.common import (
    DATABASE_OPTION,
    JSON_OPTION,
    TZ_OPTION,
    console,
    inspecting,
    local_text,
    zone_name,
)
from siren_core.config.converter import unstructure_distributor
from siren_core.domain import Distributor
from siren_core.money import amount_text
from siren_core.schedule import Schedule
from siren_core.store.operations_queries import CreditLine
from siren_core.times import iso_utc


def credit_json(c: CreditLine) -> dict[str, Any]:
    return {"id": c.id, "collaborator": c.collaborator, "distributor": c.distributor,
            "metric_type": c.metric_type, "rule": c.rule, "layer": c.layer,
            "points": c.points,
            "revenue": amount_text(c.revenue, c.units) if c.units else None,
            "revenue_minor": c.revenue, "units": c.units,
            "effective_at": iso_utc(c.effective_at), "late": c.late,
            "event_type": c.event_type, "event_id": c.event_id,
            "event_at": iso_utc(c.event_at), "conversion": _conversion_json(c)}


def _conversion_json(c: CreditLine) -> dict[str, Any] | None:
    """The exchange rate a converted event's money went through (``None``: not converted)."""
    if c.rate is None or c.original_units is None:
        return None
    return {"rate": c.rate, "original_units": c.original_units,
            "original_amount": amount_text(c.original_amount, c.original_units),
            "original_amount_minor": c.original_amount}


def _revenue_text(c: CreditLine) -> str:
    if not c.units:
        return ""
    text = f"{amount_text(c.revenue, c.units)} {c.units}"
    if c.rate is not None and c.original_units is not None:
        text += (f" (sale {amount_text(c.original_amount, c.original_units)} "
                 f"{c.original_units} at {c.rate})")
    return text


def credit_table(rows: Sequence[CreditLine], title: str, zone: tzinfo) -> Table:
    table = Table(f"counts at ({zone_name(zone)})", "distributor", "metric type", "rule",
                  "points", "revenue", "late", "source event", "event time", title=title)
    for c in rows:
        table.add_row(local_text(c.effective_at, zone), c.distributor, c.metric_type,
                      c.rule if not c.layer else f"{c.rule} (layer {c.layer})",
                      str(c.points), _revenue_text(c), "late" if c.late else "",
                      f"{c.event_type} {c.event_id}", local_text(c.event_at, zone))
    return table


@click.command()
@DATABASE_OPTION
@click.argument("collaborator")
@click.option("--distributor", default=None, help="Only this distributor's credits.")
@TZ_OPTION
@JSON_OPTION
def credits(database: str, collaborator: str, distributor: str | None, zone: tzinfo,
            as_json: bool) -> None:
    """The score credits of COLLABORATOR, oldest first, each with its source event: when
    it counts, the distributor, metric type and rule, points, revenue, whether it came
    late (its period was already distributed), and the event's type, id and time."""
    with inspecting(database) as kernel:
        rows = kernel.credits(collaborator, distributor=distributor)
    if as_json:
        click.echo(json.dumps({"collaborator": collaborator,
                               "credits": [credit_json(c) for c in rows]}))
        return
    console().print(credit_table(rows, f"Score credits of {collaborator}", zone))


@click.command()
@DATABASE_OPTION
@click.option("--status", default=None, help="Only collaborators with this status "
              "(active, inactive, deleted).")
@JSON_OPTION
def collaborators(database: str, status: str | None, as_json: bool) -> None:
    """List collaborators: id, name, email and status (--json adds api_id, the integer id
    that names a collaborator over HTTP, as siren serve's collaboratorId)."""
    with inspecting(database) as kernel:
        rows = [c for c in kernel.collaborators() if status is None or c.status == status]
        api_ids = kernel.collaborator_api_ids()
    if as_json:
        click.echo(json.dumps({"collaborators": [
            {"id": c.id, "api_id": api_ids[c.id], "name": c.name, "email": c.email,
             "status": c.status} for c in rows]}))
        return
    table = Table("id", "name", "email", "status", title="Collaborators")
    for c in rows:
        table.add_row(c.id, c.name, c.email or "", c.status)
    console().print(table)


def _schedule_text(schedule: Schedule) -> str:
    if schedule.modifiers:
        rhythm = " ".join(schedule.modifiers)
    else:
        rhythm = schedule.frequency if schedule.interval == 1 else (
            f"every {schedule.interval} {schedule.frequency}")
    return f"{rhythm} from {schedule.start.isoformat()} ({schedule.timezone})"


def _distributor_row(d: Distributor, group: str | None) -> dict[str, Any]:
    spec = d.spec
    return {"id": spec.id, "name": spec.name, "status": spec.status, "units": spec.units,
            "schedule": _schedule_text(spec.schedule), "pool_resolver": spec.pool.resolver,
            "calculator": spec.calculator.id,
            "metrics": [f"{m.type} ({m.credit.rule})" for m in spec.metrics],
            "eligibility": spec.eligibility, "group": group,
            "config_version": d.config_version}


@click.command()
@DATABASE_OPTION
@click.option("--status", default=None, help="Only distributors with this status "
              "(active, inactive, deleted).")
@JSON_OPTION
def distributors(database: str, status: str | None, as_json: bool) -> None:
    """List distributors: status, currency, schedule, pool resolver, calculator, metric
    types with their credit rules, eligibility, bound group and configuration version
    (--json adds the whole configuration)."""
    with inspecting(database) as kernel:
        rows = [(d, kernel.distributor_group(d.id)) for d in kernel.distributors()
                if status is None or d.spec.status == status]
    if as_json:
        click.echo(json.dumps({"distributors": [
            {**_distributor_row(d, group), "config": unstructure_distributor(d.spec)}
            for d, group in rows]}, default=str))
        return
    table = Table("id", "name", "status", "units", "schedule", "pool", "calculator",
                  "metrics", "eligibility", "group", "version", title="Distributors")
    for d, group in rows:
        row = _distributor_row(d, group)
        table.add_row(*(str(row[key]) for key in ("id", "name", "status", "units",
                                                  "schedule", "pool_resolver", "calculator")),
                      ", ".join(row["metrics"]), row["eligibility"], group or "",
                      str(d.config_version))
    console().print(table)


def register(cli: click.Group) -> None:
    for command in (collaborators, distributors, credits):
        cli.add_command(command)
