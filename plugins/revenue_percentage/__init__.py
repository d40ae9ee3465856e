"""The ``revenue_percentage`` pool resolver: a percentage of the period's qualifying revenue.

Configuration: ``percent`` as a decimal string between 0 and 100
(``pool = { resolver = "revenue_percentage", percent = "12.5" }``). The pool is
``floor(revenue × percent / 100)`` in minor units of the distributor's currency, computed
exactly (no floats, no decimal-context rounding); a period with zero or negative net
revenue has a zero pool. Distributors using it have their qualifying revenue tracked
(``uses_revenue=True``).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import attrs

from siren_core import hookimpl
from siren_core.errors import InvalidInput
from siren_core.money import Currency
from siren_core.records import PoolContext, PoolResolver

_HUNDRED = Decimal(100)
MAX_PERCENT_PLACES = 12
"""Decimal places a percentage may have (``"12.5"`` has one)."""


@attrs.frozen
class RevenuePercentage:
    percent: Decimal


def check(config: RevenuePercentage, _units: Currency) -> None:
    if not Decimal(0) <= config.percent <= _HUNDRED:
        raise InvalidInput("pool.percent", str(config.percent), "must lie between 0 and 100")
    exponent = config.percent.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PERCENT_PLACES:
        raise InvalidInput("pool.percent", str(config.percent),
                           f"has more than {MAX_PERCENT_PLACES} decimal places")


def pool_of(revenue: int, percent: Decimal) -> int:
    """``floor(revenue × percent / 100)``, exactly; 0 for a revenue of 0 or less."""
    if revenue <= 0:
        return 0
    exact = Fraction(revenue) * Fraction(percent) / 100
    return exact.numerator // exact.denominator


def resolve(context: PoolContext, config: RevenuePercentage) -> int:
    return pool_of(context.revenue, config.percent)


@hookimpl
def siren_pool_resolvers() -> list[PoolResolver]:
    return [PoolResolver(id="revenue_percentage",
                         description="A percentage of the period's qualifying revenue",
                         resolve=resolve, config_type=RevenuePercentage, uses_revenue=True,
                         check=check)]
