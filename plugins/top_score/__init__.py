"""The ``top_score`` allocation calculator (Siren's Top Score Wins).

The collaborator with the highest score takes the whole pool; nobody else gets anything.
Ties are decided by the configuration's ``ties``:

``"split"`` (the default)
    the pool is split equally among the tied leaders
    (:func:`siren_core.money.split_equally`: leftover minor units go to the smallest ids);
``"lowest_id"``
    the tied leader with the smallest collaborator id takes the whole pool.

``calculator = { id = "top_score", ties = "lowest_id" }``
"""

from __future__ import annotations

from typing import Literal, get_args

import attrs

from siren_core import hookimpl
from siren_core.errors import InvalidInput
from siren_core.money import split_equally
from siren_core.records import AllocationCalculator, AllocationContext

TieRule = Literal["split", "lowest_id"]
TIE_RULES: tuple[TieRule, ...] = get_args(TieRule)


def _known_rule(_instance: object, _attribute: object, value: str) -> None:
    if value not in TIE_RULES:
        raise InvalidInput("ties", value, f"is not one of {', '.join(TIE_RULES)}")


@attrs.frozen
class TopScore:
    ties: TieRule = attrs.field(default="split", validator=_known_rule)


def leaders(scores: dict[str, int]) -> list[str]:
    """The collaborators holding the highest positive score, by id."""
    best = max(scores.values(), default=0)
    return sorted(name for name, score in scores.items() if score == best) if best > 0 else []


def allocate(context: AllocationContext, config: TopScore | None) -> dict[str, int]:
    ties = config.ties if config is not None else "split"
    winners = leaders(dict(context.scores))
    if not winners:
        return {}
    if ties == "lowest_id":
        winners = winners[:1]
    return {**dict.fromkeys(context.scores, 0), **split_equally(context.pool, winners)}


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="top_score", description="The top score takes the pool",
                                 allocate=allocate, config_type=TopScore)]
