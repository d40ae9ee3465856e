"""``siren export`` and what ``siren apply`` can say: every state the kernel reaches (an
inactive member, a switch to a cascade with a move to a layered group) survives an export
and an apply on an empty store, listing for listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.config.apply import apply
from siren_core.config.export import export_text
from siren_core.config.files import SirenConfig, parse_config, read_config_text
from siren_core.errors import InvalidInput

from conftest import monthly

CASCADE = [{"type": "sale", "points": 1,
            "credit": {"rule": "upline_cascade", "layers": [100, 50]}}]


def _parsed(kernel: Kernel, text: str) -> SirenConfig:
    return parse_config(read_config_text(text), kernel.converter, kernel.registry)


def rich_store(kernel: Kernel) -> None:
    """Several groups of each structure, cascades, inactive and deleted people, programs,
    paused and deleted distributors, emails, metadata and bindings (each structure refuses
    metadata keys it does not read, so the metadata is the structures' own)."""
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "zoé"):
        kernel.create_collaborator(name, name=name.title(),
                                   email=f"{name}@example.com" if name < "c" else None)
    kernel.create_group("peers", structure="flat", description="Everyone \"on\" the floor",
                        members=["alice", "bob", "carol"])
    kernel.create_group("peers-2", name="Second floor", members=["dave", "zoé"])
    kernel.create_group("chain", structure="linear_chain", members=[
        {"collaborator": n, "position": i + 1} for i, n in enumerate(["alice", "bob", "carol"])])
    kernel.create_group("chain-2", structure="linear_chain", members=[
        {"collaborator": "dave", "position": 1}, {"collaborator": "erin", "position": 2}])
    kernel.create_group("tree", structure="parent_child", members=[
        "alice", {"collaborator": "bob", "parent": "alice"},
        {"collaborator": "carol", "parent": "bob"}])
    kernel.create_group("tree-2", structure="parent_child", members=[
        "frank", {"collaborator": "gina", "parent": "frank"}])
    kernel.create_group("empty", structure="parent_child")
    kernel.set_collaborator_status("bob", "inactive")  # stays a member of five groups
    kernel.set_collaborator_status("gina", "inactive")
    kernel.create_collaborator("harry", status="deleted")
    kernel.create_distributor(monthly("flat-bonus", description="for the floor",
                                      hold_days=3, catch_up_limit=2))
    kernel.create_distributor(monthly("upline", metrics=CASCADE, unallocated="carry_forward"))
    kernel.create_distributor(monthly("downline", schedule="weekly", every=2, metrics=[
        {"type": "sale", "points": 1,
         "credit": {"rule": "downline_cascade", "layers": [10], "compress": True}}]))
    kernel.create_distributor(monthly("paused", timezone="America/New_York",
                                      pool={"resolver": "revenue_percentage", "percent": "12.5"},
                                      calculator={"id": "top_score"}))
    kernel.create_distributor(monthly("listed", eligibility="members",
                                      collaborators=["alice", "erin"]))
    kernel.create_distributor(monthly("gone"))
    kernel.bind_distributor("flat-bonus", "peers")
    kernel.bind_distributor("upline", "tree")
    kernel.bind_distributor("downline", "chain")
    kernel.bind_distributor("listed", "peers-2")
    kernel.set_distributor_status("paused", "inactive")
    kernel.set_distributor_status("gone", "deleted")
    kernel.create_program("referrals", name="Referrals", collaborators=["alice", "carol"])
    kernel.create_program("draft-one", status="draft")
    kernel.bind_program("referrals", "tree-2")


def listings(kernel: Kernel) -> dict[str, Any]:
    """Everything the API lists about a store's configuration."""
    return {
        "collaborators": kernel.collaborators(),
        "groups": kernel.groups(),
        "members": {g.id: kernel.group_members(g.id) for g in kernel.groups()},
        "distributors": [(d.spec, kernel.distributor_group(d.spec.id))
                         for d in kernel.distributors()],
        "programs": kernel.programs(),
        "eligible": {d.spec.id: kernel.eligible_collaborators(distributor=d.spec.id)
                     for d in kernel.distributors() if d.spec.status == "active"},
    }


