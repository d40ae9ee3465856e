"""The ``proportional`` allocation calculator (Siren's Performance Weighted Pool).

Each collaborator with a positive score gets ``pool × score / total score``, split exactly
with the largest-remainder method: the parts sum to the pool, and leftover minor units go
to the largest remainders (ties: larger score, then smaller collaborator id).
"""

from __future__ import annotations

from typing import Any

from siren_core import hookimpl
from siren_core.money import split
from siren_core.records import AllocationCalculator, AllocationContext


def allocate(context: AllocationContext, _config: Any) -> dict[str, int]:
    return split(context.pool, context.scores)


@hookimpl
def siren_allocation_calculators() -> list[AllocationCalculator]:
    return [AllocationCalculator(id="proportional",
                                 description="Pool split in proportion to score",
                                 allocate=allocate)]
