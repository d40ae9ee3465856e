"""A distributor's units change: refused while its open period holds credits, applied to an
empty open period, never to what is already stored (issue 14, "changes that corrupt an
open period")."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.errors import InvalidInput
from siren_core.verify import verify

from conftest import at, monthly, sale


def _jpy(**overrides: object) -> dict[str, object]:
    return monthly(units="JPY", pool={"resolver": "fixed", "amount": "1000"}, **overrides)


def _setup(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly())


def test_a_units_change_is_refused_while_the_open_period_holds_credits(kernel: Kernel) -> None:
    _setup(kernel)
    kernel.record("sale", sale("o-1", "alice", "120.00"))
    with pytest.raises(InvalidInput) as refused:
        kernel.update_distributor(_jpy())
    assert refused.value.field == "units" and refused.value.value == "JPY"
    assert "let that period close first" in str(refused.value)
    assert kernel.distributor("monthly-bonus").config_version == 1  # nothing changed
    assert [d.units for d in kernel.distributions()] == ["USD"]
    kernel.heartbeat(at("2026-02-01"))
    [paid] = kernel.obligations()
    assert (paid.amount, paid.units) == (100_000, "USD")


def test_revenue_alone_blocks_a_units_change(kernel: Kernel) -> None:
    pool = {"resolver": "revenue_percentage", "percent": "5"}
    kernel.create_distributor(monthly(pool=pool))
    kernel.record("sale", sale("organic-1", None, "300.00"))  # credits no one, feeds the pool
    with pytest.raises(InvalidInput, match="units"):
        kernel.update_distributor(monthly(units="JPY", pool=pool))


def test_a_units_change_applies_to_an_empty_open_period_and_keeps_the_past(
        kernel: Kernel) -> None:
    _setup(kernel)
    kernel.record("sale", sale("o-1", "alice", "120.00"))
    kernel.heartbeat(at("2026-02-01"))  # January closes in USD; February is empty
    kernel.update_distributor(_jpy())
    january, february = kernel.distributions()
    assert (january.units, january.pool, february.units) == ("USD", 100_000, "JPY")
    assert [a.units for a in kernel.allocations(january.id)] == ["USD"]
    kernel.record("sale", sale("o-2", "alice", "5000", when="2026-02-03T10:00:00Z",
                               currency="JPY"))
    kernel.heartbeat(at("2026-03-01"))
    units = sorted((o.amount, o.units) for o in kernel.obligations())
    assert units == [(1000, "JPY"), (100_000, "USD")]
    assert verify(kernel) == []


def test_siren_apply_refuses_a_units_change_over_credits(tmp_path: Path,
                                                         database_url: str) -> None:
    with Kernel(database_url) as kernel:
        _setup(kernel)
        kernel.record("sale", sale("o-1", "alice", "120.00"))
    config = tmp_path / "siren.toml"
    config.write_text("""
[[distributors]]
id = "monthly-bonus"
name = "Monthly sales bonus"
units = "JPY"
schedule = "monthly"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "1000" }
calculator = { id = "proportional" }

[[distributors.metrics]]
type = "sale"
points = 10
credit = { rule = "fixed" }
""")
    result = CliRunner().invoke(cli, ["apply", str(config), "--database", database_url])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "units" in result.output
    assert "'JPY'" in result.output and "Traceback" not in result.output
    with Kernel(database_url) as kernel:
        assert kernel.distributor("monthly-bonus").spec.units == "USD"
        assert [d.units for d in kernel.distributions()] == ["USD"]


def test_verify_sees_an_obligation_in_other_units_than_its_distribution(
        kernel: Kernel) -> None:
    _setup(kernel)
    kernel.record("sale", sale("o-1", "alice", "120.00"))
    kernel.heartbeat(at("2026-02-01"))
    assert verify(kernel) == []
    with kernel.engine.begin() as conn:
        conn.execute(sa.text("UPDATE obligation SET units = 'JPY'"))
    [violation] = verify(kernel)
    assert violation.invariant == "obligation_units_equal_distribution_units"
    assert violation.rows[0][1:] == ("JPY", kernel.distributions()[0].id, "USD")
