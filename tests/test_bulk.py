"""Bulk ingestion: ``kernel.record_many`` and ``siren ingest``."""

from __future__ import annotations

import gc
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.errors import InvalidInput
from siren_core.events import Event, MetricsTriggered
from siren_core.records import Credit, CreditContext, CreditRule, Metric, TriggerStrategy

from conftest import at, monthly, sale

REVENUE_POOL = {"resolver": "revenue_percentage", "percent": "10"}


def typed(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, **event}


def _outcome(kernel: Kernel, when: str = "2026-02-01") -> tuple[dict[str, int], int]:
    outcome = kernel.preview("monthly-bonus", at(when)).outcome
    return {name: score for _key, name, score, _amount in outcome.allocations}, outcome.revenue


@pytest.fixture
def shop(kernel: Kernel) -> Kernel:
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(pool=REVENUE_POOL,
                                      metrics=[{"type": "sale", "points": 10},
                                               {"type": "visit", "points": 1}]))
    return kernel


def test_record_many_writes_what_record_would(shop: Kernel, make_kernel: Any) -> None:
    seen: list[Event] = []
    shop.subscribe(seen.append)
    events = [typed("sale", sale(f"o-{n}", ("alice", "bob", None)[n % 3], f"{n}.00"))
              for n in range(1, 8)]
    events.append(typed("visit", {"id": "v-1", "at": "2026-01-05T10:00:00Z",
                                  "collaborator": "bob"}))
    report = shop.record_many(events, batch_size=3)
    assert (report.inserted, report.duplicates, report.rejected, report.credits) == (
        8, 0, (), 6)
    assert report.total == 8
    assert _outcome(shop) == ({"alice": 20, "bob": 31}, 2800)
    assert [(e.strategy_id, e.source_event_id) for e in seen if isinstance(e, MetricsTriggered)
            ] == [(e["type"], e["id"]) for e in events]
    # the single-event path sees the very same content: a duplicate, not a conflict
    for event in events:
        assert shop.record(event["type"], {k: v for k, v in event.items() if k != "type"}
                           ).duplicate


def test_duplicates_within_the_input_and_against_the_store(shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "10.00"))
    counts = shop.table_counts()
    report = shop.record_many([
        typed("sale", sale("o-1", "alice", "10.00")),       # in the store already
        typed("sale", sale("o-2", "bob", "10.00")),
        typed("sale", sale("o-2", "bob", "10.00")),         # same batch
        typed("sale", sale("o-2", "bob", "11.00")),         # same batch, other content
        typed("sale", sale("o-1", "alice", "12.00")),       # store, other content
        typed("visit", {"id": "o-1", "at": "2026-01-05T10:00:00Z", "collaborator": "bob"}),
        typed("sale", sale("o-2", "bob", "10.00")),         # next batch, same content
    ], batch_size=6)
    assert (report.inserted, report.duplicates) == (2, 3)
    assert [(r.position, r.type, r.id, r.field) for r in report.rejected] == [
        (3, "sale", "o-2", "sale.id"), (4, "sale", "o-1", "sale.id")]
    assert all("conflict" in r.problem for r in report.rejected)
    assert shop.table_counts()["source_event"] == counts["source_event"] + 2


def test_a_bad_event_rejects_only_itself(shop: Kernel) -> None:
    events: list[Any] = [
        typed("sale", sale("o-1", "alice", "10.00")),
        typed("sale", sale("o-2", "mallory", "10.00")),
        typed("sale", sale("o-3", "alice", 10.5)),  # type: ignore[arg-type]
        typed("sale", sale("o-4", "alice", "-1.00")),
        typed("sale", sale("o-5", "alice", "1.00", currency="EUR")),
        typed("sale", sale("o-6", "alice", "1.00", currency="ABC")),
        typed("coupon", sale("o-7", "alice", "1.00")),
        typed("sale", sale("o-8", "alice", "1.00", "2026-01-05T10:00:00")),
        typed("sale", {"at": "2026-01-05T10:00:00Z", "amount": "1.00", "currency": "USD"}),
        sale("o-10", "alice", "1.00"),  # no type
        "a string",
        typed("refund", {"id": "r-1", "at": "2026-01-06T00:00:00Z", "sale": "o-404"}),
        typed("sale", sale("o-12", "bob", "20.00")),
    ]
    report = shop.record_many(events, batch_size=5)
    assert (report.inserted, report.duplicates) == (2, 0)
    assert [(r.position, r.field, r.value) for r in report.rejected] == [
        (1, "sale.collaborator", "mallory"), (2, "sale.amount", 10.5),
        (3, "sale.amount", "-1.00"), (4, "sale.currency", "EUR"), (5, "sale.currency", "ABC"),
        (6, "type", "coupon"), (7, "sale.at", "2026-01-05T10:00:00"), (8, "sale.id", None),
        (9, "type", None), (10, "event", "a string"), (11, "refund.sale", "o-404")]
    assert all(r.reason.startswith(f"{r.field}: ") for r in report.rejected)
    assert _outcome(shop) == ({"alice": 10, "bob": 10}, 3000)
    assert shop.table_counts()["source_event"] == 2


