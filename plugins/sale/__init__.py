"""The ``sale`` trigger strategy: a sale attributed to a collaborator, or to nobody.

A sale scores its collaborator (``points`` per sale, or its amount for metric types with
``value = "amount"``) and its revenue feeds revenue-based pools. An organic sale (no
collaborator) scores no one but still feeds the pool.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from siren_core import hookimpl
from siren_core.money import currency, to_minor
from siren_core.records import Metric, RevenueLine, TriggerStrategy


@attrs.frozen
class Sale:
    """A sale: ``amount`` in major units as a decimal string (``"120.00"``)."""

    id: str
    at: datetime
    amount: Decimal
    currency: str
    collaborator: str | None = None


def sale_metrics(sale: Sale) -> list[Metric]:
    unit = currency(sale.currency, field="sale.currency")
    amount = to_minor(sale.amount, unit, field="sale.amount")
    return [Metric(metric_type="sale", collaborator=sale.collaborator, amount=amount,
                   currency=unit, revenue=(RevenueLine("product", amount),))]


@hookimpl
def siren_trigger_strategies() -> list[TriggerStrategy]:
    return [TriggerStrategy(id="sale", description="A sale attributed to a collaborator",
                            event_type=Sale, metrics=sale_metrics)]
