"""The ``coupon`` trigger strategy (Siren's ``boundCouponUsed``).

A coupon bound to a collaborator was used by a customer. Each use is one ``coupon`` metric
for that collaborator. When the order amount is given (a decimal string in major units,
with its ``currency``), the metric carries it, so a distributor can score coupons by value
(``value = "amount"``) and a revenue pool counts the order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs
from siren_core.errors import InvalidInput
from siren_core.money import currency, to_minor
from siren_core.records import Metric, RevenueLine, TriggerStrategy


@attrs.frozen
class CouponUsed:
    """One use of a coupon: ``id`` is the idempotency key (e.g. the order id)."""

    id: str
    at: datetime
    collaborator: str
    code: str
    amount: Decimal | None = None
    currency: str | None = None


def coupon_metrics(event: CouponUsed) -> list[Metric]:
    if not event.code.strip():
        raise InvalidInput("coupon.code", event.code, "must not be empty")
    if event.amount is None:
        return [Metric(metric_type="coupon", collaborator=event.collaborator)]
    if event.currency is None:
        raise InvalidInput("coupon.currency", None, "is required with an amount")
    unit = currency(event.currency, field="coupon.currency")
    amount = to_minor(event.amount, unit, field="coupon.amount")
    return [Metric(metric_type="coupon", collaborator=event.collaborator, amount=amount,
                   currency=unit, revenue=(RevenueLine("product", amount),))]


STRATEGY = TriggerStrategy(
    id="coupon", description="A coupon bound to a collaborator was used (boundCouponUsed)",
    event_type=CouponUsed, metrics=coupon_metrics, metric_types=("coupon",))
