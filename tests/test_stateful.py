"""A stateful hypothesis test over the kernel API: sales, refunds, visits, group edits and
bindings, configuration changes, heartbeats at advancing times, approvals, fulfilments,
paid and failed payouts — with every invariant of the store checked after every step.

It runs on SQLite, and on PostgreSQL when ``SIREN_TEST_POSTGRES_URL`` is set. Example
counts stay modest for the default run; ``pytest --long`` runs five times more.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from siren_core import Kernel
from siren_core.errors import InvalidInput
from siren_core.verify import verify

PEOPLE = ["ann", "ben", "cat", "dan", "eve"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def _distributors() -> list[dict[str, object]]:
    common = {"units": "USD", "start": "2026-01-01", "pool": {"resolver": "fixed",
                                                             "amount": "100.00"}}
    return [
        {**common, "id": "weekly", "name": "Weekly", "schedule": "weekly",
         "calculator": {"id": "proportional"},
         "metrics": [{"type": "sale", "points": 5}, {"type": "visit", "points": 1}]},
        {**common, "id": "monthly", "name": "Monthly", "schedule": "monthly",
         "pool": {"resolver": "revenue_percentage", "percent": "10"},
         "calculator": {"id": "top_score"},
         "metrics": [{"type": "sale", "value": "amount"}]},
        {**common, "id": "cascade", "name": "Cascade", "schedule": "monthly",
         "calculator": {"id": "equal_share"},
         "metrics": [{"type": "sale", "credit": {"rule": "upline_cascade",
                                                 "layers": [10, 5]}}]},
    ]


class KernelMachine(RuleBasedStateMachine):
    database_url: str

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.sales: list[tuple[str, int, datetime]] = []
        self.refunded: dict[str, int] = {}
        self.counter = 0
        url = self.database_url
        if url.startswith("postgresql"):
            from conftest import _reset_postgres

            _reset_postgres(url)
        else:
            self.folder = tempfile.TemporaryDirectory()
            url = f"sqlite:///{self.folder.name}/siren.db"
        self.kernel = Kernel(url, clock=lambda: self.now)

    def teardown(self) -> None:
        self.kernel.close()

    def _next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    @initialize()
    def set_up(self) -> None:
        for name in PEOPLE:
            self.kernel.create_collaborator(name)
        for spec in _distributors():
            self.kernel.create_distributor(spec)
        self.kernel.create_group("chain", structure="linear_chain", members=[
            {"collaborator": name, "position": index} for index, name in enumerate(PEOPLE)])

    def _when(self, offset: timedelta) -> str:
        return (self.now + offset).isoformat()

    @rule(who=st.sampled_from([*PEOPLE, None]), cents=st.integers(1, 500_000),
          hours=st.integers(0, 24 * 20))
    def sale(self, who: str | None, cents: int, hours: int) -> None:
        key, at = self._next_id("o"), self.now + timedelta(hours=hours)
        event = {"id": key, "at": at.isoformat(),
                 "amount": str(Decimal(cents) / 100), "currency": "USD"}
        if who:
            event["collaborator"] = who
        self.kernel.record("sale", event)
        self.sales.append((key, cents, at))

    @rule(who=st.sampled_from(PEOPLE), hours=st.integers(0, 24 * 20))
    def visit(self, who: str, hours: int) -> None:
        self.kernel.record("visit", {"id": self._next_id("v"), "collaborator": who,
                                     "at": self._when(timedelta(hours=hours))})

    @precondition(lambda self: bool(self.sales))
    @rule(pick=st.integers(0, 10**6), share=st.integers(1, 100))
    def refund(self, pick: int, share: int) -> None:
        key, cents, sold_at = self.sales[pick % len(self.sales)]
        left = cents - self.refunded.get(key, 0)
        amount = max(1, left * share // 100)
        at = max(self.now, sold_at + timedelta(hours=1))
        event = {"id": self._next_id("r"), "at": at.isoformat(), "sale": key,
                 "amount": str(Decimal(amount) / 100)}
        if left <= 0:
            with pytest.raises(InvalidInput):
                self.kernel.record("refund", event)
            return
        self.kernel.record("refund", event)
        self.refunded[key] = self.refunded.get(key, 0) + amount

    @rule(group=st.sampled_from(["chain", None]))
    def bind(self, group: str | None) -> None:
        self.kernel.bind_distributor("cascade", group)

    @rule(who=st.sampled_from(PEOPLE), present=st.booleans())
    def edit_members(self, who: str, present: bool) -> None:
        members = {m.collaborator for m in self.kernel.group_members("chain")}
        if present and who not in members:
            self.kernel.add_group_members("chain", [{"collaborator": who, "position": 9}])
        elif not present and who in members:
            self.kernel.remove_group_member("chain", who)

    @rule(amount=st.sampled_from(["0.00", "0.03", "100.00", "12345.67"]))
    def change_config(self, amount: str) -> None:
        spec = next(s for s in _distributors() if s["id"] == "weekly")
        self.kernel.update_distributor({**spec, "pool": {"resolver": "fixed",
                                                         "amount": amount}})

    @rule(days=st.integers(1, 45))
    def heartbeat(self, days: int) -> None:
        self.now += timedelta(days=days)
        report = self.kernel.heartbeat(self.now)
        assert report.failed == ()

    @rule(share=st.integers(0, 100))
    def approve(self, share: int) -> None:
        pending = [o.id for o in self.kernel.obligations(status="pending")]
        self.kernel.approve_obligations(pending[: len(pending) * share // 100])

    @rule(minimum=st.sampled_from([None, 1, 5000]))
    def fulfil(self, minimum: int | None) -> None:
        self.kernel.generate_fulfillment(minimum={"USD": minimum} if minimum else None)

    @rule(paid=st.booleans())
    def settle(self, paid: bool) -> None:
        for payout in self.kernel.payouts(status="unpaid")[:2]:
            self.kernel.mark_payout(payout.id, "paid" if paid else "failed")

    @invariant()
    def store_is_consistent(self) -> None:
        if hasattr(self, "kernel"):
            assert [str(v) for v in verify(self.kernel)] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_kernel_keeps_its_invariants(backend: str, pytestconfig: pytest.Config) -> None:
    if backend == "postgresql":
        url = os.environ.get("SIREN_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("PostgreSQL not configured: set SIREN_TEST_POSTGRES_URL to run")
    else:
        url = "sqlite"
    scale = 5 if pytestconfig.getoption("--long") else 1
    KernelMachine.database_url = url
    machine = KernelMachine.TestCase
    machine.settings = settings(max_examples=20 * scale, stateful_step_count=25,
                                deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
    machine().runTest()
