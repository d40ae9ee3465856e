"""Cascade payouts through the kernel: siren-spec §5.5 worked cases, compression,
eligibility, and the fail-closed cases (recorded reason, ``siren doctor``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.errors import InvalidInput

from conftest import at, monthly, sale

JAN = "2026-01-10T10:00:00Z"


def cascade(rule: str, layers: list[int], pool: str = "90.00", **options: Any
            ) -> dict[str, Any]:
    return monthly(pool={"resolver": "fixed", "amount": pool}, metrics=[
        {"type": "sale", "points": 1, "credit": {"rule": rule, "layers": layers, **options}}])


def people(kernel: Kernel, *names: str) -> None:
    for name in names:
        kernel.create_collaborator(name)


def chain_a_to_e(kernel: Kernel) -> None:
    people(kernel, "A", "B", "C", "D", "E")
    kernel.create_group("chain", structure="linear_chain", members=[
        {"collaborator": name, "position": index + 1} for index, name in enumerate("ABCDE")])


def paid(kernel: Kernel) -> list[tuple[str, int, int]]:
    kernel.heartbeat(at("2026-02-01"))
    return [(a.collaborator, a.score, a.amount) for a in kernel.allocations()]


def test_upline_from_the_tail_credits_the_two_members_above(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.create_distributor(cascade("upline_cascade", [100, 50, 0]))
    kernel.bind_distributor("monthly-bonus", "chain")
    assert kernel.record("sale", sale("o-1", "E", "10.00", JAN)).credits == 2
    # scores D 100, C 50; a performance-weighted 90.00 pays D 60.00 and C 30.00
    assert paid(kernel) == [("C", 50, 3000), ("D", 100, 6000)]


@pytest.mark.parametrize("bulk", [False, True], ids=["record", "record_many"])
def test_a_sale_feeds_a_revenue_pool_once_whatever_its_rules_credit(kernel: Kernel,
                                                                     bulk: bool) -> None:
    """The event's revenue rides on its first credit row only (the actor's fixed credit,
    not the cascade's rows after it); an organic sale's on a row of its own."""
    chain_a_to_e(kernel)
    kernel.create_distributor(monthly(
        pool={"resolver": "revenue_percentage", "percent": "10"}, metrics=[
            {"type": "sale", "points": 2, "credit": {"rule": "fixed"}},
            {"type": "sale", "points": 1,
             "credit": {"rule": "upline_cascade", "layers": [100, 50]}}]))
    kernel.bind_distributor("monthly-bonus", "chain")
    events = [sale("o-1", "E", "200.00", JAN), sale("o-2", None, "50.00", JAN)]
    if bulk:
        assert kernel.record_many([{"type": "sale", **event} for event in events]).credits == 3
    else:
        assert [kernel.record("sale", event).credits for event in events] == [3, 0]
    with kernel.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.external_id, s.points, s.revenue FROM score_credit s "
            "LEFT JOIN collaborator c ON c.id = s.collaborator_id ORDER BY s.id").all()
    assert [tuple(row) for row in rows] == [
        ("E", 2, 20000), ("D", 100, 0), ("C", 50, 0), (None, 0, 5000)]
    [distribution] = kernel.heartbeat(at("2026-02-01")).completed
    assert (distribution.revenue, distribution.pool) == (25000, 2500)


def test_upline_an_inactive_ancestor_uses_up_its_layer(kernel: Kernel) -> None:
    """siren-spec §5.5 example 2, literal reading: D pays nothing, C is paid at layer 2."""
    chain_a_to_e(kernel)
    kernel.set_collaborator_status("D", "inactive")
    kernel.create_distributor(cascade("upline_cascade", [100, 50]))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.record("sale", sale("o-1", "E", "10.00", JAN))
    assert paid(kernel) == [("C", 50, 9000)]


def test_upline_with_compression_the_next_ancestor_takes_the_layer(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.set_collaborator_status("D", "inactive")
    kernel.create_distributor(cascade("upline_cascade", [100, 50], compress=True))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.record("sale", sale("o-1", "E", "10.00", JAN))
    assert paid(kernel) == [("B", 50, 3000), ("C", 100, 6000)]


def test_downline_skips_an_inactive_member_without_using_up_the_layer(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.set_collaborator_status("B", "inactive")
    kernel.create_distributor(cascade("downline_cascade", [100, 50]))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.record("sale", sale("o-1", "A", "10.00", JAN))
    assert paid(kernel) == [("C", 100, 6000), ("D", 50, 3000)]


def test_downline_without_compression_the_inactive_member_uses_its_layer(
        kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.set_collaborator_status("B", "inactive")
    kernel.create_distributor(cascade("downline_cascade", [100, 50], compress=False))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.record("sale", sale("o-1", "A", "10.00", JAN))
    assert paid(kernel) == [("C", 50, 9000)]


def test_downline_tree_credits_every_member_of_a_layer_in_full(kernel: Kernel) -> None:
    """siren-spec §5.5 example 3: M → 3 reports → 6 reports, downline [10, 5]."""
    people(kernel, "M")
    members: list[dict[str, str]] = [{"collaborator": "M"}]
    for r in ("R1", "R2", "R3"):
        people(kernel, r, f"{r}a", f"{r}b")
        members += [{"collaborator": r, "parent": "M"},
                    {"collaborator": f"{r}a", "parent": r},
                    {"collaborator": f"{r}b", "parent": r}]
    kernel.create_group("team", structure="parent_child", members=members)
    kernel.create_distributor(cascade("downline_cascade", [10, 5], pool="600.00"))
    kernel.bind_distributor("monthly-bonus", "team")
    assert kernel.record("sale", sale("o-1", "M", "10.00", JAN)).credits == 9
    allocations = paid(kernel)
    assert [(name, score) for name, score, _ in allocations if score == 10] == [
        ("R1", 10), ("R2", 10), ("R3", 10)]
    assert len([name for name, score, _ in allocations if score == 5]) == 6
    assert sum(score for _, score, _ in allocations) == 60
    assert "M" not in [name for name, _, _ in allocations]


def test_positions_one_five_nine_act_as_one_two_three(kernel: Kernel) -> None:
    people(kernel, "head", "mid", "tail")
    kernel.create_group("chain", structure="linear_chain", members=[
        {"collaborator": "head", "position": 1}, {"collaborator": "mid", "position": 5},
        {"collaborator": "tail", "position": 9}])
    kernel.create_distributor(cascade("upline_cascade", [100, 50]))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.record("sale", sale("o-1", "tail", "10.00", JAN))
    assert paid(kernel) == [("head", 50, 3000), ("mid", 100, 6000)]


def test_a_cycle_is_refused_and_changes_nothing(kernel: Kernel) -> None:
    people(kernel, "a", "b", "c")
    with pytest.raises(InvalidInput, match="cycle"):
        kernel.create_group("team", structure="parent_child", members=[
            {"collaborator": "a", "parent": "b"}, {"collaborator": "b", "parent": "a"}])
    assert kernel.groups() == ()
    kernel.create_group("team", structure="parent_child", members=[
        {"collaborator": "a"}, {"collaborator": "b", "parent": "a"},
        {"collaborator": "c", "parent": "b"}])
    with pytest.raises(InvalidInput, match="cycle"):
        kernel.set_group_member_metadata("team", "a", {"parent": "c"})
    assert {m.collaborator: dict(m.metadata) for m in kernel.group_members("team")}["a"] == {}


def test_membership_changes_apply_to_later_sales_only(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.create_distributor(cascade("upline_cascade", [100]))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.record("sale", sale("o-1", "E", "10.00", JAN))
    kernel.remove_group_member("chain", "D")
    kernel.record("sale", sale("o-2", "E", "10.00", JAN))
    assert [(name, score) for name, score, _ in paid(kernel)] == [("C", 100), ("D", 100)]


def test_layers_beyond_five_need_max_layers(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(cascade("upline_cascade", [6, 5, 4, 3, 2, 1]))
    assert error.value.field.endswith("layers")
    kernel.create_distributor(cascade("upline_cascade", [1, 1, 1, 1, 1, 1, 1], max_layers=7))
    kernel.bind_distributor("monthly-bonus", "chain")
    assert kernel.record("sale", sale("o-1", "E", "10.00", JAN)).credits == 4


def test_members_eligibility_is_direct_collaborators_plus_the_group(kernel: Kernel) -> None:
    people(kernel, "alice", "bob", "zed")
    kernel.create_group("team", members=["alice"])
    kernel.create_distributor(monthly(eligibility="members", collaborators=["zed"]))
    kernel.bind_distributor("monthly-bonus", "team")
    assert kernel.eligible_collaborators(distributor="monthly-bonus") == ("alice", "zed")
    for index, name in enumerate(("alice", "bob", "zed")):
        kernel.record("sale", sale(f"o-{index}", name, "10.00", JAN))
    assert [name for name, _, _ in paid(kernel)] == ["alice", "zed"]


def test_a_cascade_with_no_group_pays_no_one_and_says_why(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.create_distributor(cascade("upline_cascade", [100, 50]))
    assert kernel.record("sale", sale("o-1", "E", "10.00", JAN)).credits == 0
    assert paid(kernel) == []
    assert kernel.distributions(status="completed")[0].reason == "cascade_without_group"
    findings = kernel.doctor()
    assert [(f.distributor, f.problem, f.pays_no_one) for f in findings] == [
        ("monthly-bonus", "cascade_without_group", True)]


def test_a_deleted_group_fails_closed_with_its_own_reason(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.create_distributor(cascade("upline_cascade", [100, 50]))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.delete_group("chain")
    assert kernel.distributor_group("monthly-bonus") is None  # no live group
    binding = kernel.distributor_binding("monthly-bonus")
    assert binding is not None and (binding.group, binding.deleted) == ("chain", True)
    assert kernel.record("sale", sale("o-1", "E", "10.00", JAN)).credits == 0
    assert paid(kernel) == []
    assert kernel.distributions(status="completed")[0].reason == "cascade_group_deleted"
    # a deleted group has no members: nobody is eligible, where everyone was before
    assert [f.problem for f in kernel.doctor()] == [
        "cascade_group_deleted", "no_eligible_collaborators", "payees_changed_by_bound_group"]


def test_flat_groups_and_cascades_are_refused_in_both_directions(kernel: Kernel) -> None:
    people(kernel, "a")
    kernel.create_group("peers", members=["a"])
    kernel.create_distributor(cascade("upline_cascade", [100]))
    with pytest.raises(InvalidInput) as error:
        kernel.bind_distributor("monthly-bonus", "peers")
    assert (error.value.field, error.value.value) == ("group", "peers")
    assert kernel.distributor_group("monthly-bonus") is None
    kernel.create_distributor(monthly("fixed-one"))
    kernel.bind_distributor("fixed-one", "peers")
    with pytest.raises(InvalidInput) as error:
        kernel.update_distributor({**cascade("upline_cascade", [100]), "id": "fixed-one"})
    assert error.value.field == "metrics[0].credit.rule"
    assert kernel.distributor("fixed-one").config_version == 1


def test_a_group_switched_to_flat_keeps_the_cascade_and_fails_closed(kernel: Kernel) -> None:
    chain_a_to_e(kernel)
    kernel.create_distributor(cascade("upline_cascade", [100]))
    kernel.bind_distributor("monthly-bonus", "chain")
    kernel.change_group_structure("chain", "flat")
    kernel.record("sale", sale("o-1", "E", "10.00", JAN))
    assert paid(kernel) == []
    assert kernel.distributions(status="completed")[0].reason == "cascade_group_without_layers"


def test_doctor_lists_every_distributor_that_would_pay_no_one(database_url: str,
                                                             kernel: Kernel) -> None:
    people(kernel, "alice")
    kernel.create_distributor({**cascade("upline_cascade", [100]), "id": "no-group"})
    kernel.create_distributor(monthly("nobody", eligibility="members"))
    kernel.create_distributor(monthly("fine"))
    kernel.create_distributor(monthly("mixed", metrics=[
        {"type": "sale", "points": 1},
        {"type": "sale", "credit": {"rule": "downline_cascade", "layers": [5]}}]))
    problems = {(f.distributor, f.problem, f.pays_no_one) for f in kernel.doctor()}
    assert problems == {("no-group", "cascade_without_group", True),
                        ("nobody", "no_eligible_collaborators", True),
                        ("mixed", "cascade_without_group", False)}
    result = CliRunner().invoke(cli, ["doctor", "--database", database_url, "--json"])
    assert result.exit_code == 1, result.output
    listed = {(row["distributor"], row["problem"])
              for row in json.loads(result.output)["findings"]}
    assert listed == {(d, p) for d, p, _ in problems}


def test_cascade_and_eligibility_settings_are_validated(kernel: Kernel) -> None:
    for credit, field in (({"layers": []}, "layers"), ({"layers": [10, -1]}, "layers[1]"),
                          ({"layers": [10], "compress": "yes"}, "compress"),
                          ({"layers": [10], "max_layers": 0}, "max_layers"),
                          ({"layers": [10], "depth": 2}, "depth")):
        with pytest.raises(InvalidInput) as error:
            kernel.create_distributor(monthly(metrics=[
                {"type": "sale", "credit": {"rule": "upline_cascade", **credit}}]))
        assert error.value.field == f"metrics[0].credit.{field}", credit
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(monthly(eligibility="members", collaborators=["ok", ""]))
    assert error.value.field == "collaborators[1]"
    assert kernel.distributors() == ()
    kernel.create_distributor(monthly(eligibility="members", collaborators=["zed"]))
    assert kernel.distributor("monthly-bonus").spec.collaborators == ("zed",)
