"""``siren simulate`` reproduces Siren's worked numbers from committed files (spec §8.3)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from siren_core.cli import cli
from siren_core.config.recipes import recipe_events, recipe_names, recipe_text

from conftest import install_distribution

WORKED = Path(__file__).parent / "data" / "worked"


def _simulate(config: Path, events: Path, until: str = "2026-02-01T00:00:00Z") -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["simulate", str(config), str(events), "--until", until])
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _worked(name: str) -> dict[str, Any]:
    return _simulate(WORKED / f"{name}.toml", WORKED / f"{name}.events.jsonl")


def _paid(result: dict[str, Any]) -> list[tuple[str, int, str]]:
    (distribution,) = result["distributions"]
    return [(a["collaborator"], a["score"], a["amount"]) for a in distribution["allocations"]]


def test_shared_engagement_pool_pays_500_each() -> None:
    result = _worked("shared-pool")
    assert result["distributions"][0]["pool"] == "5000.00"
    assert {amount for _c, _s, amount in _paid(result)} == {"500.00"}
    assert len(_paid(result)) == 10


def test_performance_weighted_pool_pays_3000_1800_1200() -> None:
    result = _worked("weighted-pool")
    assert result["distributions"][0]["pool"] == "6000.00"
    assert _paid(result) == [("ann", 500, "3000.00"), ("ben", 300, "1800.00"),
                             ("cat", 200, "1200.00")]


def test_top_score_wins_takes_the_whole_5000() -> None:
    result = _worked("top-score")
    assert result["distributions"][0]["pool"] == "5000.00"
    assert _paid(result) == [("ann", 850, "5000.00")]


def test_weighted_metrics_decide_the_top_score() -> None:
    assert [(c, s) for c, s, _a in _paid(_worked("weighted-top-score"))] == [("a", 200)]


def test_the_output_contract() -> None:
    result = _worked("weighted-pool")
    (distribution,) = result["distributions"]
    assert distribution == {
        "distributor": "weighted-pool", "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-02-01T00:00:00Z", "units": "USD", "pool": "6000.00",
        "reason": None, "carried_in": "0.00", "carried_out": "0.00",
        "allocations": distribution["allocations"]}
    assert result["failed"] == []


def test_a_period_without_scores_reports_its_reason(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = _simulate(WORKED / "weighted-pool.toml", events, until="2026-03-01T00:00:00Z")
    assert [(d["period_end"], d["reason"], d["allocations"]) for d in result["distributions"]
            ] == [("2026-02-01T00:00:00Z", "zero_pool", []),
                  ("2026-03-01T00:00:00Z", "zero_pool", [])]


@pytest.mark.parametrize(("line", "message"), [
    ('{"type": "sale", "id": "o-9", "at": "2026-01-05T10:00:00Z", "amount": 12.5, '
     '"currency": "USD"}', "line 2: sale.amount: 12.5 is a float"),
    ('{"type": "visit", "id": "v-9", "at": "2026-01-05T10:00:00", "collaborator": "ann"}',
     "line 2: visit.at: '2026-01-05T10:00:00' has no timezone"),
    ('{"type": "visit", "id": "v-9", "at": "2026-01-05T10:00:00Z", "collaborator": "zed"}',
     "line 2: visit.collaborator: 'zed' is not a known collaborator"),
    ('{"type": "teleport", "id": "t-1", "at": "2026-01-05T10:00:00Z"}',
     "line 2: type: 'teleport' is not a known trigger strategy"),
    ("not json", "line 2: line: 'not json' is not JSON"),
])
def test_an_invalid_line_exits_2_naming_the_line(tmp_path: Path, line: str,
                                                 message: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "visit", "id": "v-1", "at": "2026-01-02T00:00:00Z", '
                      '"collaborator": "ann"}\n' + line + "\n")
    result = CliRunner().invoke(cli, ["simulate", str(WORKED / "weighted-pool.toml"),
                                      str(events), "--until", "2026-02-01T00:00:00Z"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_an_invalid_config_exits_2_naming_the_path(tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    config.write_text((WORKED / "weighted-pool.toml").read_text().replace(
        'percent = "15"', 'percent = "12,5"'))
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = CliRunner().invoke(cli, ["simulate", str(config), str(events),
                                      "--until", "2026-02-01T00:00:00Z"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "distributors[0].pool.percent: '12,5' is not a decimal" in result.stderr


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_applies_and_simulates_a_sample_month(tmp_path: Path, name: str) -> None:
    config, events = tmp_path / f"{name}.toml", tmp_path / "events.jsonl"
    config.write_text(recipe_text(name))
    events.write_text(recipe_events(name))
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    applied = CliRunner().invoke(cli, ["apply", str(config), "--database", database, "--json"])
    assert applied.exit_code == 0, applied.output
    assert {c["action"] for c in json.loads(applied.stdout)["changes"]} == {"create"}
    result = _simulate(config, events)
    (distribution,) = result["distributions"]
    paid = sum(int(a["amount"].replace(".", "")) for a in distribution["allocations"])
    assert distribution["allocations"] and paid == int(distribution["pool"].replace(".", ""))


# -- a sandbox: installed listeners hear nothing, failures are never left out -------------

AUDIT_PLUGIN = '''
import os
from siren_core import hookimpl
from siren_core.records import AllocationCalculator

@hookimpl
def siren_on_event(event):
    with open(os.environ["SIREN_TEST_AUDIT_LOG"], "a", encoding="utf-8") as log:
        log.write(event.event_id + "\\n")

def _raising(context, config):
    raise RuntimeError("calculator blew up")

@hookimpl
def siren_allocation_calculators():
    return [AllocationCalculator(id="raising", description="raises", allocate=_raising)]
'''


@pytest.fixture
def audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution whose listener appends every event id to a file (and
    which provides a ``raising`` calculator)."""
    site = tmp_path / "site-packages"
    install_distribution(site, "siren-audit", {"audit": "siren_sim_audit"},
                         {"siren_sim_audit": AUDIT_PLUGIN})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SIREN_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SIREN_LOAD_PLUGINS", raising=False)
    log = tmp_path / "audit.log"
    monkeypatch.setenv("SIREN_TEST_AUDIT_LOG", str(log))
    yield log
    sys.modules.pop("siren_sim_audit", None)


