"""Listings an operator expects (issue 16): ``siren collaborators``, ``distributors``,
``credits COLLABORATOR``, ``allocations --explain``; ``--json`` carries every field the
table shows, and ``--tz`` shows local times."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from siren_core import Kernel
from siren_core.cli import cli

from conftest import at, monthly, sale

WIDE = {"COLUMNS": "250"}


@pytest.fixture
def paid(database_url: str) -> str:
    """alice: a sale and a manual credit in January; bob: a sale; January distributed;
    then a late sale of alice (its period is closed: it counts in February)."""
    with Kernel(database_url) as kernel:
        kernel.create_collaborator("alice", name="Alice", email="alice@example.org")
        kernel.create_collaborator("bob")
        kernel.create_collaborator("carol", status="inactive")
        kernel.create_distributor(monthly(metrics=[
            {"type": "sale", "points": 10}, {"type": "manual", "points": 3}]))
        kernel.create_group("team", members=["alice", "bob"])  # both earn either way
        kernel.bind_distributor("monthly-bonus", "team")
        kernel.record("sale", sale("o-1", "alice", "30.00", "2026-01-03T10:00:00Z"))
        kernel.record("sale", sale("o-2", "bob", "30.00", "2026-01-04T10:00:00Z"))
        kernel.credit_metric("alice", id="m-1", at=at("2026-01-05T10:00"))
        assert not kernel.heartbeat(at("2026-02-01")).failed
        kernel.record("sale", sale("o-3", "alice", "30.00", "2026-01-20T10:00:00Z"))
    return database_url


def _json(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _table(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=WIDE)
    assert result.exit_code == 0, result.output
    return result


def test_collaborators_lists_every_field(paid: str) -> None:
    rows = _json("collaborators", "--database", paid, "--json")["collaborators"]
    api_ids = [row.pop("api_id") for row in rows]  # the integer id siren serve names them by
    assert len(set(api_ids)) == 3 and all(isinstance(n, int) and n > 0 for n in api_ids)
    assert rows == [
        {"id": "alice", "name": "Alice", "email": "alice@example.org", "status": "active"},
        {"id": "bob", "name": "bob", "email": None, "status": "active"},
        {"id": "carol", "name": "carol", "email": None, "status": "inactive"}]
    inactive = _json("collaborators", "--database", paid, "--status", "inactive", "--json")
    assert [c["id"] for c in inactive["collaborators"]] == ["carol"]
    assert "alice@example.org" in _table("collaborators", "--database", paid).output


def test_distributors_lists_their_setup(paid: str) -> None:
    [row] = _json("distributors", "--database", paid, "--json")["distributors"]
    assert {key: row[key] for key in row if key != "config"} == {
        "id": "monthly-bonus", "name": "Monthly sales bonus", "status": "active",
        "units": "USD", "schedule": "monthly from 2026-01-01 (UTC)", "pool_resolver": "fixed",
        "calculator": "proportional", "metrics": ["sale (fixed)", "manual (fixed)"],
        "eligibility": "all_active", "group": "team", "config_version": 1}
    assert row["config"]["pool"] == {"resolver": "fixed", "amount": "1000.00"}
    table = _table("distributors", "--database", paid).output
    for shown in ("monthly-bonus", "monthly from 2026-01-01 (UTC)", "sale (fixed)", "team"):
        assert shown in table


def test_credits_show_each_credit_with_its_source_event(paid: str) -> None:
    listed = _json("credits", "alice", "--database", paid, "--json")
    assert listed["collaborator"] == "alice"
    assert [(c["event_type"], c["event_id"], c["metric_type"], c["points"], c["late"],
             c["effective_at"], c["event_at"]) for c in listed["credits"]] == [
        ("sale", "o-1", "sale", 10, False, "2026-01-03T10:00:00Z", "2026-01-03T10:00:00Z"),
        ("manual", "m-1", "manual", 3, False, "2026-01-05T10:00:00Z", "2026-01-05T10:00:00Z"),
        ("sale", "o-3", "sale", 10, True, "2026-02-01T00:00:00Z", "2026-01-20T10:00:00Z")]
    first = listed["credits"][0]
    assert (first["distributor"], first["rule"], first["units"]) == (
        "monthly-bonus", "fixed", "USD")
    assert {"revenue", "revenue_minor", "layer"} <= set(first)
    table = _table("credits", "alice", "--database", paid).output
    assert "sale o-1" in table and "late" in table and "2026-01-03 10:00" in table


def test_credits_of_an_unknown_collaborator_is_a_clear_error(paid: str) -> None:
    result = CliRunner().invoke(cli, ["credits", "zed", "--database", paid])
    assert result.exit_code == 2
    assert result.output.strip() == "error: collaborator 'zed' does not exist"


def test_allocations_explain_shows_the_scores_and_the_credits_behind_them(paid: str) -> None:
    [january] = [d for d in _json("distributions", "--database", paid, "--json")
                 ["distributions"] if d["status"] == "completed"]
    rows = _json("allocations", str(january["id"]), "--explain", "--database", paid,
                 "--json")["allocations"]
    alice, bob = rows
    assert (alice["collaborator"], alice["score"], alice["metric_scores"]) == (
        "alice", 13, {"sale": 10, "manual": 3})
    assert alice["rule_scores"] == {"sale": {"fixed": 10}, "manual": {"fixed": 3}}
    assert [c["event_id"] for c in alice["credits"]] == ["o-1", "m-1"]  # not the late o-3
    assert sum(c["points"] for c in alice["credits"]) == alice["score"]
    assert (bob["score"], [c["event_id"] for c in bob["credits"]]) == (10, ["o-2"])
    assert (alice["pool"], alice["calculator"], alice["config_version"]) == (
        "1000.00", "proportional", 1)
    table = _table("allocations", str(january["id"]), "--explain", "--database", paid).output
    assert "sale (fixed) 10, manual (fixed) 3" in table
    assert "Score credits behind them" in table and "manual m-1" in table
    plain = _json("allocations", str(january["id"]), "--database", paid, "--json")
    assert "credits" not in plain["allocations"][0]


def test_tz_shows_local_times_in_listings(paid: str) -> None:
    credits = _table("credits", "alice", "--tz", "America/New_York", "--database", paid)
    assert "2026-01-03 05:00" in credits.output and "America/New_York" in credits.output
    listed = _table("distributions", "--tz", "Asia/Tokyo", "--database", paid).output
    assert "2026-01-01 09:00 → 2026-02-01 09:00" in listed
    obligations = _table("obligations", "list", "--tz", "Asia/Tokyo", "--database", paid)
    assert "issued (Asia/Tokyo)" in obligations.output
    assert "2026-02-01 09:00" in obligations.output  # issued by the heartbeat at midnight UTC
    shown = _table("obligations", "show", "1", "--tz", "Asia/Tokyo", "--database", paid)
    assert "when (Asia/Tokyo)" in shown.output and "2026-02-01 09:00:00" in shown.output
    in_json = _json("credits", "alice", "--tz", "Asia/Tokyo", "--database", paid, "--json")
    assert in_json["credits"][0]["effective_at"] == "2026-01-03T10:00:00Z"  # JSON: UTC


def test_an_unknown_time_zone_is_refused(paid: str) -> None:
    result = CliRunner().invoke(cli, ["distributions", "--tz", "Mars/Olympus", "--database",
                                      paid])
    assert result.exit_code == 2
    assert result.output.startswith("error: --tz: 'Mars/Olympus' is not a time zone")


@pytest.mark.parametrize("command", [["collaborators"], ["distributors"],
                                     ["credits", "alice"]], ids=" ".join)
def test_the_listings_create_nothing(tmp_path: Any, command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--database", f"sqlite:///{tmp_path}/x.db"])
    assert result.exit_code == 2 and "has no siren-core schema" in result.output
    assert list(tmp_path.iterdir()) == []


def test_dash_h_is_help_everywhere() -> None:
    for command in ([], ["credits"], ["obligations", "approve"], ["db", "current"]):
        short = CliRunner().invoke(cli, [*command, "-h"])
        assert short.exit_code == 0, short.output
        assert short.output == CliRunner().invoke(cli, [*command, "--help"]).output
        assert short.output.startswith("Usage: ")


def test_the_explained_scores_match_a_distribution_of_the_kernel(paid: str) -> None:
    with Kernel(paid) as kernel:
        [january] = kernel.distributions(status="completed")
        credits = kernel.allocation_credits(january.id)
        scores: dict[str, int] = {}
        for credit in credits:
            scores[credit.collaborator] = scores.get(credit.collaborator, 0) + credit.points
        assert scores == {a.collaborator: a.score for a in kernel.allocations(january.id)}
        assert all(january.period_start <= c.effective_at < january.period_end
                   for c in credits)
        assert datetime(2026, 1, 1, tzinfo=UTC) == january.period_start
