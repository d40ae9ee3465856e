"""The ``sale`` trigger strategy: a sale attributed to a collaborator, or to nobody.

A sale scores its collaborator (``points`` per sale, or its amount for metric types with
``value = "amount"``) and its revenue feeds revenue-based pools. An organic sale (no
collaborator) scores no one but still feeds the pool.

``amount`` is what the customer paid, in major units as a decimal string. ``lines``
optionally break it down (``product``, ``fee``, ``shipping``, ``tax``, ``discount``, each
with an optional ``sku``, ``category`` and product ``type``); when lines are given,
``amount`` must equal the sum of the lines with discounts subtracted. Without lines the
whole amount is one ``product`` line. Which lines count towards a distributor's revenue is
decided by its transaction compilers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from siren_core import hookimpl
from siren_core.errors import InvalidInput
from siren_core.money import INT64_MAX, Currency, currency, format_minor, to_minor
from siren_core.records import REVENUE_LINE_KINDS, Metric, RevenueLine, TriggerStrategy


@attrs.frozen
class SaleLine:
    """One line of a sale: ``amount`` in major units, ≥ 0 (a discount is subtracted)."""

    kind: str
    amount: Decimal
    sku: str | None = None
    category: str | None = None
    type: str | None = None


@attrs.frozen
class Sale:
    """A sale: ``amount`` in major units as a decimal string (``"120.00"``)."""

    id: str
    at: datetime
    amount: Decimal
    currency: str
    collaborator: str | None = None
    lines: tuple[SaleLine, ...] = ()


@functools.cache
def _unit(code: str) -> Currency:
    return currency(code, field="sale.currency")


def _minor(amount: Decimal, unit: Currency, field: str) -> int:
    """``to_minor`` of an already parsed decimal; errors show the amount as written.

    The common case is decided with a few decimal operations in C: the scaled amount is a
    whole number, scaling it back gives the amount exactly (so no digit was rounded away
    by the decimal context) and it fits. Anything else goes through ``to_minor``, which
    gives the same result or the error.
    """
    scaled = amount.scaleb(unit.exponent)
    if (scaled == scaled.to_integral_value() and scaled.scaleb(-unit.exponent) == amount
            and 0 <= scaled <= INT64_MAX):
        return int(scaled)
    try:
        return to_minor(amount, unit, field=field)
    except InvalidInput as exc:
        raise InvalidInput(exc.field, str(amount), exc.problem) from None


def revenue_lines(lines: Sequence[SaleLine], unit: Currency) -> tuple[RevenueLine, ...]:
    found = []
    for index, line in enumerate(lines):
        where = f"sale.lines[{index}]"
        if line.kind not in REVENUE_LINE_KINDS:
            raise InvalidInput(f"{where}.kind", line.kind,
                               f"is not one of {', '.join(REVENUE_LINE_KINDS)}")
        found.append(RevenueLine(line.kind, _minor(line.amount, unit, f"{where}.amount"),
                                 sku=line.sku, category=line.category, type=line.type))
    return tuple(found)


def net_of(lines: Sequence[RevenueLine]) -> int:
    """The sum of the lines, discounts subtracted."""
    return sum(-line.amount if line.kind == "discount" else line.amount for line in lines)


def sale_metrics(sale: Sale) -> list[Metric]:
    unit = _unit(sale.currency)
    amount = _minor(sale.amount, unit, "sale.amount")
    if sale.lines:
        lines = revenue_lines(sale.lines, unit)
        if net_of(lines) != amount:
            raise InvalidInput("sale.amount", str(sale.amount),
                               f"differs from its lines, which add up to "
                               f"{format_minor(net_of(lines), unit)} (discounts subtracted)")
    else:
        lines = (RevenueLine("product", amount),)
    return [Metric(metric_type="sale", collaborator=sale.collaborator, amount=amount,
                   currency=unit, revenue=lines)]


@hookimpl
def siren_trigger_strategies() -> list[TriggerStrategy]:
    return [TriggerStrategy(id="sale", description="A sale attributed to a collaborator, "
                            "or organic (no collaborator)", event_type=Sale, metrics=sale_metrics,
                            metric_types=("sale",))]
