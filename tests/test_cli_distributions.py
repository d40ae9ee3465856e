"""``siren heartbeat``, ``worker``, ``distributions``, ``allocations``, ``preview``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli

from conftest import monthly, sale


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(url) as kernel:
        for name in ("alice", "bob"):
            kernel.create_collaborator(name)
        kernel.create_distributor(monthly())
        kernel.record("sale", sale("o-1", "alice", "30.00", "2026-01-03T00:00:00Z"))
        kernel.record("sale", sale("o-2", "alice", "30.00", "2026-01-04T00:00:00Z"))
        kernel.record("sale", sale("o-3", "bob", "30.00", "2026-01-05T00:00:00Z"))
    return url


def _run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output)
    return parsed


def test_preview_then_heartbeat_pay_the_same(database: str) -> None:
    preview = _run("preview", "monthly-bonus", "--database", database,
                   "--now", "2026-02-01T00:00:00Z", "--json")
    assert preview["pool"] == "1000.00"
    assert preview["allocations"] == [
        {"collaborator": "alice", "score": 20, "amount": "666.67"},
        {"collaborator": "bob", "score": 10, "amount": "333.33"}]
    report = _run("heartbeat", "--database", database, "--now", "2026-02-01T00:00:00Z",
                  "--json")
    completed = report["completed"]
    assert isinstance(completed, list) and len(completed) == 1
    allocations = _run("allocations", str(completed[0]["id"]), "--database", database, "--json")
    assert [(a["collaborator"], a["score"], a["amount"]) for a in allocations["allocations"]
            ] == [(a["collaborator"], a["score"], a["amount"]) for a in preview["allocations"]]


def test_distributions_lists_periods_and_filters(database: str) -> None:
    _run("heartbeat", "--database", database, "--now", "2026-02-01T00:00:00Z", "--json")
    listed = _run("distributions", "--database", database, "--json")["distributions"]
    assert [(d["status"], d["period_start"]) for d in listed] == [
        ("completed", "2026-01-01T00:00:00Z"), ("open", "2026-02-01T00:00:00Z")]
    open_only = _run("distributions", "--database", database, "--status", "open", "--json")
    assert len(open_only["distributions"]) == 1
    table = CliRunner().invoke(cli, ["distributions", "--database", database],
                               env={"COLUMNS": "150"})
    assert "completed" in table.output and "1000.00 USD" in table.output


def test_worker_once_distributes_what_is_due(database: str) -> None:
    result = CliRunner().invoke(cli, ["worker", "--once", "--json", "--database", database])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # stderr has the heartbeat line
    assert report["completed"][0]["period_start"] == "2026-01-01T00:00:00Z"
    # the clock is past 2026-02: the worker caught up every month since, one by one
    months = [d["period_start"][:7] for d in report["completed"]]
    assert months == sorted(months) and len(months) == len(set(months))


def test_a_naive_now_is_refused_with_a_clear_error(database: str) -> None:
    result = CliRunner().invoke(cli, ["heartbeat", "--database", database,
                                      "--now", "2026-02-01T00:00:00"])
    assert result.exit_code == 2
    assert "--now: '2026-02-01T00:00:00' has no timezone" in result.output
    assert "Traceback" not in result.output


def test_preview_of_an_unknown_distributor(database: str) -> None:
    result = CliRunner().invoke(cli, ["preview", "nope", "--database", database])
    assert result.exit_code == 2
    assert "distributor 'nope' does not exist" in result.output


def _future() -> str:
    return (datetime.now(UTC) + timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("command", [["heartbeat"], ["worker", "--once"],
                                     ["preview", "monthly-bonus"]])
def test_a_now_later_than_the_clock_is_refused_without_force(database: str,
                                                              command: list[str]) -> None:
    future = _future()
    result = CliRunner().invoke(cli, [*command, "--database", database, "--now", future])
    assert result.exit_code == 2, result.output
    assert f"--now: '{future}' is later than the clock (" in result.output
    assert "--force" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    with Kernel(database) as kernel:  # nothing was distributed
        assert [d.status for d in kernel.distributions()] == ["open"]


def test_force_accepts_a_future_now(database: str) -> None:
    future = _future()
    report = _run("heartbeat", "--database", database, "--now", future, "--force", "--json")
    assert isinstance(report["completed"], list) and len(report["completed"]) >= 1
    preview = _run("preview", "monthly-bonus", "--database", database, "--now", future,
                   "--force", "--json")
    assert preview["pool"] is not None


def test_worker_now_distributes_up_to_that_instant(database: str) -> None:
    result = CliRunner().invoke(cli, ["worker", "--once", "--json", "--database", database,
                                      "--now", "2026-02-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [d["period_start"] for d in report["completed"]] == ["2026-01-01T00:00:00Z"]


def test_the_kernel_heartbeat_takes_a_future_now_as_given(database: str) -> None:
    with Kernel(database) as kernel:  # the embedding application owns its clock
        report = kernel.heartbeat(datetime.now(UTC) + timedelta(days=40))
    assert len(report.completed) >= 1
