"""The ``balanced`` allocation calculator: lifetime catch-up (SourceCred's BALANCED).

``calculator = { id = "balanced" }`` (no options). With ``A`` everything the distributor
allocated in its earlier periods, ``P`` this period's pool and ``L(c)`` a collaborator's
lifetime score (their scores in every earlier completed period of the distributor plus
this period's), each collaborator's **target** is ``(A + P) × L(c) / ΣL``, ``ΣL`` summed
over everyone who ever scored for the distributor. The pool is split among this period's
scored collaborators in proportion to how far each is **below** target
(``target - paid so far``); those at or above it (the overpaid) get nothing this period.

Exact: the shortfalls are compared as the integers ``(A + P) × L(c) - paid(c) × ΣL``
(the shortfall times ``ΣL``), split with :func:`siren_core.money.split`.

Nobody below target: the shortfalls always add up to the pool over everyone who ever
scored, but the ones below target may all be collaborators who are not paid this period
(inactive, or without a score in it). Then this period's pool is split in proportion to
this period's scores, as ``proportional`` would.
"""

from __future__ import annotations

import attrs

from siren_core import hookimpl
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext


@attrs.frozen
class Balanced:
    """``balanced`` takes no options (an unknown key is refused)."""


def shortfalls(context: AllocationContext) -> dict[str, int]:
    """collaborator → (target - paid so far) × ΣL, for those of this period below target."""
    history = context.history
    lifetime = history.scores()
    for name, score in context.scores.items():
        lifetime[name] = lifetime.get(name, 0) + score
    total_score = sum(lifetime.values())
    total_pay = history.allocated + context.pool
    paid = history.amounts()
    found = {name: total_pay * lifetime[name] - paid.get(name, 0) * total_score
             for name in context.scores}
    return {name: gap for name, gap in found.items() if gap > 0}


def allocate(context: AllocationContext, _config: Balanced | None) -> dict[str, int]:
    return split(context.pool, shortfalls(context) or context.scores)


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="balanced",
                                 description="Pool split to catch up on lifetime score",
                                 allocate=allocate, config_type=Balanced)]
