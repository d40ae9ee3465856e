"""The ``proportional`` allocation calculator (Siren's Performance Weighted Pool).

Each collaborator with a positive score gets ``pool × score / total score``, split exactly
with the largest-remainder method: the parts sum to the pool, and leftover minor units go
to the largest remainders (ties: larger score, then smaller collaborator id).
"""

from __future__ import annotations

import attrs

from siren_core import hookimpl
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext


@attrs.frozen
class Proportional:
    """``proportional`` takes no options (an unknown key is refused)."""


def allocate(context: AllocationContext, _config: Proportional | None) -> dict[str, int]:
    return split(context.pool, context.scores)


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="proportional",
                                 description="Pool split in proportion to score",
                                 allocate=allocate, config_type=Proportional)]
