"""The ``streak`` allocation calculator: only the regulars share the pool.

``calculator = { id = "streak", min_days = 3 }``. A collaborator qualifies when they were
active on at least ``min_days`` distinct days of the period: a day counts when their
credits on it sum above zero, days being local dates in the distributor's time zone
(``Period.timezone``), and late credits (counted in this period for an event of an
earlier one) count towards the score but on no day. The qualified split the pool in
proportion to their scores (:func:`siren_core.money.split`). When nobody qualifies the
calculator declines (:class:`~siren_core.records.Decline`), naming ``min_days``.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import attrs

from siren_core import hookimpl
from siren_core.errors import InvalidInput
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext, Decline


def _at_least_one(_instance: object, _attribute: object, value: int) -> None:
    if value < 1:
        raise InvalidInput("min_days", value, "must be 1 or more")


@attrs.frozen
class Streak:
    min_days: int = attrs.field(default=3, validator=_at_least_one,
                                metadata={"json_schema": {"minimum": 1}})


def active_days(context: AllocationContext) -> dict[str, int]:
    """collaborator → the number of local days of the period with net points above zero."""
    zone = ZoneInfo(context.period.timezone if context.period is not None else "UTC")
    per_day: dict[tuple[str, date], int] = {}
    for credit in context.credits:
        if not credit.late and credit.collaborator in context.scores:
            day = (credit.collaborator, credit.at.astimezone(zone).date())
            per_day[day] = per_day.get(day, 0) + credit.points
    days = dict.fromkeys(context.scores, 0)
    for (name, _day), points in per_day.items():
        if points > 0:
            days[name] += 1
    return days


def allocate(context: AllocationContext, config: Streak | None) -> dict[str, int] | Decline:
    min_days = config.min_days if config is not None else 3
    qualified = {name: context.scores[name] for name, days in active_days(context).items()
                 if days >= min_days}
    if not qualified:
        return Decline(f"no collaborator was active on {min_days} or more days "
                       "of the period (min_days)")
    return split(context.pool, qualified)


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="streak",
                                 description="Pool split among those active on enough days",
                                 allocate=allocate, config_type=Streak)]