def test_refunds_in_the_same_input_follow_their_sales(shop: Kernel) -> None:
    report = shop.record_many([
        typed("refund", {"id": "r-1", "at": "2026-01-09T00:00:00Z", "sale": "o-1",
                         "amount": "30.00"}),
        typed("sale", sale("o-1", "alice", "120.00")),
        typed("refund", {"id": "r-1", "at": "2026-01-09T00:00:00Z", "sale": "o-1",
                         "amount": "30.00"}),
        typed("refund", {"id": "r-2", "at": "2026-01-09T00:00:00Z", "sale": "o-1",
                         "amount": "100.00"}),
    ])
    assert (report.inserted, report.duplicates) == (2, 1)
    assert [(r.position, r.field) for r in report.rejected] == [(3, "refund.amount")]
    assert _outcome(shop) == ({"alice": 8}, 9000)  # 10 - 30·10//120


def test_late_events_in_bulk_count_in_the_open_period(shop: Kernel) -> None:
    shop.heartbeat(at("2026-02-01"))
    report = shop.record_many([typed("sale", sale("o-1", "alice", "10.00"))])
    assert report.inserted == 1
    assert _outcome(shop, "2026-03-01") == ({"alice": 10}, 1000)


def test_a_bad_batch_size_is_refused(shop: Kernel) -> None:
    with pytest.raises(InvalidInput) as error:
        shop.record_many([], batch_size=0)
    assert error.value.field == "batch_size"


def test_progress_is_reported_per_batch(shop: Kernel) -> None:
    batches: list[int] = []
    shop.record_many((typed("sale", sale(f"o-{n}", "alice", "1.00")) for n in range(7)),
                     batch_size=3, progress=batches.append)
    assert batches == [3, 3, 1]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_siren_ingest_reports_counts_and_bad_lines(shop: Kernel, database_url: str,
                                                   tmp_path: Path) -> None:
    good = [json.dumps(typed("sale", sale(f"o-{n}", "alice", "1.00"))) for n in range(3)]
    path = _write_lines(tmp_path / "events.jsonl", [
        good[0], good[1], "", "{not json", good[1],
        json.dumps(typed("sale", sale("o-9", "mallory", "1.00"))), good[2]])
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(path), "--database", database_url,
                                 "--batch-size", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "inserted 3, duplicates 1, rejected 2" in result.output
    assert "{not json" in result.output and "mallory" in result.output
    again = runner.invoke(cli, ["ingest", str(path), "--database", database_url, "--json"])
    assert again.exit_code == 1
    report = json.loads(again.output)
    assert (report["inserted"], report["duplicates"], report["rejected"]) == (0, 4, 2)
    assert [(r["line"], r["field"]) for r in report["rejections"]] == [
        (4, "line"), (6, "sale.collaborator")]
    clean = _write_lines(tmp_path / "clean.jsonl", good)
    assert runner.invoke(cli, ["ingest", str(clean), "--database", database_url]
                         ).exit_code == 0


def test_bulk_rows_are_stored_exactly_as_single_records_store_them(shop: Kernel) -> None:
    import sqlalchemy as sa

    shop.heartbeat(at("2026-02-01"))  # one late (January) and one current event each way
    shop.record("sale", sale("single-late", "alice", "1.00", "2026-01-31T23:00:00Z"))
    shop.record("sale", sale("single", "alice", "1.00", "2026-02-03T10:00:00.250000Z"))
    shop.record_many([typed("sale", sale("bulk-late", "alice", "1.00", "2026-01-31T23:00:00Z")),
                      typed("sale", sale("bulk", "alice", "1.00",
                                         "2026-02-03T10:00:00.250000Z"))])
    query = sa.text("SELECT e.key, e.occurred_at, e.amount, e.currency, e.collaborator_id, "
                    "c.effective_at, c.late, c.points, c.revenue, c.rule, c.metric_type "
                    "FROM source_event e JOIN score_credit c ON c.source_event_id = e.id "
                    "ORDER BY e.key")
    with shop.engine.connect() as conn:
        rows = {row[0]: row[1:] for row in conn.execute(query)}
    assert rows["bulk"] == rows["single"] and rows["bulk-late"] == rows["single-late"]
    assert _outcome(shop, "2026-03-01") == ({"alice": 40}, 400)


