"""The ``equal_share`` allocation calculator (Siren's Shared Engagement Pool).

Every collaborator with a positive score gets an equal part of the pool: the score only
decides who qualifies (one tracked event is enough). The split is exact
(:func:`siren_core.money.split_equally`): when the pool does not divide evenly, the
leftover minor units go one each to the smallest collaborator ids.
"""

from __future__ import annotations

import attrs

from siren_core import hookimpl
from siren_core.money import split_equally
from siren_core.records import AllocationCalculator, AllocationContext


@attrs.frozen
class EqualShare:
    """``equal_share`` takes no options (an unknown key is refused)."""


def allocate(context: AllocationContext, _config: EqualShare | None) -> dict[str, int]:
    qualifying = [name for name, score in context.scores.items() if score > 0]
    if not qualifying:
        return {}
    shares = split_equally(context.pool, qualifying)
    return {**dict.fromkeys(context.scores, 0), **shares}


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="equal_share",
                                 description="Equal parts to everyone with a positive score",
                                 allocate=allocate, config_type=EqualShare)]
