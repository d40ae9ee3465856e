"""Events in a period already distributed: the ``late_events`` policy of each distributor.

``next_period`` (the default) counts them in the open period, marked late; ``reject``
credits nothing there and writes a ``late_rejected`` skip. Either way the event is
recorded, the late ones are counted (``record``, ``record_many``, ``siren ingest``,
``preview``), and the single and bulk paths write the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.domain import CreditSkipped
from siren_core.errors import InvalidInput
from siren_core.verify import verify

from conftest import at, monthly, sale

REVENUE_POOL = {"resolver": "revenue_percentage", "percent": "10"}
LATE_SALE = "2026-01-20T10:00:00Z"  # January: distributed by the heartbeat of the fixture
FEBRUARY_SALE = "2026-02-03T10:00:00Z"
REJECTED = CreditSkipped("strict", "sale", "late_rejected")


def typed(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, **event}


def refund(id: str, sale_id: str, when: str, amount: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"id": id, "at": when, "sale": sale_id}
    if amount is not None:
        event["amount"] = amount
    return event


@pytest.fixture
def shop(kernel: Kernel) -> Kernel:
    """Two monthly distributors, ``lenient`` (default policy) and ``strict`` (``reject``),
    with January distributed."""
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly("lenient", pool=REVENUE_POOL))
    kernel.create_distributor(monthly("strict", pool=REVENUE_POOL, late_events="reject"))
    kernel.heartbeat(at("2026-02-01"))
    return kernel


def _scores(kernel: Kernel, distributor: str) -> tuple[dict[str, int], int]:
    outcome = kernel.preview(distributor, at("2026-03-01")).outcome
    return {name: score for _key, name, score, _amount in outcome.allocations}, outcome.revenue


def _rows(kernel: Kernel, table: str, columns: str) -> dict[str, list[tuple[Any, ...]]]:
    """``table``'s rows per source event key (``columns`` of the row, in id order)."""
    query = sa.text(f"SELECT e.key, {columns} FROM source_event e JOIN {table} t "
                    "ON t.source_event_id = e.id JOIN distributor d ON d.id = t.distributor_id "
                    "ORDER BY t.id")
    found: dict[str, list[tuple[Any, ...]]] = {}
    with kernel.engine.connect() as conn:
        for row in conn.execute(query):
            found.setdefault(row[0], []).append(tuple(row[1:]))
    return found


CREDIT_COLUMNS = ("d.external_id, t.effective_at, t.late, t.points, t.revenue, t.rule, "
                  "t.metric_type, t.collaborator_id")
SKIP_COLUMNS = "d.external_id, t.metric_type, t.reason"


def test_the_default_counts_a_late_event_in_the_open_period_and_says_so(shop: Kernel) -> None:
    result = shop.record("sale", sale("o-1", "alice", "10.00", LATE_SALE))
    assert (result.credits, result.late) == (1, 2)  # lenient's credit; strict's refusal
    assert result.skipped == (REJECTED,)
    assert _scores(shop, "lenient") == ({"alice": 10}, 1000)
    again = shop.record("sale", sale("o-1", "alice", "10.00", LATE_SALE))
    assert again.duplicate and (again.credits, again.late, again.skipped) == (1, 2, (REJECTED,))
    on_time = shop.record("sale", sale("o-2", "bob", "10.00", FEBRUARY_SALE))
    assert (on_time.credits, on_time.late, on_time.skipped) == (2, 0, ())


def test_reject_records_the_event_but_credits_nothing_at_that_distributor(
        shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "10.00", LATE_SALE))
    assert _scores(shop, "strict") == ({}, 0)  # neither points nor revenue
    assert _rows(shop, "credit_skip", SKIP_COLUMNS) == {
        "o-1": [("strict", "sale", "late_rejected")]}
    [(name, _when, late, *_rest)] = _rows(shop, "score_credit", CREDIT_COLUMNS)["o-1"]
    assert (name, late) == ("lenient", True)
    assert shop.table_counts()["source_event"] == 1
    [january] = shop.distributions(distributor="strict", status="completed")
    assert shop.allocations(january.id) == ()  # a distributed period never changes
    assert verify(shop) == []  # the refusal accounts for the event at strict


