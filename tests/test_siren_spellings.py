"""Siren's spellings accepted as aliases, stored and shown canonical; member metadata a
structure does not know is refused (issue 16, siren-spec §1.3, §4.2, §5.1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.config.apply import apply
from siren_core.config.files import parse_config, read_config_text
from siren_core.errors import InvalidInput
from siren_core.records import GroupStructure, GroupView

from conftest import at, monthly, sale

JAN = "2026-01-10T10:00:00Z"


def _visits(kernel: Kernel, counts: Mapping[str, int]) -> None:
    for name, count in counts.items():
        kernel.create_collaborator(name)
        for n in range(count):
            kernel.record("visit", {"id": f"{name}-{n}", "at": JAN, "collaborator": name})


def _paid(kernel: Kernel) -> dict[str, int]:
    kernel.heartbeat(at("2026-02-01"))
    return {a.collaborator: a.amount for a in kernel.allocations()}


def _by_visits(calculator: str, pool: str) -> dict[str, Any]:
    return monthly(pool={"resolver": "fixed", "amount": pool}, calculator=calculator,
                   metrics=[{"type": "visit", "points": 100}])


def test_performance_shared_pool_is_proportional(kernel: Kernel) -> None:
    """siren-spec §4.2: pool $6,000, scores 500/300/200 give $3,000/$1,800/$1,200."""
    kernel.create_distributor(_by_visits("performanceSharedPool", "6000.00"))
    assert kernel.distributor("monthly-bonus").spec.calculator.id == "proportional"
    _visits(kernel, {"a": 5, "b": 3, "c": 2})
    assert _paid(kernel) == {"a": 300_000, "b": 180_000, "c": 120_000}


def test_top_score_wins_is_top_score_also_in_an_update(kernel: Kernel) -> None:
    """siren-spec §4.2: scores 850/720/430, the 850 collaborator takes the whole $5,000."""
    kernel.create_distributor(_by_visits("proportional", "5000.00"))
    kernel.update_distributor(_by_visits("topScoreWins", "5000.00"))
    assert kernel.distributor("monthly-bonus").spec.calculator.id == "top_score"
    kernel.update_distributor({**_by_visits("x", "5000.00"),
                               "calculator": {"id": "topScoreWins", "ties": "lowest_id"}})
    assert kernel.distributor("monthly-bonus").spec.calculator.id == "top_score"
    _visits(kernel, {"a": 8, "b": 7, "c": 4})
    assert _paid(kernel) == {"a": 500_000}


def test_siren_structure_names_are_stored_canonical(kernel: Kernel) -> None:
    chain = kernel.create_group("chain", structure="linearChain")
    tree = kernel.create_group({"id": "tree", "structure": "parentChild"})
    assert (chain.structure, tree.structure) == ("linear_chain", "parent_child")
    assert kernel.group("chain").structure == "linear_chain"
    kernel.change_group_structure("chain", "parentChild")
    assert kernel.group("chain").structure == "parent_child"
    seen: list[Any] = []
    kernel.subscribe(seen.append)
    kernel.update_group("tree", structure="parentChild")  # already so: a no-op
    assert seen == []
    with pytest.raises(InvalidInput, match="known: flat, linear_chain, parent_child"):
        kernel.create_group("g", structure="pyramid")


def test_pending_is_sirens_name_of_the_open_period(kernel: Kernel, database_url: str) -> None:
    kernel.create_distributor(monthly())
    kernel.heartbeat(at("2026-02-01"))
    [current] = kernel.distributions(status="pending")
    assert current.status == "open" and current.period_start == at("2026-02-01")
    assert kernel.distributions(status="pending") == kernel.distributions(status="open")
    result = CliRunner().invoke(cli, ["distributions", "--database", database_url,
                                      "--status", "pending", "--json"])
    assert result.exit_code == 0, result.output
    assert '"status": "open"' in result.output and '"completed"' not in result.output


def test_an_upline_cascade_pays_through_parent_collaborator_id(kernel: Kernel) -> None:
    for name in ("A", "B", "C"):
        kernel.create_collaborator(name)
    kernel.create_group("tree", structure="parent_child", members=[
        {"collaborator": "A"}, {"collaborator": "B", "parentCollaboratorId": "A"},
        {"collaborator": "C", "metadata": {"parentCollaboratorId": "B"}}])
    assert {m.collaborator: dict(m.metadata) for m in kernel.group_members("tree")} == {
        "A": {}, "B": {"parent": "A"}, "C": {"parent": "B"}}
    kernel.create_distributor(monthly(pool={"resolver": "fixed", "amount": "90.00"}, metrics=[
        {"type": "sale", "points": 1,
         "credit": {"rule": "upline_cascade", "layers": [100, 50]}}]))
    kernel.bind_distributor("monthly-bonus", "tree")
    assert kernel.record("sale", sale("o-1", "C", "10.00", JAN)).credits == 2
    assert _paid(kernel) == {"B": 6000, "A": 3000}


def test_metadata_a_structure_does_not_know_is_refused(kernel: Kernel) -> None:
    for name in ("A", "B"):
        kernel.create_collaborator(name)
    kernel.create_group("tree", structure="parent_child", members=["A"])
    kernel.create_group("chain", structure="linear_chain")
    kernel.create_group("peers")
    for group, metadata, known in (
            ("tree", {"parentId": "A"}, "parent"), ("chain", {"rank": 1}, "position"),
            ("peers", {"position": 1}, "none")):
        with pytest.raises(InvalidInput) as error:
            kernel.add_group_members(group, [{"collaborator": "B", **metadata}])
        [key] = metadata
        assert error.value.field == f"members[B].{key}"
        assert f"(known keys: {known})" in error.value.problem
        assert "B" not in {m.collaborator for m in kernel.group_members(group)}
    with pytest.raises(InvalidInput, match=r"members\[A\]\.parentCollaboratorId"):
        kernel.set_group_member_metadata("tree", "A", {"parent": "B",
                                                       "parentCollaboratorId": "C"})
    member = kernel.set_group_member_metadata("tree", "A", {"parentCollaboratorId": None})
    assert dict(member.metadata) == {"parent": None}
    assert dict(kernel.group_members("tree")[0].metadata) == {"parent": None}


class Ladder:
    """A third-party structure declaring Siren's capability spelling."""

    @hookimpl
    def siren_group_structures(self) -> list[GroupStructure]:
        def build(group_id: str, roster: Mapping[str, Mapping[str, Any]]) -> GroupView:
            raise NotImplementedError

        return [GroupStructure(id="ladder", description="rungs",
                               capabilities=frozenset({"hasLayer"}), build=build)]


