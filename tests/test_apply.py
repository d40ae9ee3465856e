"""Configuration files and ``siren apply`` / ``siren init``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.config.apply import apply, plan
from siren_core.config.files import SirenConfig, parse_config, read_config_text
from siren_core.errors import InvalidInput

CONFIG = """
[[collaborators]]
id = "alice"
name = "Alice"

[[collaborators]]
id = "bob"
status = "inactive"

[[distributors]]
id = "monthly-bonus"
name = "Monthly sales bonus"
units = "USD"
timezone = "America/New_York"
schedule = "monthly"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "500.00" }
calculator = { id = "top_score" }
eligibility = "all_active"

[[distributors.metrics]]
type = "sale"
points = 10
credit = { rule = "fixed" }
"""


def _parsed(kernel: Kernel, text: str = CONFIG) -> SirenConfig:
    return parse_config(read_config_text(text), kernel.converter, kernel.registry)


def test_apply_creates_then_finds_nothing_to_change(kernel: Kernel) -> None:
    changes = apply(kernel, _parsed(kernel))
    assert [(c.kind, c.id, c.verb) for c in changes] == [
        ("collaborator", "alice", "create"), ("collaborator", "bob", "create"),
        ("distributor", "monthly-bonus", "create")]
    assert [(c.id, c.name, c.status) for c in kernel.collaborators()] == [
        ("alice", "Alice", "active"), ("bob", "bob", "inactive")]
    (period,) = kernel.distributions()
    assert period.period_start.isoformat() == "2026-01-01T05:00:00+00:00"
    assert {c.verb for c in apply(kernel, _parsed(kernel))} == {"unchanged"}


def test_apply_updates_by_id(kernel: Kernel) -> None:
    apply(kernel, _parsed(kernel))
    edited = CONFIG.replace('amount = "500.00"', 'amount = "750.00"').replace(
        'name = "Alice"', 'name = "Alice M."')
    changes = {(c.id, c.verb, c.detail) for c in plan(kernel, _parsed(kernel, edited))}
    assert ("monthly-bonus", "update", "configuration version 2") in changes
    assert ("alice", "update", "name") in changes
    apply(kernel, _parsed(kernel, edited))
    assert kernel.distributor("monthly-bonus").config_version == 2
    assert kernel.distributor("monthly-bonus").spec.pool.config == {"amount": "750.00"}


def test_json_has_the_same_shape(kernel: Kernel) -> None:
    document = {"collaborators": [{"id": "alice"}], "distributors": [{
        "id": "d", "name": "D", "units": "EUR", "schedule": "weekly", "start": "2026-01-05",
        "pool": {"resolver": "fixed", "amount": "10"}, "calculator": {"id": "proportional"},
        "metrics": [{"type": "sale"}]}]}
    apply(kernel, _parsed(kernel, json.dumps(document)))
    assert kernel.distributor("d").spec.units == "EUR"


@pytest.mark.parametrize(("edit", "field", "value"), [
    (('amount = "500.00"', 'amount = "12,5"'), "distributors[0].pool.amount", "12,5"),
    (('calculator = { id = "top_score" }', 'calculator = { id = "top_score", bogus = 1 }'),
     "distributors[0].calculator.bogus", "bogus"),
    (('type = "sale"', 'type = "sale"\nextra = 1'), "distributors[0].metrics[0].extra",
     "extra"),
    (('status = "inactive"', 'status = "asleep"'), "collaborators[1].status", "asleep"),
    (('units = "USD"', 'units = "US"'), "distributors[0].units", "US"),
    (('[[collaborators]]\nid = "bob"', '[[collaborators]]\nid = "alice"'), "collaborators[1].id",
     "alice"),
])
def test_bad_configuration_names_the_path_and_writes_nothing(
        kernel: Kernel, edit: tuple[str, str], field: str, value: str) -> None:
    with pytest.raises(InvalidInput) as error:
        _parsed(kernel, CONFIG.replace(*edit))
    assert (error.value.field, str(error.value.value)) == (field, value)
    assert kernel.table_counts()["collaborator"] == 0


def test_cli_apply_dry_run_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    config.write_text(CONFIG)
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    dry = CliRunner().invoke(cli, ["apply", str(config), "--database", database, "--dry-run",
                                   "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["dry_run"] is True
    with Kernel(database) as kernel:
        assert kernel.collaborators() == ()
    done = CliRunner().invoke(cli, ["apply", str(config), "--database", database])
    assert done.exit_code == 0 and "monthly-bonus" in done.output
    with Kernel(database) as kernel:
        assert len(kernel.collaborators()) == 2


def test_cli_apply_reports_bad_files_clearly(tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    config.write_text("[[distributors]\nid = 1")
    result = CliRunner().invoke(cli, ["apply", str(config), "--database",
                                      f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert "is not valid TOML or JSON" in result.stderr and "Traceback" not in result.output


def test_init_then_apply_then_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "--start", "2026-01-01"]).exit_code == 0
    assert (tmp_path / "siren.toml").exists() and (tmp_path / "siren.db").exists()
    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    applied = runner.invoke(cli, ["apply", "siren.toml"])
    assert applied.exit_code == 0, applied.output
    beat = runner.invoke(cli, ["heartbeat", "--now", "2026-02-01T00:00:00Z", "--json"])
    assert beat.exit_code == 0, beat.output
    assert json.loads(beat.stdout)["completed"][0]["reason"] in {"zero_pool", "no_scores"}


GROUPS = CONFIG.replace('status = "inactive"', 'status = "active"') + """
[[collaborators]]
id = "carol"