def test_an_event_on_time_is_credited_by_both_policies(shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "10.00", FEBRUARY_SALE))
    assert _scores(shop, "strict") == _scores(shop, "lenient") == ({"alice": 10}, 1000)


@pytest.mark.parametrize("value", ["sometimes", "", "NEXT_PERIOD"])
def test_an_unknown_policy_is_refused_naming_the_field(kernel: Kernel, value: str) -> None:
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(monthly(late_events=value))
    assert (error.value.field, error.value.value) == ("late_events", value)
    assert "next_period, reject" in str(error.value)
    assert kernel.distributors() == ()


def test_the_policy_is_stored_and_read_back(shop: Kernel, database_url: str) -> None:
    with Kernel(database_url) as other:
        assert other.distributor("strict").spec.late_events == "reject"
        assert other.distributor("lenient").spec.late_events == "next_period"
    lenient = shop.distributor("lenient")
    updated = shop.update_distributor(monthly("lenient", pool=REVENUE_POOL,
                                              late_events="reject"))
    assert updated.config_version == lenient.config_version + 1
    assert shop.record("sale", sale("o-1", "alice", "1.00", LATE_SALE)).credits == 0


def test_bulk_writes_the_rows_and_counts_that_single_records_write(shop: Kernel) -> None:
    single = [shop.record("sale", sale("single-late", "alice", "1.00", LATE_SALE)),
              shop.record("sale", sale("single", "alice", "1.00", FEBRUARY_SALE))]
    report = shop.record_many([
        typed("sale", sale("bulk-late", "alice", "1.00", LATE_SALE)),
        typed("sale", sale("bulk", "alice", "1.00", FEBRUARY_SALE))])
    credits = _rows(shop, "score_credit", CREDIT_COLUMNS)
    skips = _rows(shop, "credit_skip", SKIP_COLUMNS)
    assert credits["bulk-late"] == credits["single-late"]
    assert credits["bulk"] == credits["single"]
    assert skips["bulk-late"] == skips["single-late"] == [("strict", "sale", "late_rejected")]
    assert "bulk" not in skips and "single" not in skips
    assert (report.inserted, report.credits, report.skipped, report.late) == (
        2, sum(r.credits for r in single), 1, sum(r.late for r in single))
    assert report.late_positions == (0,)


def test_a_refund_in_an_open_period_is_reversed_in_place_whatever_the_policy(
        shop: Kernel) -> None:
    shop.record("sale", sale("o-0", "bob", "10.00", FEBRUARY_SALE))  # February, on time
    result = shop.record("refund", refund("r-0", "o-0", "2026-02-04T00:00:00Z", "5.00"))
    assert (result.late, result.skipped) == (0, ())  # February is open: reversed in place
    assert _scores(shop, "strict") == ({"bob": 5}, 500)