def test_has_layer_is_sirens_spelling_of_the_cascade_capability(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(plugins=[Ladder()])
    assert kernel.registry.group_structures["ladder"].capabilities == {"has_layer"}
    kernel.create_group("rungs", structure="ladder")
    kernel.create_distributor(monthly(metrics=[
        {"type": "sale", "credit": {"rule": "upline_cascade", "layers": [10]}}]))
    kernel.bind_distributor("monthly-bonus", "rungs")  # a cascade needs has_layer
    assert kernel.distributor_group("monthly-bonus") == "rungs"


SIREN_FILE = """
[[collaborators]]
id = "A"

[[collaborators]]
id = "B"

[[groups]]
id = "tree"
structure = "parentChild"
members = [{ collaborator = "A" },
           { collaborator = "B", metadata = { parentCollaboratorId = "A" } }]

[[distributors]]
id = "bonus"
name = "Bonus"
units = "USD"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "90.00" }
calculator = "performanceSharedPool"
metrics = [{ type = "sale", points = 1 }]
"""


def test_a_file_in_sirens_spellings_applies_canonical_and_then_is_unchanged(
        kernel: Kernel) -> None:
    def applied() -> set[str]:
        config = parse_config(read_config_text(SIREN_FILE), kernel.converter, kernel.registry)
        return {change.verb for change in apply(kernel, config)}

    assert applied() == {"create"}
    assert kernel.group("tree").structure == "parent_child"
    assert {m.collaborator: dict(m.metadata) for m in kernel.group_members("tree")} == {
        "A": {}, "B": {"parent": "A"}}
    assert kernel.distributor("bonus").spec.calculator.id == "proportional"
    assert applied() == {"unchanged"}
