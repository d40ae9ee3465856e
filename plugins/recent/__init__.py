"""The ``recent`` allocation calculator: recent activity counts more (SourceCred's RECENT).

Each credit of the period weighs ``points × 2^(-age / half_life_days)``, its age being the
time from the credit (``PeriodCredit.at``) to the period's end, in days; the pool is split
in proportion to each collaborator's weighted points
(``calculator = { id = "recent", half_life_days = 7 }``; a decimal string such as
``"3.5"`` is accepted too). A credit at the period's end weighs its full points, one a
half-life before half of them.

Exact and deterministic: ages are whole seconds (truncated). The decay factor of an age
is the product of the factors of its days, hours, minutes and seconds, each
``exp(-t × ln 2 / half_life)`` computed with the ``decimal`` module at
:data:`PRECISION` significant digits (every operation correctly rounded, half-even),
and the product is rounded half-even to :data:`PLACES` decimal places: every weight is
an integer number of 10^-18 points, the few distinct parts are computed once per
period, and the split is :func:`siren_core.money.split` (largest remainder). The same
credits give the same cents on SQLite and PostgreSQL.

A collaborator whose weighted points come to zero or less (a recent refund outweighing
older sales) gets nothing; when that leaves no weight at all (or every factor rounds to
zero, for credits some sixty half-lives old) the pool is split in proportion to the
plain scores.
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
"""Decimal places a decay factor keeps (rounded half-even)."""
_DECIMALS = decimal.Context(prec=PRECISION, rounding=decimal.ROUND_HALF_EVEN)
_LN2 = _DECIMALS.ln(Decimal(2))
_UNIT = Decimal(1)


def _positive(_instance: object, _attribute: object, value: Decimal) -> None:
    if not value > 0:
        raise InvalidInput("half_life_days", str(value), "must be greater than 0")


@attrs.frozen
class Recent:
    # the schema says "greater than 0" as the validator does: for a number and for text
    half_life_days: Decimal = attrs.field(default=Decimal(7), validator=_positive, metadata={
        "json_schema": {"exclusiveMinimum": 0,
                        "pattern": r"^(?!0+(?:\.0+)?$)[0-9]+(?:\.[0-9]+)?$"}})


class Decay:
    """The decay factors of one half-life, by whole seconds of age, from cached parts."""

    def __init__(self, half_life_days: Decimal) -> None:
        d = _DECIMALS
        self._per_second = d.divide(-_LN2, d.multiply(half_life_days, Decimal(86_400)))
        self._parts: dict[int, Decimal] = {}

    def _part(self, seconds: int) -> Decimal:
        found = self._parts.get(seconds)
        if found is None:
            found = _DECIMALS.exp(_DECIMALS.multiply(self._per_second, Decimal(seconds)))
            self._parts[seconds] = found
        return found

    def __call__(self, age_seconds: int) -> int:
        """``2^(-age / half_life)`` as an integer number of 10^-18 (rounded); age ≥ 0."""
        days, rest = divmod(age_seconds, 86_400)
        hours, rest = divmod(rest, 3_600)
        minutes, seconds = divmod(rest, 60)
        d = _DECIMALS
        factor = d.multiply(d.multiply(self._part(days * 86_400), self._part(hours * 3_600)),
                            d.multiply(self._part(minutes * 60), self._part(seconds)))
        return int(d.quantize(d.scaleb(factor, PLACES), _UNIT))


def decay(age_seconds: int, half_life_days: Decimal) -> int:
    """One decay factor (see :class:`Decay`)."""
    return Decay(half_life_days)(age_seconds)


def _age(end: datetime, at: datetime) -> int:
    """Whole seconds from ``at`` to ``end`` (0 if ``at`` is later)."""
    delta = end - at
    return max(delta.days * 86_400 + delta.seconds, 0)


def weights(context: AllocationContext, half_life_days: Decimal) -> dict[str, int]:
    """collaborator → weighted points (integer, in 10^-18 points), zero or less dropped."""
    if context.period is None:
        raise InvalidInput("context.period", None, "is required by the recent calculator")
    end = context.period.end
    factor_of = Decay(half_life_days)
    factors: dict[int, int] = {}
    totals = dict.fromkeys(context.scores, 0)
    for credit in context.credits:
        if credit.collaborator not in totals:
            continue
        age = _age(end, credit.at)
        factor = factors.get(age)
        if factor is None:
            factor = factors[age] = factor_of(age)
        totals[credit.collaborator] += credit.points * factor
    return {name: weight for name, weight in totals.items() if weight > 0}


def allocate(context: AllocationContext, config: Recent | None) -> dict[str, int]:
    half_life = config.half_life_days if config is not None else Decimal(7)
    return split(context.pool, weights(context, half_life) or context.scores)


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="recent",
                                 description="Pool split by credits decaying with age",
                                 allocate=allocate, config_type=Recent)]
