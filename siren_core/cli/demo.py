"""The ``siren demo`` scenario: a month of sales, one heartbeat, a real distribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from siren_core.kernel import Kernel

DEMO_COLLABORATORS = (("alice", "Alice Moreau"), ("bob", "Bob Tanaka"),
                      ("carol", "Carol Okafor"), ("dan", "Dan Silva"))

DEMO_DISTRIBUTOR: dict[str, Any] = {
    "id": "monthly-bonus",
    "name": "Monthly sales bonus",
    "units": "USD",
    "schedule": "monthly",
    "start": "2026-01-01",
    "timezone": "UTC",
    "pool": {"resolver": "fixed", "amount": "1000.00"},
    "calculator": {"id": "proportional"},
    "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}],
}

# (collaborator or None for an organic sale, amount, day of January)
DEMO_SALES = (("alice", "120.00", 3), ("bob", "80.00", 5), ("alice", "45.50", 9),
              ("carol", "300.00", 12), (None, "60.00", 14), ("bob", "19.99", 20),
              ("alice", "75.00", 27), ("carol", "12.00", 30))


def run_demo(kernel: Kernel) -> datetime:
    """Populate ``kernel`` with the demo and run the heartbeat; returns the heartbeat time."""
    for key, name in DEMO_COLLABORATORS:
        kernel.create_collaborator(key, name=name)
    kernel.create_distributor(DEMO_DISTRIBUTOR)
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    for number, (collaborator, amount, day) in enumerate(DEMO_SALES, 1):
        event = {"id": f"order-{number}", "at": (start + timedelta(days=day - 1)).isoformat(),
                 "amount": amount, "currency": "USD"}
        if collaborator:
            event["collaborator"] = collaborator
        kernel.record("sale", event)
    now = datetime(2026, 2, 1, 0, 5, tzinfo=UTC)
    kernel.heartbeat(now)
    return now
