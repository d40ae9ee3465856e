"""The invariant checker finds each kind of damage (and nothing in a healthy store)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from siren_core import Kernel
from siren_core.verify import verify

from conftest import at, monthly, sale


@pytest.fixture
def paid_store(kernel: Kernel) -> Kernel:
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-1", "alice", "10.00", "2026-01-02T00:00:00Z"))
    kernel.record("sale", sale("o-2", "bob", "10.00", "2026-01-03T00:00:00Z"))
    kernel.heartbeat(at("2026-03-01"))
    assert verify(kernel) == []
    return kernel


@pytest.mark.parametrize(("damage", "invariant"), [
    ("UPDATE allocation SET amount = amount + 1 WHERE id = 1", "allocations_sum_to_pool"),
    ("UPDATE allocation SET amount = 0 WHERE id = 1", "allocations_positive"),
    ("DELETE FROM obligation_audit WHERE obligation_id = 2; DELETE FROM obligation WHERE id = 2",
     "one_obligation_per_allocation"),
    ("UPDATE obligation SET amount = 1 WHERE id = 1", "one_obligation_per_allocation"),
    ("UPDATE distribution SET period_start = period_start + INTERVAL '1 hour' "
     "WHERE period_index = 1", "periods_contiguous"),
    ("UPDATE distribution SET status = 'open' WHERE period_index = 0",
     "one_open_period_per_distributor"),
    ("UPDATE score_credit SET points = points + 1 WHERE id = 1",
     "scores_reset_at_period_bounds"),
    ("UPDATE distribution SET carried_in = 5 WHERE period_index = 2",
     "carried_pools_explained"),
    ("UPDATE distribution SET carried_out = 5 WHERE period_index = 0",
     "carried_pools_explained"),
])
def test_each_kind_of_damage_is_found(paid_store: Kernel, damage: str, invariant: str) -> None:
    if paid_store.engine.dialect.name == "sqlite":
        damage = damage.replace("period_start + INTERVAL '1 hour'",
                                "datetime(period_start, '+1 hour')")
    with paid_store.engine.begin() as conn:
        for statement in damage.split("; "):
            conn.execute(sa.text(statement))
    assert invariant in {violation.invariant for violation in verify(paid_store)}


def test_doctor_verify_reports_broken_invariants(paid_store: Kernel, database_url: str) -> None:
    import json

    from click.testing import CliRunner

    from siren_core.cli import cli

    healthy = CliRunner().invoke(cli, ["doctor", "--verify", "--database", database_url])
    assert healthy.exit_code == 0, healthy.output
    assert "Every invariant holds." in healthy.output
    with paid_store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE allocation SET amount = amount + 1 WHERE id = 1"))
    broken = CliRunner().invoke(cli, ["doctor", "--verify", "--json", "--database",
                                      database_url])
    assert broken.exit_code == 1
    violations = json.loads(broken.stdout)["violations"]
    assert [v["invariant"] for v in violations] == ["allocations_sum_to_pool",
                                                    "one_obligation_per_allocation"]