@pytest.mark.parametrize("format", ["toml", "json"])
def test_an_export_applied_to_an_empty_store_gives_the_same_state(
        make_kernel: Any, tmp_path: Path, format: str) -> None:
    source = make_kernel()
    rich_store(source)
    text = export_text(source, format)
    target = Kernel(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        apply(target, _parsed(target, text))
        assert listings(target) == listings(source)
        assert export_text(target, format) == text
    finally:
        target.close()


def test_an_export_applied_back_to_its_own_store_changes_nothing(kernel: Kernel) -> None:
    rich_store(kernel)
    before = listings(kernel)
    changes = apply(kernel, _parsed(kernel, export_text(kernel)))
    assert {c.verb for c in changes} == {"unchanged"}
    assert listings(kernel) == before


def test_the_export_command_prints_toml_or_json_that_apply_reads(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(database) as kernel:
        rich_store(kernel)
        wanted = listings(kernel)
    runner = CliRunner()
    exported = runner.invoke(cli, ["export", "--database", database])
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.startswith("# siren export")
    as_json = runner.invoke(cli, ["export", "--database", database, "--format", "json"])
    assert json.loads(as_json.stdout)["groups"][0]["id"] == "chain"
    for index, text in enumerate((exported.stdout, as_json.stdout)):
        file = tmp_path / f"export-{index}.txt"
        file.write_text(text, encoding="utf-8")
        copy = f"sqlite:///{tmp_path / f'copy-{index}.db'}"
        done = runner.invoke(cli, ["apply", str(file), "--database", copy])
        assert done.exit_code == 0, done.output
        with Kernel(copy) as kernel:
            assert listings(kernel) == wanted
    bad = runner.invoke(cli, ["export", "--database", database, "--format", "yaml"])
    assert bad.exit_code == 2 and "yaml" in bad.output


# -- what apply could not say before ---------------------------------------------------

PEOPLE = """
[[collaborators]]
id = "alice"

[[collaborators]]
id = "bob"
status = "inactive"
"""


def test_a_group_may_list_a_member_who_is_inactive(kernel: Kernel) -> None:
    text = PEOPLE + """
[[groups]]
id = "tree"
structure = "parent_child"
members = [ { collaborator = "alice" }, { collaborator = "bob", parent = "alice" } ]
"""
    apply(kernel, _parsed(kernel, text))
    assert [(m.collaborator, m.status) for m in kernel.group_members("tree")] == [
        ("alice", "active"), ("bob", "inactive")]
    assert [c.status for c in kernel.collaborators()] == ["active", "inactive"]
    assert {c.verb for c in apply(kernel, _parsed(kernel, text))} == {"unchanged"}


@pytest.mark.parametrize("status", ["inactive", "pending", "rejected"])
def test_a_collaborator_not_active_can_be_listed_in_a_new_group(kernel: Kernel,
                                                                status: str) -> None:
    people = PEOPLE.replace("inactive", status)
    apply(kernel, _parsed(kernel, people + '[[groups]]\nid = "g"\nstructure = "flat"\n'
                          'members = [{ collaborator = "bob" }]\n'))
    assert [(m.collaborator, m.status) for m in kernel.group_members("g")] == [("bob", status)]


def test_an_inactive_collaborator_already_stored_can_join_a_group(kernel: Kernel) -> None:
    apply(kernel, _parsed(kernel, PEOPLE))
    apply(kernel, _parsed(kernel, PEOPLE + '[[groups]]\nid = "g"\nstructure = "flat"\n'
                          'members = [{ collaborator = "alice" }, { collaborator = "bob" }]\n'))
    assert [(m.collaborator, m.status) for m in kernel.group_members("g")] == [
        ("alice", "active"), ("bob", "inactive")]


def test_a_deleted_collaborator_still_cannot_join_a_group(kernel: Kernel) -> None:
    text = PEOPLE.replace("inactive", "deleted") + (
        '[[groups]]\nid = "g"\nstructure = "flat"\nmembers = [{ collaborator = "bob" }]\n')
    with pytest.raises(InvalidInput, match="bob"):
        apply(kernel, _parsed(kernel, text))
    assert kernel.collaborators() == () and kernel.groups() == ()


SWITCH = PEOPLE + """
[[groups]]
id = "floor"
structure = "flat"
members = [{ collaborator = "alice" }]

[[groups]]
id = "tree"
structure = "parent_child"
members = [{ collaborator = "alice" }]

[[distributors]]
id = "monthly-bonus"
name = "Monthly sales bonus"
units = "USD"
schedule = "monthly"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "100.00" }
calculator = { id = "proportional" }
group = "floor"
metrics = [ { type = "sale", points = 1, credit = { rule = "fixed" } } ]
"""


def test_a_switch_to_a_cascade_and_a_layered_group_in_one_file(kernel: Kernel) -> None:
    apply(kernel, _parsed(kernel, SWITCH))
    cascade = SWITCH.replace('group = "floor"', 'group = "tree"').replace(
        'rule = "fixed"', 'rule = "upline_cascade", layers = [100]')
    changes = apply(kernel, _parsed(kernel, cascade))
    assert [(c.kind, c.verb, c.fields[0].old, c.fields[0].new) for c in changes
            if c.kind == "binding"] == [("binding", "bind", "floor", "tree")]
    assert kernel.distributor_group("monthly-bonus") == "tree"
    assert kernel.distributor("monthly-bonus").spec.metrics[0].credit.rule == "upline_cascade"
    back = apply(kernel, _parsed(kernel, SWITCH))  # and back: cascade off, then flat
    assert [c.verb for c in back if c.kind in ("distributor", "binding")] == ["update", "bind"]
    assert kernel.distributor_group("monthly-bonus") == "floor"


def test_a_refused_step_leaves_the_store_as_it_was(kernel: Kernel) -> None:
    apply(kernel, _parsed(kernel, SWITCH))
    stays_flat = SWITCH.replace('rule = "fixed"', 'rule = "upline_cascade", layers = [100]')
    with pytest.raises(InvalidInput, match="floor"):
        apply(kernel, _parsed(kernel, stays_flat))
    assert kernel.distributor("monthly-bonus").config_version == 1


def test_the_dry_run_prints_each_field_old_and_new(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    config = tmp_path / "siren.toml"
    config.write_text(SWITCH, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["apply", str(config), "--database", database]).exit_code == 0
    config.write_text(SWITCH.replace('amount = "100.00"', 'amount = "250.00"').replace(
        'group = "floor"', 'group = "tree"').replace(
        '"alice" }]\n\n[[groups]]', '"alice" }, { collaborator = "bob" }]\n\n[[groups]]', 1),
        encoding="utf-8")
    dry = runner.invoke(cli, ["apply", str(config), "--database", database, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    lines = dry.stdout.splitlines()
    assert "~ distributor monthly-bonus: update (configuration version 2)" in lines
    assert "    pool.amount: 100.00 → 250.00" in lines
    assert "    members.bob: (none) → {}" in lines
    assert "+ binding of distributor monthly-bonus: bind (to tree (was floor))" in lines
    as_json = json.loads(runner.invoke(cli, ["apply", str(config), "--database", database,
                                             "--dry-run", "--json"]).stdout)
    fields = {(c["kind"], c["id"]): c["fields"] for c in as_json["changes"]}
    assert fields[("distributor", "monthly-bonus")] == [
        {"field": "pool.amount", "old": "100.00", "new": "250.00"}]
    assert fields[("binding", "monthly-bonus")] == [
        {"field": "group", "old": "floor", "new": "tree"}]
    with Kernel(database) as kernel:
        assert kernel.distributor("monthly-bonus").config_version == 1


def test_an_inactive_collaborator_the_file_does_not_declare_can_join(kernel: Kernel) -> None:
    apply(kernel, _parsed(kernel, PEOPLE))
    apply(kernel, _parsed(kernel, '[[groups]]\nid = "g"\nstructure = "flat"\n'
                          'members = [{ collaborator = "bob" }]\n'))
    assert [(m.collaborator, m.status) for m in kernel.group_members("g")] == [
        ("bob", "inactive")]


GROUP = PEOPLE + """
[[groups]]
id = "team"
structure = "{structure}"
members = [ {{ collaborator = "alice"{alice} }}, {{ collaborator = "bob"{bob} }} ]
"""


def test_a_group_changes_structure_and_metadata_in_one_file(kernel: Kernel) -> None:
    """A chain's positions do not fit a parent-child tree, and a tree's parents do not fit
    a chain: each switch finds the order that works (members set without metadata in
    between when neither does)."""
    flat = GROUP.format(structure="flat", alice="", bob="")
    apply(kernel, _parsed(kernel, flat))
    chain = GROUP.format(structure="linear_chain", alice=", position = 1",
                         bob=", position = 2")
    apply(kernel, _parsed(kernel, chain))
    assert kernel.group("team").structure == "linear_chain"
    assert [dict(m.metadata) for m in kernel.group_members("team")] == [
        {"position": 1}, {"position": 2}]
    tree = GROUP.format(structure="parent_child", alice="", bob=', parent = "alice"')
    apply(kernel, _parsed(kernel, tree))
    assert kernel.group("team").structure == "parent_child"
    assert [dict(m.metadata) for m in kernel.group_members("team")] == [{}, {"parent": "alice"}]
    assert {c.verb for c in apply(kernel, _parsed(kernel, tree))} == {"unchanged"}


def test_a_binding_to_a_deleted_group_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """A file names only live groups: bound to a deleted group, a distributor pays no one
    through it, and unbound it would pay everyone, so the export says what it left out."""
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(url) as kernel:
        kernel.create_collaborator("alice")
        kernel.create_group("team", members=["alice"])
        kernel.create_distributor(monthly())
        kernel.bind_distributor("monthly-bonus", "team")
        kernel.delete_group("team")
    result = CliRunner().invoke(cli, ["export", "--database", url])
    assert result.exit_code == 0, result.output
    assert "group =" not in result.stdout
    assert ("warning: distributor 'monthly-bonus' is bound to deleted group 'team'"
            in result.stderr)
