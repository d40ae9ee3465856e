"""A bound group decides who earns, as in Siren (siren-spec §5.4), and a binding to a
deleted group keeps reporting that group: single and bulk recording, the eligible list,
``siren doctor``, previews; and ``collaborator_group_deleted`` inside a transaction."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.events import Event

from conftest import at, monthly, sale

JAN = "2026-01-10T10:00:00Z"


def people(kernel: Kernel, *names: str) -> None:
    for name in names:
        kernel.create_collaborator(name)


@pytest.fixture
def flat_alice(kernel: Kernel) -> Kernel:
    """alice, bob and carol; a flat group {alice} bound to an ``all_active`` distributor."""
    people(kernel, "alice", "bob", "carol")
    kernel.create_group("peers", members=["alice"])
    kernel.create_distributor(monthly())
    kernel.bind_distributor("monthly-bonus", "peers")
    return kernel


def binding(kernel: Kernel, distributor: str = "monthly-bonus") -> tuple[str, bool] | None:
    found = kernel.distributor_binding(distributor)
    return None if found is None else (found.group, found.deleted)


def paid(kernel: Kernel) -> list[tuple[str, int]]:
    kernel.heartbeat(at("2026-02-01"))
    return [(a.collaborator, a.amount) for a in kernel.allocations()]


def test_a_bound_group_alone_decides_who_earns(flat_alice: Kernel) -> None:
    assert flat_alice.eligible_collaborators(distributor="monthly-bonus") == ("alice",)
    assert flat_alice.record("sale", sale("o-1", "alice", "10.00", JAN)).credits == 1
    skipped = flat_alice.record("sale", sale("o-2", "bob", "10.00", JAN))
    assert (skipped.credits, [s.reason for s in skipped.skipped]) == (
        0, ["collaborator_not_eligible"])
    preview = flat_alice.preview("monthly-bonus", at("2026-01-20"))
    assert [a[1] for a in preview.outcome.allocations] == ["alice"]
    assert paid(flat_alice) == [("alice", 100_000)]


def test_bulk_recording_follows_the_bound_group(flat_alice: Kernel) -> None:
    report = flat_alice.record_many([
        {"type": "sale", **sale(f"o-{name}", name, "10.00", JAN)}
        for name in ("alice", "bob", "carol")])
    assert (report.inserted, report.credits) == (3, 1)
    assert paid(flat_alice) == [("alice", 100_000)]


def test_direct_list_and_group_are_a_union_and_neither_means_everyone(kernel: Kernel) -> None:
    people(kernel, "alice", "bob", "carol")
    kernel.create_group("peers", members=["alice"])
    kernel.create_distributor(monthly("both", eligibility="members", collaborators=["bob"]))
    kernel.bind_distributor("both", "peers")
    kernel.create_distributor(monthly("direct", eligibility="members", collaborators=["bob"]))
    kernel.create_distributor(monthly("everyone"))
    assert kernel.eligible_collaborators(distributor="both") == ("alice", "bob")
    assert kernel.eligible_collaborators(distributor="direct") == ("bob",)
    assert kernel.eligible_collaborators(distributor="everyone") == ("alice", "bob", "carol")


def test_doctor_names_the_distributors_whose_payees_change(database_url: str,
                                                          flat_alice: Kernel) -> None:
    flat_alice.create_distributor(monthly("confirmed", eligibility="members"))
    flat_alice.bind_distributor("confirmed", "peers")  # the same payees, said explicitly
    findings = [(f.distributor, f.problem, f.pays_no_one) for f in flat_alice.doctor()]
    assert findings == [("monthly-bonus", "payees_changed_by_bound_group", False)]
    detail = flat_alice.doctor()[0].detail
    assert "'peers'" in detail and "2 active collaborator(s)" in detail
    result = CliRunner().invoke(cli, ["doctor", "--database", database_url, "--json"])
    assert result.exit_code == 1, result.output
    assert [(f["distributor"], f["problem"]) for f in json.loads(result.output)["findings"]
            ] == [("monthly-bonus", "payees_changed_by_bound_group")]


def test_a_group_with_every_active_collaborator_changes_no_payee(kernel: Kernel) -> None:
    people(kernel, "alice", "bob")
    kernel.create_group("everyone", members=["alice", "bob"])
    kernel.create_distributor(monthly())
    kernel.bind_distributor("monthly-bonus", "everyone")
    assert kernel.doctor() == ()


def test_a_binding_to_a_deleted_group_is_not_the_new_group_of_the_same_id(
        flat_alice: Kernel) -> None:
    flat_alice.delete_group("peers")
    assert binding(flat_alice) == ("peers", True)
    assert flat_alice.distributor_group("monthly-bonus") is None
    flat_alice.create_group("peers", members=["bob"])  # a new group takes the id
    assert binding(flat_alice) == ("peers", True)
    assert flat_alice.distributor_group("monthly-bonus") is None
    # the deleted group has no members: nobody earns, not the new group's bob
    assert flat_alice.eligible_collaborators(distributor="monthly-bonus") == ()
    assert flat_alice.record("sale", sale("o-1", "bob", "10.00", JAN)).credits == 0
    problems = {f.problem for f in flat_alice.doctor()}
    assert problems == {"no_eligible_collaborators", "payees_changed_by_bound_group"}
    flat_alice.bind_distributor("monthly-bonus", "peers")  # binding the new one is a change
    assert binding(flat_alice) == ("peers", False)
    assert flat_alice.eligible_collaborators(distributor="monthly-bonus") == ("bob",)


def test_a_programs_binding_to_a_deleted_group_says_so(kernel: Kernel) -> None:
    people(kernel, "alice")
    kernel.create_group("peers", members=["alice"])
    kernel.create_program("standard")
    kernel.bind_program("standard", "peers")
    kernel.delete_group("peers")
    kernel.create_group("peers")
    program = kernel.program("standard")
    assert program.group is None and program.binding is not None
    assert (program.binding.group, program.binding.deleted) == ("peers", True)


def test_group_deleted_fires_before_the_delete_inside_a_transaction(kernel: Kernel) -> None:
    people(kernel, "alice", "bob")
    kernel.create_group("peers", members=["alice", "bob"])
    inside: list[Any] = []

    def listener(event: Event) -> None:
        if event.event_id == "collaborator_group_deleted":
            inside.append([m.collaborator for m in kernel.group_members("peers")])
    kernel.subscribe(listener)
    with kernel.transaction():
        kernel.delete_group("peers")
        assert inside == [["alice", "bob"]]  # fired before the delete, not after commit
    assert inside == [["alice", "bob"]]
    assert kernel.groups() == ()
