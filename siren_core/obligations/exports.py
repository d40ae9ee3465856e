"""Exports of fulfillments: the mass-payout CSV a payment provider takes."""

from __future__ import annotations

import csv
import io

from siren_core.domain import (
    Fulfillment,
)
from siren_core.money import currency, format_minor
from siren_core.store import obligation_queries as oq


def fulfillment_csv(found: Fulfillment, *, all_payouts: bool = False) -> str:
    """The fulfillment as a mass-payout CSV: one row per open payout (every payout with
    ``all_payouts``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["payout_id", "collaborator", "email", "amount", "currency",
                     "amount_minor", "obligation_ids", "status"])
    for value in found.payouts:
        if all_payouts or value.status in oq.OPEN_PAYOUT_STATUSES:
            writer.writerow([
                value.id, value.collaborator, value.collaborator_email or "",
                format_minor(value.amount, currency(value.units)), value.units,
                value.amount, " ".join(str(key) for key in value.obligation_ids),
                value.status])
    return out.getvalue()