def test_a_refund_of_a_sale_in_a_distributed_period(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly("lenient", pool=REVENUE_POOL))
    kernel.create_distributor(monthly("strict", pool=REVENUE_POOL, late_events="reject"))
    kernel.record("sale", sale("o-1", "alice", "100.00", "2026-01-10T10:00:00Z"))
    kernel.heartbeat(at("2026-02-01"))  # January paid alice at both
    result = kernel.record("refund", refund("r-1", "o-1", FEBRUARY_SALE, "40.00"))
    # lenient takes 40 % back in February (late); strict lets January's payment stand
    assert _scores(kernel, "lenient") == ({}, -4000)
    assert _scores(kernel, "strict") == ({}, 0)
    assert result.skipped == (REJECTED,)
    assert (result.credits, result.late) == (1, 2)
    again = kernel.record("refund", refund("r-1", "o-1", FEBRUARY_SALE, "40.00"))
    assert again.duplicate and (again.late, again.skipped) == (2, (REJECTED,))
    assert _rows(kernel, "credit_skip", SKIP_COLUMNS) == {
        "r-1": [("strict", "sale", "late_rejected")]}
    # the refund is recorded: what remains of the sale is 60.00 for every distributor
    with pytest.raises(InvalidInput, match="exceeds what remains"):
        kernel.record("refund", refund("r-2", "o-1", FEBRUARY_SALE, "60.01"))
    bulk = kernel.record_many([typed("refund", refund("r-3", "o-1", FEBRUARY_SALE, "60.00"))])
    assert (bulk.inserted, bulk.late, bulk.skipped, bulk.late_positions) == (1, 2, 1, (0,))
    assert _rows(kernel, "credit_skip", SKIP_COLUMNS)["r-3"] == [
        ("strict", "sale", "late_rejected")]
    assert _scores(kernel, "lenient") == ({}, -10000) and _scores(kernel, "strict") == ({}, 0)
    assert verify(kernel) == []


def test_preview_shows_the_late_credits_of_the_open_period(shop: Kernel,
                                                           database_url: str) -> None:
    shop.record("sale", sale("o-1", "alice", "10.00", LATE_SALE))
    shop.record("sale", sale("o-2", "bob", "10.00", FEBRUARY_SALE))
    assert shop.preview("lenient", at("2026-03-01")).late == 1
    assert shop.preview("strict", at("2026-03-01")).late == 0
    runner = CliRunner()
    shown = runner.invoke(cli, ["preview", "lenient", "--database", database_url,
                                "--now", "2026-03-01T00:00:00Z", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["late_credits"] == 1
    table = runner.invoke(cli, ["preview", "lenient", "--database", database_url,
                                "--now", "2026-03-01T00:00:00Z"], env={"COLUMNS": "200"})
    assert "1 late credit(s)" in table.output


def test_siren_ingest_counts_and_lists_the_late_lines(shop: Kernel, database_url: str,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(typed("sale", event)) for event in [
        sale("o-1", "alice", "1.00", FEBRUARY_SALE), sale("o-2", "alice", "1.00", LATE_SALE),
        sale("o-3", "bob", "1.00", LATE_SALE)]) + "\n")
    runner = CliRunner()
    text = runner.invoke(cli, ["ingest", str(path), "--database", database_url],
                         env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "4 late)" in text.output  # two late credits at lenient, two refusals at strict
    assert "late lines (their period was already distributed): 2, 3" in text.output
    again = runner.invoke(cli, ["ingest", str(path), "--database", database_url, "--json"])
    report = json.loads(again.output)
    assert (report["duplicates"], report["late"], report["late_lines"]) == (3, 0, [])


def test_siren_apply_takes_the_key_and_refuses_a_bad_value(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    config = tmp_path / "siren.toml"
    body = ('[[distributors]]\nid = "strict"\nname = "Strict"\nunits = "USD"\n'
            'start = "2026-01-01"\npool = { resolver = "fixed", amount = "10.00" }\n'
            'calculator = { id = "proportional" }\nlate_events = "%s"\n'
            '[[distributors.metrics]]\ntype = "sale"\npoints = 10\n')
    runner = CliRunner()
    config.write_text(body % "sometimes")
    refused = runner.invoke(cli, ["apply", str(config), "--database", url])
    assert refused.exit_code == 2
    assert refused.output.strip() == \
        "error: distributors[0].late_events: 'sometimes' is not one of next_period, reject"
    config.write_text(body % "reject")
    assert runner.invoke(cli, ["apply", str(config), "--database", url]).exit_code == 0
    with Kernel(url) as kernel:
        assert kernel.distributor("strict").spec.late_events == "reject"
    again = runner.invoke(cli, ["apply", str(config), "--database", url, "--json"])
    assert [c["action"] for c in json.loads(again.output)["changes"]] == ["unchanged"]
