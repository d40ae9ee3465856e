"""``siren obligations`` and ``siren fulfill`` through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from siren_core import Kernel
from siren_core.cli import cli


@pytest.fixture
def database(tmp_path: Path) -> str:
    """alice: two obligations (10.00, 2.50 USD); bob: one (40.00 USD); all pending."""
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(url) as kernel:
        kernel.create_collaborator("alice", email="alice@example.com")
        kernel.create_collaborator("bob")
        for key, (name, amount) in enumerate([("alice", 1000), ("alice", 250),
                                              ("bob", 4000)], start=1):
            kernel.issue_obligation(name, amount, "USD", source="test", source_id=key)
    return url


def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200", **(env or {})})
    assert result.exit_code == code, result.output
    return result


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json").output)


def test_list_and_filters(database: str) -> None:
    rows = run_json("obligations", "list", "--database", database)
    assert [(r["id"], r["collaborator"], r["amount"], r["status"]) for r in rows] == [
        (1, "alice", "10.00", "pending"), (2, "alice", "2.50", "pending"),
        (3, "bob", "40.00", "pending")]
    alice = run_json("obligations", "list", "--database", database, "--collaborator", "alice")
    assert [r["id"] for r in alice] == [1, 2]
    assert run_json("obligations", "list", "--database", database, "--status", "draft"
                    ) == rows  # alias of pending
    table = run("obligations", "list", "--database", database).output
    assert "Obligations" in table and "alice" in table and "10.00 USD" in table


def test_database_from_environment(database: str) -> None:
    result = run("obligations", "list", "--json", env={"SIREN_DATABASE_URL": database})
    assert len(json.loads(result.output)) == 3


def test_bulk_approve_reports_each_id(database: str) -> None:
    result = run("obligations", "approve", "1", "2", "99", "--database", database,
                 "--actor", "ops:jane", "--reason", "reviewed", "--json", code=1)
    body = json.loads(result.output)
    assert body["affected"] == 2
    assert [(o["id"], o["outcome"]) for o in body["outcomes"]] == [
        (1, "done"), (2, "done"), (99, "refused")]
    assert body["outcomes"][2]["reason"] == "no such obligation"
    shown = run_json("obligations", "show", "1", "--database", database)
    assert shown["status"] == "approved"
    assert [(h["from"], h["to"], h["actor"], h["reason"]) for h in shown["history"]] == [
        (None, "pending", "api", "issued by test"),
        ("pending", "approved", "ops:jane", "reviewed")]
    table = run("obligations", "approve", "1", "--database", database).output
    assert "skipped" in table and "1 skipped" in table


def test_reject_cancel_and_mark_pending(database: str) -> None:
    run("obligations", "reject", "1", "--database", database, "--reason", "fraud")
    run("obligations", "mark-pending", "1", "--database", database)
    run("obligations", "cancel", "1", "--database", database)
    refused = run("obligations", "approve", "1", "--database", database, code=1).output
    assert "refused" in refused and "cancelled is final" in refused
    show = run("obligations", "show", "1", "--database", database).output
    assert "History" in show and "fraud" in show


def test_unknown_obligation_is_a_clear_error(database: str) -> None:
    result = run("obligations", "show", "99", "--database", database, code=2)
    assert "obligation 99 does not exist" in result.output
    bad = run("obligations", "list", "--database", database, "--status", "paid", code=2)
    assert "status" in bad.output


def test_fulfill_generate_export_and_pay(database: str, tmp_path: Path) -> None:
    run("obligations", "approve", "1", "2", "3", "--database", database)
    generated = run_json("fulfill", "generate", "--database", database,
                         "--minimum", "USD=20.00")
    batch = generated["fulfillment"]
    assert [(p["collaborator"], p["amount"]) for p in batch["payouts"]] == [("bob", "40.00")]
    assert generated["carried_forward"] == [{
        "collaborator": "alice", "units": "USD", "amount": "12.50", "minimum": "20.00",
        "obligation_ids": [1, 2]}]
    out = tmp_path / "payouts.csv"
    run("fulfill", "export", str(batch["id"]), "--database", database, "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["collaborator"], r["amount"], r["currency"], r["obligation_ids"])
            for r in rows] == [("bob", "40.00", "USD", "3")]
    printed = run("fulfill", "export", str(batch["id"]), "--database", database).output
    assert printed == out.read_text()
    listed = run_json("fulfill", "list", "--database", database)
    assert [(f["id"], f["status"], f["totals"]) for f in listed] == [
        (batch["id"], "pending", {"USD": "40.00"})]
    run("fulfill", "mark-processing", "--fulfillment", str(batch["id"]), "--database",
        database)
    paid = run_json("fulfill", "mark-paid", "--payout", str(batch["payouts"][0]["id"]),
                    "--database", database, "--reference", "PP-1")
    assert [(p["status"], p["reference"]) for p in paid] == [("paid", "PP-1")]
    shown = run_json("fulfill", "show", str(batch["id"]), "--database", database)
    assert shown["status"] == "complete"
    assert run_json("obligations", "list", "--database", database, "--status",
                    "complete")[0]["id"] == 3
    table = run("fulfill", "show", str(batch["id"]), "--database", database).output
    assert "Payouts" in table and "40.00 USD" in table


def test_fulfill_failure_and_retry(database: str) -> None:
    run("obligations", "approve", "1", "--database", database)
    first = run_json("fulfill", "generate", "--database", database, "--obligation", "1",
                     "--obligation", "2")
    assert first["refused"] == [{"id": 2, "status": "pending",
                                 "reason": "is pending, not approved"}]
    failed = run_json("fulfill", "mark-failed", "--fulfillment",
                      str(first["fulfillment"]["id"]), "--reason", "bank said no",
                      "--database", database)
    assert [(p["status"], p["reason"]) for p in failed] == [("failed", "bank said no")]
    again = run_json("fulfill", "generate", "--database", database)
    assert again["fulfillment"]["payouts"][0]["obligation_ids"] == [1]
    nothing = run("fulfill", "generate", "--database", database).output
    assert "nothing to fulfil" in nothing


def test_fulfill_usage_errors(database: str) -> None:
    assert "--fulfillment or --payout" in run("fulfill", "mark-paid", "--database", database,
                                              code=2).output
    bad = run("fulfill", "generate", "--database", database, "--minimum", "USD=1.005",
              code=2)
    assert "--minimum USD" in bad.output
    assert "CURRENCY=AMOUNT" in run("fulfill", "generate", "--database", database,
                                    "--minimum", "USD", code=2).output
    assert "fulfillment 9 does not exist" in run("fulfill", "show", "9", "--database",
                                                 database, code=2).output
