"""A distributor's units change: refused while its open period holds credits, applied to an
empty open period, never to what is already stored (issue 14, "changes that corrupt an
open period")."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.errors import InvalidInput
from siren_core.records import Credit, CreditContext, CreditRule
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


class _HeldRule:
    """A credit rule (``held``) that credits the actor after waiting for ``release``: the
    recording has read the distributor's configuration and not yet locked its period."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def _credit(self, context: CreditContext, _config: Any) -> list[Credit]:
        self.started.set()
        self.release.wait(20)
        return [Credit(context.actor, context.points)]

    @hookimpl
    def siren_credit_rules(self) -> list[CreditRule]:
        return [CreditRule(id="held", description="waits for the test", credit=self._credit)]


def test_a_units_change_during_a_recording_never_puts_an_amount_in_another_currency(
        make_kernel: Callable[..., Kernel]) -> None:
    """The recording plans its credits in USD, the units change commits on the empty
    period, then the recording locks the period: it plans again (and the USD amount is
    refused for a JPY distributor) instead of writing US cents into a yen period."""
    rule = _HeldRule()
    metrics = [{"type": "sale", "value": "amount", "credit": {"rule": "held"}}]
    recorder, operator = make_kernel(plugins=[rule]), make_kernel(plugins=[_HeldRule()])
    recorder.create_collaborator("alice")
    recorder.create_distributor(monthly(metrics=metrics))
    outcome: list[object] = []

    def record() -> None:
        try:
            outcome.append(recorder.record("sale", sale("o-1", "alice", "120.00")))
        except InvalidInput as exc:
            outcome.append(exc)

    changed: list[bool] = []

    def change() -> None:
        try:
            operator.update_distributor(_jpy(metrics=metrics))
            changed.append(True)
        except InvalidInput:  # SQLite: the recording holds the write lock and goes first
            changed.append(False)

    recording, changing = threading.Thread(target=record), threading.Thread(target=change)
    recording.start()
    assert rule.started.wait(20)
    changing.start()
    changing.join(3)  # PostgreSQL: the change commits while the recording is planning
    rule.release.set()
    for thread in (recording, changing):
        thread.join(30)
    if changed == [True]:
        [refused] = outcome
        assert isinstance(refused, InvalidInput) and refused.field == "sale.currency"
        assert recorder.table_counts()["score_credit"] == 0
    else:
        assert not isinstance(outcome[0], InvalidInput)
    with recorder.engine.connect() as conn:
        credited = conn.execute(sa.text(
            "SELECT d.units, e.currency FROM score_credit c JOIN source_event e ON "
            "e.id = c.source_event_id JOIN distribution d ON d.distributor_id = "
            "c.distributor_id AND c.effective_at >= d.period_start AND c.effective_at < "
            "d.period_end")).all()
    assert all(units == currency for units, currency in credited)
    assert verify(recorder) == []