def _invoke(config: Path, *options: str) -> Result:
    return CliRunner().invoke(cli, ["simulate", str(config), str(
        WORKED / "weighted-pool.events.jsonl"), "--until", "2026-02-01T00:00:00Z", *options])


def test_installed_listeners_hear_a_simulation_only_when_asked(audit_log: Path) -> None:
    quiet = _invoke(WORKED / "weighted-pool.toml")
    assert quiet.exit_code == 0, quiet.output
    assert not audit_log.exists()
    heard = _invoke(WORKED / "weighted-pool.toml", "--with-listeners")
    assert heard.exit_code == 0, heard.output
    assert json.loads(heard.stdout) == json.loads(quiet.stdout)
    assert "distribution_completed" in audit_log.read_text().split()


def test_a_failing_distributor_exits_1_and_is_listed_with_its_error(
        audit_log: Path, tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    text = (WORKED / "weighted-pool.toml").read_text()
    second = text.split("[[distributors]]")[1].replace('id = "weighted-pool"',
                                                       'id = "broken-pool"')
    config.write_text(text + "\n[[distributors]]" + second.replace(
        'calculator = { id = "proportional" }', 'calculator = { id = "raising" }'))
    result = _invoke(config)
    assert result.exit_code == 1
    output = json.loads(result.stdout)
    assert [d["distributor"] for d in output["distributions"]] == ["weighted-pool"]
    [failed] = output["failed"]
    assert (failed["distributor"], failed["period_start"]) == ("broken-pool",
                                                               "2026-01-01T00:00:00Z")
    assert "calculator blew up" in failed["error"]
    assert "error: broken-pool for 2026-01-01T00:00:00Z: allocation calculator 'raising' " \
           "failed: RuntimeError('calculator blew up')" in result.stderr


def test_a_distributor_whose_plugin_is_missing_stops_the_simulation(tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    config.write_text((WORKED / "weighted-pool.toml").read_text().replace(
        'calculator = { id = "proportional" }', 'calculator = { id = "raising" }'))
    result = _invoke(config)
    assert result.exit_code == 2 and result.stdout == ""
    assert "distributors[0].calculator.id: 'raising' is not a known allocation calculator" \
        in result.stderr
