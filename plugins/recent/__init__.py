"""The ``recent`` allocation calculator: recent activity counts more (SourceCred's RECENT).

Each credit of the period weighs ``points × 2^(-age / half_life_days)``, its age being the
time from the credit (``PeriodCredit.at``) to the period's end, in days; the pool is split
in proportion to each collaborator's weighted points
(``calculator = { id = "recent", half_life_days = 7 }``; a decimal string such as
``"3.5"`` is accepted too). A credit at the period's end weighs its full points, one a
half-life before half of them.

Exact and deterministic: each decay factor is computed with the ``decimal`` module at
:data:`PRECISION` significant digits and truncated to :data:`PLACES` decimal places, so
every weight is an integer number of 10^-18 points, and the split is
:func:`siren_core.money.split` (largest remainder). The same credits give the same cents on
SQLite and PostgreSQL. A collaborator whose weighted points come to zero or less (a recent
refund outweighing older sales) gets nothing; when that leaves no weight at all (or every
factor truncates to zero, for credits hundreds of half-lives old) the pool is split in
proportion to the plain scores.
"""

from __future__ import annotations

import decimal
from datetime import datetime
from decimal import Decimal

import attrs

from siren_core import hookimpl
from siren_core.errors import InvalidInput
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext

PRECISION = 40
"""Significant digits of the decay factors' arithmetic."""
PLACES = 18
"""Decimal places a decay factor keeps (the rest is truncated)."""
_SCALE = 10**PLACES
_MICROSECONDS_PER_DAY = Decimal(86_400 * 10**6)


def _positive(_instance: object, _attribute: object, value: Decimal) -> None:
    if not value > 0:
        raise InvalidInput("half_life_days", str(value), "must be greater than 0")


@attrs.frozen
class Recent:
    half_life_days: Decimal = attrs.field(default=Decimal(7), validator=_positive)


def decay(age_microseconds: int, half_life_days: Decimal) -> int:
    """``2^(-age / half_life)`` as an integer number of 10^-18 (truncated); age ≥ 0."""
    with decimal.localcontext(decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_EVEN)):
        exponent = -(Decimal(age_microseconds) / _MICROSECONDS_PER_DAY) / half_life_days
        factor = Decimal(2) ** exponent
        return int((factor * _SCALE).to_integral_value(rounding=decimal.ROUND_FLOOR))


def _age(end: datetime, at: datetime) -> int:
    delta = end - at
    return max((delta.days * 86_400 + delta.seconds) * 10**6 + delta.microseconds, 0)


def weights(context: AllocationContext, half_life_days: Decimal) -> dict[str, int]:
    """collaborator → weighted points (integer, in 10^-18 points), zero or less dropped."""
    if context.period is None:
        raise InvalidInput("context.period", None, "is required by the recent calculator")
    end = context.period.end
    factors: dict[int, int] = {}
    totals = dict.fromkeys(context.scores, 0)
    for credit in context.credits:
        if credit.collaborator not in totals:
            continue
        age = _age(end, credit.at)
        if age not in factors:
            factors[age] = decay(age, half_life_days)
        totals[credit.collaborator] += credit.points * factors[age]
    return {name: weight for name, weight in totals.items() if weight > 0}


def allocate(context: AllocationContext, config: Recent | None) -> dict[str, int]:
    half_life = config.half_life_days if config is not None else Decimal(7)
    weighted = weights(context, half_life)
    if not weighted:
        return split(context.pool, context.scores)
    return {**dict.fromkeys(context.scores, 0), **split(context.pool, weighted)}


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="recent",
                                 description="Pool split by credits decaying with age",
                                 allocate=allocate, config_type=Recent)]