def test_concurrent_bulk_ingestion_records_each_event_once(
        shop: Kernel, make_kernel: Any) -> None:
    import threading

    events = [typed("sale", sale(f"o-{n}", ("alice", "bob")[n % 2], "1.00"))
              for n in range(240)]
    reports: list[Any] = []
    errors: list[BaseException] = []

    def ingest(kernel: Kernel, order: list[dict[str, Any]]) -> None:
        try:
            reports.append(kernel.record_many(order, batch_size=40))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=ingest, args=(make_kernel(), order))
               for order in (events, events, events[::-1])]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sum(r.inserted for r in reports) == 240
    assert sum(r.duplicates for r in reports) == 480
    assert all(r.rejected == () for r in reports)
    assert shop.table_counts()["source_event"] == 240
    assert _outcome(shop) == ({"alice": 1200, "bob": 1200}, 24000)


class _FragileRule:
    """A credit rule that fails for one collaborator (a plugin fault on one event)."""

    @hookimpl
    def siren_credit_rules(self) -> list[CreditRule]:
        def credit(context: CreditContext, _config: Any) -> list[Credit]:
            if context.actor == "bob":
                raise RuntimeError("bob breaks me")
            return [Credit(context.actor, context.points)]
        return [CreditRule(id="fragile", description="Fails for bob", credit=credit)]


def test_a_plugin_failing_on_one_event_rejects_only_that_event(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[_FragileRule()])
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "points": 10,
                                                "credit": {"rule": "fragile"}}]))
    report = kernel.record_many([typed("sale", sale("o-1", "bob", "1.00")),
                                 typed("sale", sale("o-2", "alice", "1.00"))])
    assert report.inserted == 1
    [rejection] = report.rejected
    assert (rejection.position, rejection.id) == (0, "o-1")
    assert "fragile" in rejection.problem and "bob breaks me" in rejection.problem
    assert kernel.table_counts()["source_event"] == 1


class _Probe:
    """A trigger strategy that notes whether the cyclic collector runs while it works, and
    interrupts the ingestion (as Ctrl-C would) at the event with id ``stop``."""

    def __init__(self) -> None:
        self.collector_on: list[bool] = []

    @hookimpl
    def siren_trigger_strategies(self) -> list[TriggerStrategy]:
        def metrics(event: Any) -> list[Metric]:
            self.collector_on.append(gc.isenabled())
            if event.id == "stop":
                raise KeyboardInterrupt
            return [Metric(metric_type="probe", collaborator=event.collaborator)]

        return [TriggerStrategy(id="probe", description="probe", event_type=_ProbeEvent,
                                metrics=metrics)]


@attrs.frozen
class _ProbeEvent:
    id: str
    at: datetime
    collaborator: str


def _probes(*ids: str) -> list[dict[str, Any]]:
    return [{"type": "probe", "id": key, "at": "2026-01-05T10:00:00Z", "collaborator": "alice"}
            for key in ids]


def test_the_collector_is_paused_per_batch_and_restored(make_kernel: Any) -> None:
    probe = _Probe()
    kernel = make_kernel(plugins=[probe])
    kernel.create_collaborator("alice")
    assert gc.isenabled()
    report = kernel.record_many(_probes("p-1", "p-2", "p-3"), batch_size=2)
    assert report.inserted == 3
    assert probe.collector_on == [False, False, False]
    assert gc.isenabled()
    with pytest.raises(KeyboardInterrupt):  # any way out of a batch turns it back on
        kernel.record_many(_probes("p-4", "stop"))
    assert gc.isenabled()
    gc.disable()  # an application that runs without it keeps it off
    try:
        kernel.record_many(_probes("p-5"))
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert kernel.table_counts()["source_event"] == 4  # p-4's batch was never written