[[groups]]
id = "sales-team"
structure = "parent_child"
members = [ { collaborator = "alice" }, { collaborator = "bob", parent = "alice" } ]
"""


def test_apply_creates_groups_and_bindings_with_their_events(kernel: Kernel) -> None:
    seen: list[str] = []
    lifecycle: list[str] = []
    kernel.subscribe(lambda event: (seen if "group" in event.event_id else lifecycle).append(
        event.event_id))
    config = GROUPS.replace('eligibility = "all_active"',
                            'eligibility = "all_active"\ngroup = "sales-team"')
    apply(kernel, _parsed(kernel, config))
    assert kernel.distributor_group("monthly-bonus") == "sales-team"
    assert {m.collaborator: dict(m.metadata) for m in kernel.group_members("sales-team")} == {
        "alice": {}, "bob": {"parent": "alice"}}
    assert seen == ["collaborator_group_created", "collaborator_added_to_collaborator_group",
                    "collaborator_added_to_collaborator_group",
                    "distributor_bound_to_collaborator_group"]
    assert lifecycle == ["collaborator_created"] * 3 + ["distributor_created"]
    seen.clear()
    lifecycle.clear()
    assert {c.verb for c in apply(kernel, _parsed(kernel, config))} == {"unchanged"}
    assert seen == lifecycle == []
    moved = config.replace('{ collaborator = "bob", parent = "alice" }',
                           '{ collaborator = "carol", parent = "alice" }').replace(
        'group = "sales-team"', "")
    changes = {(c.kind, c.verb) for c in apply(kernel, _parsed(kernel, moved))}
    assert ("group", "update") in changes and ("binding", "unbind") in changes
    assert seen == ["collaborator_removed_from_collaborator_group",
                    "collaborator_added_to_collaborator_group",
                    "distributor_unbound_from_collaborator_group"]
    assert kernel.distributor_group("monthly-bonus") is None


def test_a_failing_apply_changes_nothing_and_fires_nothing(kernel: Kernel) -> None:
    seen: list[str] = []
    kernel.subscribe(lambda event: seen.append(event.event_id))
    broken = GROUPS.replace('{ collaborator = "alice" }, ', '').replace(
        'parent = "alice"', 'parent = "bob"')  # bob is his own parent: a cycle
    with pytest.raises(InvalidInput):
        apply(kernel, _parsed(kernel, broken))
    assert seen == []
    assert kernel.table_counts()["collaborator"] == 0
