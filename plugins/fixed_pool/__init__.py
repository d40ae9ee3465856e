"""The ``fixed`` pool resolver: every period distributes the same amount.

Configuration: ``amount`` in major units of the distributor's currency, as a decimal
string (``pool = { resolver = "fixed", amount = "500.00" }``), at most
``domain.MAX_AMOUNT`` minor units.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from siren_core import hookimpl
from siren_core.domain import MAX_AMOUNT
from siren_core.errors import InvalidInput
from siren_core.money import Currency, format_minor, to_minor
from siren_core.records import PoolContext, PoolResolver


@attrs.frozen
class FixedPool:
    amount: Decimal


def check(config: FixedPool, units: Currency) -> None:
    minor = to_minor(config.amount, units, field="pool.amount")
    if minor > MAX_AMOUNT:
        raise InvalidInput("pool.amount", str(config.amount),
                           f"is more than {format_minor(MAX_AMOUNT, units)} {units.code}")


def resolve(context: PoolContext, config: FixedPool) -> int:
    return to_minor(config.amount, context.currency, field="pool.amount")


@hookimpl
def siren_pool_resolvers() -> list[PoolResolver]:
    return [PoolResolver(id="fixed", description="The same amount every period",
                         resolve=resolve, config_type=FixedPool, check=check)]
