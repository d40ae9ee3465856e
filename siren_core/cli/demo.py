"""``siren demo``: a month of sales, one heartbeat, a real distribution, shown."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from siren_core.cli.common import console
from siren_core.kernel import Kernel
from siren_core.money import amount_text

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


def _money(amount: int | None, units: str) -> str:
    return "" if amount is None else f"{amount_text(amount, units)} {units}"


def _print_distribution(kernel: Kernel, console: Console) -> None:
    for distribution in kernel.distributions(status="completed"):
        pool = _money(distribution.pool, distribution.units)
        console.print(f"\n[bold]{distribution.distributor}[/bold] period "
                      f"{distribution.period_start:%Y-%m-%d} → {distribution.period_end:%Y-%m-%d}"
                      f"  pool {pool}  calculator {distribution.calculator}"
                      + (f"  (nothing paid: {distribution.reason})" if distribution.reason else ""))
        table = Table("collaborator", "score", "share", "amount", title="Allocations")
        allocations = kernel.allocations(distribution.id)
        total_score = sum(a.score for a in allocations) or 1
        for allocation in allocations:
            table.add_row(allocation.collaborator, str(allocation.score),
                          f"{100 * allocation.score / total_score:.1f}%",
                          _money(allocation.amount, allocation.units))
        total = sum(a.amount for a in allocations)
        table.add_row("[bold]total[/bold]", "", "", f"[bold]{_money(total, distribution.units)}")
        console.print(table)
    table = Table("obligation", "collaborator", "amount", "status", "source",
                  title="Obligations")
    for obligation in kernel.obligations():
        table.add_row(str(obligation.id), obligation.collaborator,
                      _money(obligation.amount, obligation.units), obligation.status,
                      f"{obligation.source} #{obligation.source_id}")
    console.print(table)


@click.command()
@click.option("--database", default=None,
              help="Keep the demo in this database instead of a throwaway SQLite file.")
def demo(database: str | None) -> None:
    """Run a month of sales through a monthly distributor and show what it paid."""
    out = console()
    with tempfile.TemporaryDirectory() as folder:
        url = database or f"sqlite:///{Path(folder) / 'demo.db'}"
        with Kernel(url) as kernel:
            now = run_demo(kernel)
            out.print(f"siren demo: 4 collaborators, 8 sales in January 2026, "
                          f"a monthly distributor with a fixed pool of 1000.00 USD split in "
                          f"proportion to score; heartbeat at {now:%Y-%m-%d %H:%M} UTC.")
            _print_distribution(kernel, out)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
