"""The invariant checker: what must hold in every store, whatever happened to it.

``verify(kernel)`` runs every check of :mod:`siren_core.store.verify_queries` in one
read-only transaction and returns the violations (an empty list: all invariants hold).
The reliability suites run it after every crash and every step; ``siren doctor --verify``
runs it against a live database.
"""

from __future__ import annotations

from typing import Any

import attrs

from siren_core.kernel import Kernel
from siren_core.store import unit_of_work
from siren_core.store.verify_queries import CHECKS


@attrs.frozen
class Violation:
    invariant: str
    rows: tuple[tuple[Any, ...], ...]

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.rows[:5]))
        more = f" (+{len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
        return f"{self.invariant}: {shown}{more}"


def verify(kernel: Kernel) -> list[Violation]:
    with unit_of_work(kernel.engine, write=False) as conn:
        return [Violation(name, tuple(rows)) for name, check in CHECKS.items()
                if (rows := check(conn))]
