"""``siren obligations`` (list, show, approve, reject, cancel, mark-pending) and
``siren fulfill`` (generate, list, show, export, mark-processing, mark-paid, mark-failed).

Bulk commands print one outcome per id and exit with status 1 when any id was refused.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from datetime import UTC, tzinfo
from pathlib import Path
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
    local_text,
    reading,
    zone_name,
)
from siren_core.cli.selection import SELECTION_OPTIONS, Selection, confirmed
from siren_core.domain import Fulfillment, Obligation, ObligationChange, Payout
from siren_core.errors import InvalidInput
from siren_core.kernel import Kernel
from siren_core.money import amount_text, currency, to_minor
from siren_core.obligations.values import BulkResult, GenerateResult
from siren_core.times import iso_utc

ACTOR_OPTION = click.option("--actor", default=None,
                            help="Who is acting, for the audit log (default: cli:$USER).")
REASON_OPTION = click.option("--reason", default=None, help="Why, for the audit log.")


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container without one)
        user = "unknown"
    return f"cli:{user}"


def _money(amount: int, units: str) -> str:
    return f"{amount_text(amount, units)} {units}"


# -- JSON shapes -----------------------------------------------------------------------

def obligation_json(o: Obligation) -> dict[str, Any]:
    return {"id": o.id, "collaborator": o.collaborator, "amount": amount_text(o.amount, o.units),
            "amount_minor": o.amount, "units": o.units, "status": o.status,
            "award_type": o.award_type, "source": o.source, "source_id": o.source_id,
            "payout_id": o.payout_id, "created_at": iso_utc(o.created_at)}


def change_json(c: ObligationChange) -> dict[str, Any]:
    return {"from": c.from_status, "to": c.to_status, "actor": c.actor, "reason": c.reason,
            "payout_id": c.payout_id, "at": iso_utc(c.at)}


def payout_json(p: Payout) -> dict[str, Any]:
    return {"id": p.id, "fulfillment_id": p.fulfillment_id, "collaborator": p.collaborator,
            "amount": amount_text(p.amount, p.units), "amount_minor": p.amount,
            "units": p.units, "status": p.status, "obligation_ids": list(p.obligation_ids),
            "reference": p.reference, "reason": p.reason}


def fulfillment_json(f: Fulfillment) -> dict[str, Any]:
    return {"id": f.id, "status": f.status, "actor": f.actor,
            "created_at": iso_utc(f.created_at), "updated_at": iso_utc(f.updated_at),
            "payout_count": f.payout_count,
            "totals": {units: amount_text(total, units) for units, total in f.totals.items()},
            "payouts": [payout_json(p) for p in f.payouts]}


def bulk_json(result: BulkResult) -> dict[str, Any]:
    return {"target": result.target, "affected": len(result.done),
            "outcomes": [{"id": o.id, "outcome": o.outcome, "status": o.status,
                          "previous": o.previous, "reason": o.reason}
                         for o in result.outcomes]}


# -- obligations -----------------------------------------------------------------------

def _obligation_table(rows: Sequence[Obligation], zone: tzinfo = UTC) -> Table:
    table = Table("id", "collaborator", "amount", "status", "award type", "source", "payout",
                  f"issued ({zone_name(zone)})", title="Obligations")
    for o in rows:
        table.add_row(str(o.id), o.collaborator, _money(o.amount, o.units), o.status,
                      o.award_type, f"{o.source} #{o.source_id}",
                      "" if o.payout_id is None else str(o.payout_id),
                      local_text(o.created_at, zone))
    return table


@click.group()
def obligations() -> None:
    """Money owed to collaborators: list, inspect, approve, reject, cancel."""


@obligations.command("list")
@DATABASE_OPTION
@click.option("--status", default=None, help="pending, approved, fulfilled, rejected, "
              "cancelled (aliases: complete, draft...).")
@click.option("--collaborator", default=None, help="A collaborator id.")
@click.option("--award-type", default=None, help="e.g. distribution, manual, commission.")
@click.option("--payout", type=STORE_ID, default=None, help="Obligations in this payout.")
@click.option("--source", default=None, help="e.g. allocation.")
@TZ_OPTION
@JSON_OPTION
def list_obligations(database: str, status: str | None, collaborator: str | None,
                     award_type: str | None, payout: int | None, source: str | None,
                     zone: tzinfo, as_json: bool) -> None:
    """List obligations matching every filter given."""
    with inspecting(database) as kernel:
        rows = kernel.obligations(collaborator=collaborator, status=status,
                                  award_type=award_type, payout=payout, source=source)
    if as_json:
        click.echo(json.dumps([obligation_json(o) for o in rows]))
        return
    console().print(_obligation_table(rows, zone))


@obligations.command("show")
@DATABASE_OPTION
@click.argument("obligation_id", type=STORE_ID)
@TZ_OPTION
@JSON_OPTION
def show_obligation(database: str, obligation_id: int, zone: tzinfo, as_json: bool) -> None:
    """One obligation and its audit log."""
    with inspecting(database) as kernel:
        value = kernel.obligation(obligation_id)
        history = kernel.obligation_history(obligation_id)
    if as_json:
        click.echo(json.dumps({**obligation_json(value),
                               "history": [change_json(c) for c in history]}))
        return
    out = console()
    out.print(_obligation_table([value], zone))
    table = Table(f"when ({zone_name(zone)})", "from", "to", "actor", "payout", "reason",
                  title="History")
    for c in history:
        table.add_row(f"{c.at.astimezone(zone):%Y-%m-%d %H:%M:%S}", c.from_status or "",
                      c.to_status, c.actor,
                      "" if c.payout_id is None else str(c.payout_id), c.reason or "")
    out.print(table)


def _echo_bulk(result: BulkResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(bulk_json(result)))
    else:
        table = Table("id", "outcome", "status", "reason", title=f"→ {result.target}")
        colours = {"done": "green", "skipped": "yellow", "refused": "red"}
        for o in result.outcomes:
            table.add_row(str(o.id), f"[{colours[o.outcome]}]{o.outcome}[/]", o.status or "",
                          o.reason or "")
        console().print(table)
        console().print(f"{len(result.done)} done, {len(result.skipped)} skipped, "
                        f"{len(result.refused)} refused")
    if result.refused:
        raise click.exceptions.Exit(1)


_BY_FILTER = ("\n\nGive the obligations by id (IDS), or by filter: --distributor, --status, "
              "--before, --collaborator (every filter given must match); the number that "
              "match is printed and confirmation asked, unless --yes.")


def _bulk_command(name: str, action: str, summary: str) -> click.Command:
    @click.command(name, help=summary + _BY_FILTER)
    @DATABASE_OPTION
    @click.argument("ids", nargs=-1, type=STORE_ID)
    @SELECTION_OPTIONS
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @ACTOR_OPTION
    @REASON_OPTION
    @JSON_OPTION
    def command(database: str, ids: tuple[int, ...], selection: Selection, yes: bool,
                actor: str | None, reason: str | None, as_json: bool) -> None:
        if ids and selection.given:
            raise click.UsageError("give obligation ids or filters, not both")
        if not ids and not selection.given:
            raise click.UsageError("give obligation ids, or at least one filter "
                                   "(--distributor, --status, --before, --collaborator)")
        with Kernel(database) as kernel:
            if selection.given:
                ids = tuple(o.id for o in selection.find(kernel))
                if not confirmed(name, selection, len(ids), yes=yes):
                    return
            result = kernel.obligation_action(action, ids, actor=_actor(actor), reason=reason)
        _echo_bulk(result, as_json)

    return command


for _name, _action, _summary in (
        ("approve", "approve", "Approve pending (or rejected) obligations."),
        ("reject", "reject", "Reject obligations that are not yet paid."),
        ("cancel", "cancel", "Cancel obligations for good (cancelled is final)."),
        ("mark-pending", "markPending", "Send obligations back to pending.")):
    obligations.add_command(_bulk_command(_name, _action, _summary))


# -- fulfillment -----------------------------------------------------------------------

def _minimum(values: Sequence[str]) -> dict[str, int]:
    """``["USD=50.00"]`` → ``{"USD": 5000}``."""
    result: dict[str, int] = {}
    for value in values:
        code, separator, amount = value.partition("=")
        if not separator:
            raise InvalidInput("--minimum", value, "is not CURRENCY=AMOUNT (e.g. USD=50.00)")
        result[code] = to_minor(amount, currency(code, field="--minimum"),
                                field=f"--minimum {code}")
    return result


def _fulfillment_table(rows: Sequence[Fulfillment]) -> Table:
    table = Table("id", "status", "payouts", "total", "created (UTC)", "by", title="Fulfillments")
    for f in rows:
        totals = ", ".join(_money(total, units) for units, total in f.totals.items())
        table.add_row(str(f.id), f.status, str(f.payout_count), totals,
                      f"{f.created_at:%Y-%m-%d %H:%M}", f.actor)
    return table


def _payout_table(rows: Sequence[Payout], title: str = "Payouts") -> Table:
    table = Table("payout", "collaborator", "amount", "status", "obligations", "reference",
                  title=title)
    for p in rows:
        table.add_row(str(p.id), p.collaborator, _money(p.amount, p.units), p.status,
                      " ".join(str(k) for k in p.obligation_ids),
                      p.reference or p.reason or "")
    return table


def _echo_generated(result: GenerateResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "fulfillment": None if result.fulfillment is None
            else fulfillment_json(result.fulfillment),
            "carried_forward": [{"collaborator": c.collaborator, "units": c.units,
                                 "amount": amount_text(c.amount, c.units),
                                 "minimum": amount_text(c.minimum, c.units),
                                 "obligation_ids": list(c.obligation_ids)}
                                for c in result.carried_forward],
            "refused": [{"id": o.id, "status": o.status, "reason": o.reason}
                        for o in result.refused],
            "approved": list(result.approved)}))
        return
    out = console()
    if result.fulfillment is None:
        out.print("nothing to fulfil: no approved obligation is free and above the minimum")
    else:
        out.print(_fulfillment_table([result.fulfillment]))
        out.print(_payout_table(result.fulfillment.payouts))
    if result.approved:
        out.print(f"approved to join it: obligations {' '.join(map(str, result.approved))}")
    for c in result.carried_forward:
        out.print(f"carried forward: {c.collaborator} {_money(c.amount, c.units)} is under "
                  f"the minimum of {_money(c.minimum, c.units)} "
                  f"(obligations {' '.join(str(k) for k in c.obligation_ids)})")
    for o in result.refused:
        out.print(f"[red]refused[/red] obligation {o.id}: {o.reason}")


@click.group()
def fulfill() -> None:
    """Batch approved obligations into payouts, export them, and record the outcome."""


@fulfill.command("generate")
@DATABASE_OPTION
@click.option("--obligation", "obligation_ids", type=STORE_ID, multiple=True,
              help="Only these obligations (repeatable); default: every approved one.")
@click.option("--minimum", multiple=True, metavar="CURRENCY=AMOUNT",
              help="Minimum payout per currency, e.g. USD=50.00 (repeatable); smaller "
              "totals are carried forward.")
@click.option("--include-pending", is_flag=True,
              help="Take pending obligations too, as Siren does; those put in a payout are "
              "approved (audited), those carried forward stay pending.")
@ACTOR_OPTION
@JSON_OPTION
def generate(database: str, obligation_ids: tuple[int, ...], minimum: tuple[str, ...],
             include_pending: bool, actor: str | None, as_json: bool) -> None:
    """Create a fulfillment: one payout per collaborator and currency."""
    floors = _minimum(minimum)
    with reading(database) as kernel:
        result = kernel.generate_fulfillment(obligation_ids or None, minimum=floors,
                                             actor=_actor(actor),
                                             include_pending=include_pending)
    _echo_generated(result, as_json)


@fulfill.command("list")
@DATABASE_OPTION
@click.option("--status", default=None, help="pending, processing, complete or failed.")
@JSON_OPTION
def list_fulfillments(database: str, status: str | None, as_json: bool) -> None:
    """List fulfillments."""
    with inspecting(database) as kernel:
        rows = kernel.fulfillments(status=status)
    if as_json:
        click.echo(json.dumps([fulfillment_json(f) for f in rows]))
        return
    console().print(_fulfillment_table(rows))


@fulfill.command("show")
@DATABASE_OPTION
@click.argument("fulfillment_id", type=STORE_ID)
@JSON_OPTION
def show_fulfillment(database: str, fulfillment_id: int, as_json: bool) -> None:
    """One fulfillment and its payouts."""
    with inspecting(database) as kernel:
        value = kernel.fulfillment(fulfillment_id)
    if as_json:
        click.echo(json.dumps(fulfillment_json(value)))
        return
    console().print(_fulfillment_table([value]))
    console().print(_payout_table(value.payouts))


@fulfill.command("export")
@DATABASE_OPTION
@click.argument("fulfillment_id", type=STORE_ID)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write the CSV here instead of standard output.")
@click.option("--all", "all_payouts", is_flag=True,
              help="Every payout, not only unpaid and processing ones.")
def export(database: str, fulfillment_id: int, output: Path | None, all_payouts: bool) -> None:
    """The fulfillment as CSV for a payment provider's mass-payout upload."""
    with Kernel(database) as kernel:
        text = kernel.export_fulfillment_csv(fulfillment_id, all_payouts=all_payouts)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _mark_command(name: str, status: str, summary: str) -> click.Command:
    @click.command(name, help=summary)
    @DATABASE_OPTION
    @click.option("--fulfillment", "fulfillment_id", type=STORE_ID, default=None,
                  help="Every open payout of this fulfillment.")
    @click.option("--payout", "payout_ids", type=STORE_ID, multiple=True,
                  help="This payout (repeatable).")
    @click.option("--reference", default=None, help="The payment provider's reference.")
    @ACTOR_OPTION
    @REASON_OPTION
    @JSON_OPTION
    def command(database: str, fulfillment_id: int | None, payout_ids: tuple[int, ...],
                reference: str | None, actor: str | None, reason: str | None,
                as_json: bool) -> None:
        if (fulfillment_id is None) == (not payout_ids):
            raise click.UsageError("give either --fulfillment or --payout")
        options: dict[str, Any] = {"actor": _actor(actor), "reference": reference,
                                   "reason": reason}
        with Kernel(database) as kernel:
            if fulfillment_id is not None:
                value = kernel.mark_fulfillment(fulfillment_id, status, **options)
                payouts = list(value.payouts)
            else:
                payouts = [kernel.mark_payout(key, status, **options) for key in payout_ids]
        if as_json:
            click.echo(json.dumps([payout_json(p) for p in payouts]))
        else:
            console().print(_payout_table(payouts))

    return command


for _name, _status, _summary in (
        ("mark-processing", "processing", "Payouts were sent to the payment provider."),
        ("mark-paid", "paid", "Payouts were paid: their obligations become fulfilled."),
        ("mark-failed", "failed",
         "Payouts failed: their obligations return to the approved pool.")):
    fulfill.add_command(_mark_command(_name, _status, _summary))


def register(cli: click.Group) -> None:
    cli.add_command(obligations)
    cli.add_command(fulfill)
