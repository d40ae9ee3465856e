"""Declining to pay, and what becomes of a pool that allocated nothing (``unallocated``).

The worked numbers: a monthly distributor pays 10 % of its sales. January and March each
have sales by ana and ben; in February only ana sells, and the ``pair`` calculator (which
pays only when at least two collaborators scored) declines. With ``carry_forward`` March
pays February's pool and its own; with ``forfeit`` (the default) only its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.errors import InvalidInput
from siren_core.events import AllocationCompleted, DistributionCompleted
from siren_core.records import AllocationCalculator, AllocationContext, Decline
from siren_core.verify import verify

from conftest import at, monthly, sale

REVENUE_POOL = {"resolver": "revenue_percentage", "percent": "10"}
SALES = [  # (id, collaborator, amount, when): pools of 30.00, 7.00 and 50.00
    ("j-1", "ana", "100.00", "2026-01-05T10:00:00Z"),
    ("j-2", "ben", "200.00", "2026-01-06T10:00:00Z"),
    ("f-1", "ana", "70.00", "2026-02-05T10:00:00Z"),
    ("m-1", "ana", "100.00", "2026-03-05T10:00:00Z"),
    ("m-2", "ben", "400.00", "2026-03-06T10:00:00Z"),
]


def _pair(context: AllocationContext, _config: Any) -> Mapping[str, int] | Decline:
    """Everything to the top scorer, but only when at least two collaborators scored."""
    if len(context.scores) < 2:
        return Decline("fewer_than_two_scored")
    top = max(context.scores, key=lambda name: (context.scores[name], name))
    return {top: context.pool}


ANSWERS: dict[str, Callable[[AllocationContext, Any], Any]] = {
    "pair": _pair,
    "empty": lambda context, config: {},
    "zeros": lambda context, config: dict.fromkeys(context.scores, 0),
    "bad_reason": lambda context, config: Decline("Nobody Qualified!"),
}


class Calculators:
    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id=name, description=name, allocate=answer)
                for name, answer in ANSWERS.items()]


def _store(make_kernel: Callable[..., Kernel], sales: int = len(SALES),
           **overrides: Any) -> Kernel:
    kernel = make_kernel(plugins=[Calculators()])
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(**{"pool": REVENUE_POOL, "calculator": {"id": "pair"},
                                         **overrides}))
    for key, name, amount, when in SALES[:sales]:
        kernel.record("sale", sale(key, name, amount, when))
    return kernel


def _periods(kernel: Kernel) -> list[tuple[int | None, str | None, int, int, int]]:
    return [(d.pool, d.reason, d.carried_in, d.carried_out, d.forfeited)
            for d in kernel.distributions(status="completed")]


def test_carry_forward_pays_the_declined_pool_in_the_next_period(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = _store(make_kernel, unallocated="carry_forward")
    kernel.heartbeat(at("2026-03-01"))
    preview = kernel.preview("monthly-bonus", at("2026-03-31"))
    assert (preview.outcome.pool, preview.outcome.carried_in) == (5700, 700)
    kernel.heartbeat(at("2026-04-01"))
    assert _periods(kernel) == [
        (3000, None, 0, 0, 0),
        (700, "declined:fewer_than_two_scored", 0, 700, 0),
        (5700, None, 700, 0, 0),  # pool₂ + pool₃ = 7.00 + 50.00
    ]
    assert [(a.collaborator, a.amount, a.pool) for a in kernel.allocations()] == [
        ("ben", 3000, 3000), ("ben", 5700, 5700)]
    assert kernel.distributions(status="open")[0].carried_in == 0
    assert verify(kernel) == []


def test_forfeit_pays_only_the_periods_own_pool(make_kernel: Callable[..., Kernel]) -> None:
    kernel = _store(make_kernel)
    kernel.heartbeat(at("2026-04-01"))
    assert _periods(kernel) == [
        (3000, None, 0, 0, 0),
        (700, "declined:fewer_than_two_scored", 0, 0, 700),
        (5000, None, 0, 0, 0),
    ]
    assert sum(a.amount for a in kernel.allocations()) == 8000
    assert verify(kernel) == []


def test_nobody_scored_carries_forward_too(make_kernel: Callable[..., Kernel],
                                          database_url: str) -> None:
    kernel = make_kernel()
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(unallocated="carry_forward"))  # fixed 1000.00
    kernel.record("sale", sale("m-1", "ana", "1.00", "2026-03-05T10:00:00Z"))
    kernel.heartbeat(at("2026-04-01"))
    assert _periods(kernel) == [(100000, "no_scores", 0, 100000, 0),
                                (200000, "no_scores", 100000, 200000, 0),
                                (300000, None, 200000, 0, 0)]
    assert [(a.collaborator, a.amount) for a in kernel.allocations()] == [("ana", 300000)]
    assert verify(kernel) == []
    listed = CliRunner().invoke(cli, ["distributions", "--json", "--database", database_url])
    assert [(d["pool"], d["carried_in"], d["carried_out"], d["forfeited"])
            for d in json.loads(listed.stdout)["distributions"]] == [
        ("1000.00", "0.00", "1000.00", "0.00"), ("2000.00", "1000.00", "2000.00", "0.00"),
        ("3000.00", "2000.00", "0.00", "0.00"), (None, "0.00", "0.00", "0.00")]
    table = CliRunner().invoke(cli, ["distributions", "--database", database_url],
                               env={"COLUMNS": "200"}).stdout
    assert "no_scores (carried forward)" in table and "2000.00 carried in" in table


def test_a_carried_pool_survives_a_pause_and_a_change_of_policy(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = _store(make_kernel, unallocated="carry_forward")
    kernel.heartbeat(at("2026-03-01"))  # January paid, February declined: 7.00 carried
    kernel.set_distributor_status("monthly-bonus", "inactive")
    kernel.update_distributor(monthly(
        pool=REVENUE_POOL, calculator={"id": "pair"}, status="inactive"))  # forfeit now
    kernel.set_distributor_status("monthly-bonus", "active", now=at("2026-04-10"))
    skipped, opened = kernel.distributions(distributor="monthly-bonus")[-2:]
    assert (skipped.status, skipped.carried_in, skipped.carried_out) == ("skipped", 700, 700)
    assert (opened.status, opened.carried_in) == ("open", 700)
    kernel.record("sale", sale("a-1", "ana", "10.00", "2026-04-11T10:00:00Z"))
    kernel.record("sale", sale("a-2", "ben", "20.00", "2026-04-12T10:00:00Z"))
    kernel.heartbeat(at("2026-05-01"))
    assert _periods(kernel)[-1] == (1000, None, 700, 0, 0)  # 3.00 of April + 7.00 carried
    assert verify(kernel) == []


def test_units_cannot_change_while_a_pool_is_carried(make_kernel: Callable[..., Kernel]) -> None:
    kernel = _store(make_kernel, sales=3, unallocated="carry_forward")  # none in March
    kernel.heartbeat(at("2026-03-01"))
    before = kernel.distributions()
    with pytest.raises(InvalidInput) as error:
        kernel.update_distributor(monthly(
            pool=REVENUE_POOL, calculator={"id": "pair"}, units="EUR",
            unallocated="carry_forward"))
    assert error.value.field == "units" and "carries 700 minor units of 'USD'" in str(
        error.value)
    assert kernel.distributions() == before
    assert kernel.distributor("monthly-bonus").spec.units == "USD"


def test_a_declined_period_fires_completed_with_its_reason_and_nothing_else(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = _store(make_kernel)
    kernel.heartbeat(at("2026-02-01"))
    seen: list[object] = []
    kernel.subscribe(seen.append)
    kernel.heartbeat(at("2026-03-01"))
    kinds = [type(event) for event in seen]
    assert AllocationCompleted not in kinds
    [completed] = [event for event in seen if isinstance(event, DistributionCompleted)]
    assert completed.distribution.reason == "declined:fewer_than_two_scored"
    assert completed.distribution.forfeited == 700
    assert [o.source_id for o in kernel.obligations()] == [1]


def test_an_empty_answer_is_a_decline(make_kernel: Callable[..., Kernel]) -> None:
    kernel = _store(make_kernel, calculator={"id": "empty"}, unallocated="carry_forward")
    report = kernel.heartbeat(at("2026-02-01"))
    assert report.failed == ()
    assert _periods(kernel) == [(3000, "declined:empty", 0, 3000, 0)]
    assert verify(kernel) == []


@pytest.mark.parametrize(("calculator", "message"), [
    ("zeros", "allocated 0 of a pool of 3000"),
    ("bad_reason", "declined with reason 'Nobody Qualified!', not 1 to 55 of a-z"),
])
def test_other_answers_that_pay_no_one_stay_errors(
        make_kernel: Callable[..., Kernel], calculator: str, message: str) -> None:
    kernel = _store(make_kernel, calculator={"id": calculator})
    [(_, name, error)] = kernel.heartbeat(at("2026-02-01")).failed
    assert name == "monthly-bonus" and message in error
    assert [d.status for d in kernel.distributions()] == ["open"]


def test_a_typo_in_unallocated_is_refused_naming_it(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(monthly(unallocated="carry-forward"))
    assert (error.value.field, error.value.value) == ("unallocated", "carry-forward")
    assert "forfeit, carry_forward" in str(error.value)
    assert kernel.distributors() == ()


DISTRIBUTOR = """
[[distributors]]
id = "monthly-bonus"
name = "Monthly sales bonus"
units = "USD"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "1000.00" }
calculator = { id = "proportional" }
"""


def test_unallocated_is_exported_and_its_change_is_shown(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    config = tmp_path / "siren.toml"
    config.write_text(DISTRIBUTOR, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["apply", str(config), "--database", database]).exit_code == 0
    config.write_text(DISTRIBUTOR + 'unallocated = "carry_forward"\n', encoding="utf-8")
    dry = runner.invoke(cli, ["apply", str(config), "--database", database, "--dry-run"])
    assert "    unallocated: forfeit → carry_forward" in dry.stdout.splitlines()
    assert runner.invoke(cli, ["apply", str(config), "--database", database]).exit_code == 0
    exported = runner.invoke(cli, ["export", "--database", database])
    assert 'unallocated = "carry_forward"' in exported.stdout
    config.write_text(DISTRIBUTOR + 'unallocated = "carry"\n', encoding="utf-8")
    typo = runner.invoke(cli, ["apply", str(config), "--database", database, "--dry-run"])
    assert typo.exit_code == 2
    assert ("distributors[0].unallocated: 'carry' is not one of forfeit, carry_forward"
            in typo.stderr)
