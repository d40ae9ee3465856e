"""The allocation context a calculator gets: the period, its scores and lazy views.

The views (scores by metric, credits, history) are bound here to read functions of
:mod:`siren_core.store.distribution_queries` on the connection of the transaction that
distributes the period; nothing is read until a calculator uses a view, so a calculator
that uses none costs not one statement more. No session or table model reaches a plugin:
the views hold plain records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from siren_core.catalog import ConfiguredDistributor
from siren_core.records import (
    AllocationContext,
    Credits,
    History,
    PastPeriod,
    Period,
    PeriodCredit,
    ScoresByMetric,
)
from siren_core.store import Connection, distribution_queries


def allocation_context(conn: Connection, distributor: ConfiguredDistributor, pool: int,
                       start: datetime, end: datetime, scores: Mapping[str, int]
                       ) -> AllocationContext:
    """The context of the window ``[start, end)``, its views reading through ``conn``."""
    key = distributor.key

    def by_metric() -> dict[str, dict[str, int]]:
        found = distribution_queries.period_scores_by_metric(conn, key, start, end)
        return {name: found[name] for name in scores if name in found}

    def credits() -> tuple[PeriodCredit, ...]:
        return tuple(PeriodCredit(*row) for row
                     in distribution_queries.period_credits(conn, key, start, end)
                     if row[1] in scores)

    def history() -> tuple[PastPeriod, ...]:
        found = distribution_queries.past_scores(conn, key)
        paid = distribution_queries.past_amounts(conn, key)
        return tuple(PastPeriod(index=index, start=first, end=last, pool=amount,
                                scores=found.get(distribution, {}),
                                amounts=paid.get(distribution, {}))
                     for distribution, index, first, last, amount
                     in distribution_queries.past_periods(conn, key))

    period = Period(distributor=distributor.spec.id, start=start, end=end,
                    timezone=distributor.spec.schedule.timezone,
                    config_version=distributor.version)
    return AllocationContext(
        distributor=distributor.spec.id, currency=distributor.currency, pool=pool,
        scores=scores, period=period, scores_by_metric=ScoresByMetric(by_metric),
        credits=Credits(credits), history=History(history))
