"""The workload of the crash suite: set-up, the work a worker does, and what must hold.

``populate`` builds a store with several distributors and months of sales; ``work`` is
what one worker process does (heartbeat with catch-up, approve, fulfil, pay) and is safe
to run again after any interruption; ``expected_periods`` says which periods must end up
distributed.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from siren_core import Kernel

NOW = datetime(2026, 4, 1, tzinfo=UTC)
START = datetime(2026, 1, 1, tzinfo=UTC)
COLLABORATORS = 40

DISTRIBUTORS: list[dict[str, Any]] = [
    {"id": f"{calculator}-{schedule}", "name": f"{calculator} {schedule}", "units": "USD",
     "schedule": schedule, "start": "2026-01-01", "calculator": {"id": calculator},
     "pool": {"resolver": "fixed", "amount": "1000.00"},
     "metrics": [{"type": "sale", "points": 3}, {"type": "sale", "value": "amount"}]}
    for calculator, schedule in (("proportional", "monthly"), ("equal_share", "weekly"),
                                 ("top_score", "monthly"), ("proportional", "weekly"))
]


def populate(kernel: Kernel, seed: int = 7) -> None:
    rng = random.Random(seed)
    with kernel.transaction():
        for number in range(COLLABORATORS):
            kernel.create_collaborator(f"c{number:03d}")
        for spec in DISTRIBUTORS:
            kernel.create_distributor(spec)
    span = (NOW - START).total_seconds()
    events = [{"type": "sale", "id": f"o-{n}",
               "at": (START + timedelta(seconds=rng.uniform(0, span))).isoformat(),
               "collaborator": f"c{rng.randrange(COLLABORATORS):03d}",
               "amount": f"{rng.randint(1, 50000) / 100:.2f}", "currency": "USD"}
              for n in range(600)]
    report = kernel.record_many(events)
    assert not report.rejected, report.rejected


def work(kernel: Kernel) -> None:
    """Distribute everything due at NOW, approve what is pending, fulfil and pay it."""
    kernel.heartbeat(NOW)
    pending = [o.id for o in kernel.obligations(status="pending")]
    kernel.approve_obligations(pending, actor="crash-suite")
    kernel.generate_fulfillment(actor="crash-suite")
    for payout in kernel.payouts(status="unpaid"):
        kernel.mark_payout(payout.id, "paid", actor="crash-suite")


def expected_periods(kernel: Kernel) -> int:
    """How many periods end at or before NOW, over every distributor."""
    from siren_core.schedule import period_index_at

    return sum(period_index_at(d.spec.schedule, NOW) for d in kernel.distributors())


def sqlite_stores(directory: Path) -> Callable[[], str]:
    """A maker of populated SQLite stores: each call copies one populated template."""
    template = directory / "template.db"
    with Kernel(f"sqlite:///{template}") as kernel:
        populate(kernel)
    counter = iter(range(10**6))

    def make_store() -> str:
        target = directory / f"run-{next(counter)}.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"

    return make_store


def postgres_stores(url: str) -> Callable[[], str]:
    """A maker of populated PostgreSQL stores: each call empties ``url`` and populates it."""

    def make_store() -> str:
        from conftest import _reset_postgres

        _reset_postgres(url)
        with Kernel(url) as kernel:
            populate(kernel)
        return url

    return make_store
