"""Input that poisons a batch: one bad line rejects only itself, with its line number and a
clear reason; the good lines around it go in; nothing reaches the user as a traceback.

Each case here was an internal error, a silent mis-reading or a raw database error before:
undecodable bytes replaced (so two distinct ids collapsed into one), a key given twice
("last wins"), an instant that overflows when converted to UTC, a JSON integer too long
for Python to read, decimal text that ``Decimal()`` takes but the docs refuse, and text
longer than its column.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.errors import InvalidInput

from conftest import at, monthly, sale

WHEN = "2026-01-05T10:00:00Z"


def _sale_line(id: str, **changes: Any) -> bytes:
    event = {"type": "sale", **sale(id, "ann", "1.00"), **changes}
    return json.dumps(event, ensure_ascii=False).encode()


def _line(text: str) -> bytes:
    return text.encode()


# (line bytes, the field its rejection names, a phrase of its problem)
POISON: list[tuple[bytes, str, str]] = [
    # two sales whose ids differ only in an undecodable byte: both were read as 'caf\ufffd'
    (b'{"type": "sale", "id": "caf\xe9", "at": "' + WHEN.encode()
     + b'", "amount": "1.00", "currency": "USD"}', "line", "not valid UTF-8"),
    (b'{"type": "sale", "id": "caf\xe8", "at": "' + WHEN.encode()
     + b'", "amount": "2.00", "currency": "USD"}', "line", "not valid UTF-8"),
    (_line('{"type": "sale", "id": "twice", "at": "' + WHEN + '", "collaborator": "ann", '
           '"amount": "1.00", "amount": "900.00", "currency": "USD"}'),
     "line", "key 'amount' more than once"),
    (_line('{"type": "sale", "id": "nested-twice", "at": "' + WHEN + '", "amount": "1.00", '
           '"currency": "USD", "lines": [{"kind": "product", "amount": "1.00", '
           '"amount": "5.00"}]}'), "line", "key 'amount' more than once"),
    (_line('{"type": "sale", "id": "long-int", "at": "' + WHEN + '", "amount": '
           + "1" * 5000 + ', "currency": "USD"}'), "line", "digits"),
    (_sale_line("late-9999", at="9999-12-31T23:59:59-01:00"), "sale.at", "out of range"),
    (_sale_line("early-0001", at="0001-01-01T00:00:00+01:00"), "sale.at", "out of range"),
    (_line(json.dumps({"type": "visit", "id": "v-9999", "at": "9999-12-31T23:00:00-05:00",
                       "collaborator": "ann"})), "visit.at", "out of range"),
    (_line(json.dumps({"type": "refund", "id": "r-0001", "at": "0001-01-01T00:00:00+14:00",
                       "sale": "good-1"})), "refund.at", "out of range"),
    (_sale_line("plus", amount="+1.00"), "sale.amount", "'+' sign"),
    (_sale_line("space", amount=" 1.00"), "sale.amount", "whitespace"),
    (_sale_line("underscore", amount="1_000.00"), "sale.amount", "uses '_'"),
    (_sale_line("arabic", amount="\u0661.\u0660\u0660"), "sale.amount", "ASCII digits"),
    (_sale_line("full-width", amount="\uff11.\uff10\uff10"), "sale.amount", "ASCII digits"),
    (_line(json.dumps({"type": "refund", "id": "r-plus", "at": WHEN, "sale": "good-1",
                       "amount": "+0.50"})), "refund.amount", "'+' sign"),
    (_sale_line("line-amount", lines=[{"kind": "product", "amount": "1_0.00"}]),
     "sale.lines[0].amount", "uses '_'"),
    (_line('"a string"'), "event", "not an object"),
    (_line("null"), "event", "not an object"),
    (_line("[1, 2]"), "event", "not an object"),
    (_line("1e999"), "event", "not an object"),
]
GOOD = ["good-1", "good-2", "café", "good-3"]


def _poisoned_file(path: Path) -> Path:
    """A good line, then each poison line followed by a good one (where possible)."""
    good = iter(GOOD)
    lines = [_sale_line(next(good))]
    for index, (line, _, _) in enumerate(POISON):
        lines.append(line)
        if index % 6 == 5:
            lines.append(_sale_line(next(good)))
    lines.extend(_sale_line(id) for id in good)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _prepare(database: str) -> None:
    with Kernel(database) as kernel:
        kernel.create_collaborator("ann")
        kernel.create_distributor(monthly(metrics=[
            {"type": "sale", "points": 1}, {"type": "visit", "points": 1}]))


def test_siren_ingest_rejects_each_poisoned_line_alone(database_url: str,
                                                       tmp_path: Path) -> None:
    _prepare(database_url)
    events = _poisoned_file(tmp_path / "events.jsonl")
    result = CliRunner().invoke(cli, ["ingest", str(events), "--database", database_url,
                                      "--json"])
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["inserted"], report["duplicates"]) == (len(GOOD), 0)
    numbered = events.read_bytes().split(b"\n")
    rejections = {r["line"]: r for r in report["rejections"]}
    assert len(rejections) == report["rejected"] == len(POISON)
    for line, field, phrase in POISON:
        rejection = rejections[numbered.index(line) + 1]
        assert rejection["field"] == field, rejection
        assert phrase in rejection["problem"], rejection
    with Kernel(database_url) as kernel:
        kernel.heartbeat(at("2026-02-01"))
        allocations = kernel.allocations(kernel.distributions(distributor="monthly-bonus")[0].id)
    assert [(a.collaborator, a.score) for a in allocations] == [("ann", len(GOOD))]


def test_a_line_that_is_not_utf8_is_not_confused_with_another(database_url: str,
                                                              tmp_path: Path) -> None:
    """Distinct ids that differ in undecodable bytes: neither is mistaken for the other's
    duplicate; the valid spelling of the same id goes in."""
    _prepare(database_url)
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join([POISON[0][0], POISON[1][0], _sale_line("caf\ufffd")]))
    result = CliRunner().invoke(cli, ["ingest", str(events), "--database", database_url,
                                      "--json"])
    report = json.loads(result.stdout)
    assert (report["inserted"], report["duplicates"], report["rejected"]) == (1, 0, 2)
    assert [r["line"] for r in report["rejections"]] == [1, 2]


BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("sale", sale("s-9999", "ann", "1.00", when="9999-12-31T23:59:59-01:00"), "sale.at"),
    ("sale", sale("s-0001", "ann", "1.00", when="0001-01-01T00:00:00+01:00"), "sale.at"),
    ("visit", {"id": "v", "at": "9999-12-31T20:00:00-12:00", "collaborator": "ann"},
     "visit.at"),
    ("manual", {"id": "m", "at": "0001-01-01T00:30:00+01:00", "collaborator": "ann"},
     "manual.at"),
    ("refund", {"id": "r", "at": "0001-01-01T00:00:00+01:00", "sale": "good"}, "refund.at"),
    ("sale", sale("s-plus", "ann", "+1.00"), "sale.amount"),
    ("sale", sale("s-space", "ann", "1.00 "), "sale.amount"),
    ("sale", sale("s-us", "ann", "1_000.00"), "sale.amount"),
    ("sale", sale("s-arabic", "ann", "\u0661\u0660"), "sale.amount"),
    ("sale", sale("s-wide", "ann", "\uff11\uff10"), "sale.amount"),
    ("sale", {**sale("s-lines", "ann", "1.00"),
              "lines": [{"kind": "product", "amount": "+1.00"}]}, "sale.lines[0].amount"),
    ("refund", {"id": "r-plus", "at": WHEN, "sale": "good", "amount": "+1.00"},
     "refund.amount"),
    ("refund", {"id": "r-wide", "at": WHEN, "sale": "good", "amount": "\uff11"},
     "refund.amount"),
]


def test_record_and_record_many_refuse_the_same_events(kernel: Kernel) -> None:
    kernel.create_collaborator("ann")
    kernel.create_distributor(monthly(metrics=[
        {"type": "sale", "points": 1}, {"type": "visit", "points": 1},
        {"type": "manual", "points": 1}]))
    kernel.record("sale", sale("good", "ann", "5.00"))
    before = kernel.table_counts()
    for kind, event, field in BAD_EVENTS:
        with pytest.raises(InvalidInput) as error:
            kernel.record(kind, event)
        assert error.value.field == field, (kind, event)
    assert kernel.table_counts() == before
    batch = [{"type": kind, **event} for kind, event, _ in BAD_EVENTS]
    batch.insert(3, {"type": "sale", **sale("between", "ann", "1.00")})
    report = kernel.record_many(batch)
    assert report.inserted == 1
    assert [(r.position, r.field) for r in report.rejected] == [
        (position, field) for position, (_, _, field) in
        zip([p for p in range(len(batch)) if p != 3], BAD_EVENTS, strict=True)]


# -- decimal syntax in configuration, and Decimal values --------------------------------

BAD_DECIMALS = ["+1.00", " 1.00", "1.00\n", "1_000.00", "\u0661.\u0660\u0660",
                "\uff11.\uff10\uff10", "1e3", "1.", ".5", "NaN"]


def test_configuration_accepts_exactly_the_documented_decimal_text(kernel: Kernel) -> None:
    before = kernel.table_counts()
    for text in BAD_DECIMALS:
        with pytest.raises(InvalidInput) as error:
            kernel.create_distributor(monthly("fixed", pool={"resolver": "fixed",
                                                             "amount": text}))
        assert (error.value.field, error.value.value) == ("pool.amount", text)
        with pytest.raises(InvalidInput) as error:
            kernel.create_distributor(monthly("share", pool={"resolver": "revenue_percentage",
                                                             "percent": text}))
        assert (error.value.field, error.value.value) == ("pool.percent", text)
    assert kernel.table_counts() == before


def test_decimal_pool_amounts_are_accepted_like_their_text(kernel: Kernel) -> None:
    kernel.create_collaborator("ann")
    kernel.create_distributor(monthly("text", pool={"resolver": "fixed", "amount": "500.00"}))
    kernel.create_distributor(monthly("exact", pool={"resolver": "fixed",
                                                     "amount": Decimal("500.00")}))
    kernel.create_distributor(monthly("exponent", pool={"resolver": "fixed",
                                                        "amount": Decimal("5E+2")}))
    kernel.create_distributor(monthly("share", pool={"resolver": "revenue_percentage",
                                                     "percent": Decimal("12.5")}))
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(monthly("cents", pool={"resolver": "fixed",
                                                         "amount": Decimal("1.005")}))
    assert error.value.field == "pool.amount"
    with pytest.raises(InvalidInput):
        kernel.create_distributor(monthly("huge", pool={"resolver": "fixed",
                                                        "amount": Decimal("1E+999999999")}))
    with pytest.raises(InvalidInput):
        kernel.create_distributor(monthly("float", pool={"resolver": "fixed", "amount": 5.0}))
    assert kernel.distributor("exact").spec.pool.config == {"amount": "500.00"}
    kernel.record("sale", sale("o-1", "ann", "80.00"))
    kernel.heartbeat(at("2026-02-01"))
    pools = {d.distributor: d.pool for d in kernel.distributions(status="completed")}
    assert pools == {"text": 50000, "exact": 50000, "exponent": 50000, "share": 1000}


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _refused_in_one_line(result: Result, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


# -- duplicate keys wherever the CLI reads JSON -----------------------------------------

def test_siren_apply_refuses_a_json_configuration_with_a_key_twice(database_url: str,
                                                                  tmp_path: Path) -> None:
    config = tmp_path / "siren.json"
    config.write_text('{"collaborators": [{"id": "ann", "name": "Ann", "name": "Bob"}]}')
    _refused_in_one_line(_invoke("apply", str(config), "--database", database_url),
                         "'name' is a key given more than once")
    toml = tmp_path / "siren.toml"
    toml.write_text('[[collaborators]]\nid = "ann"\nname = "Ann"\nname = "Bob"\n')
    _refused_in_one_line(_invoke("apply", str(toml), "--database", database_url))
    with Kernel(database_url) as kernel:
        assert kernel.collaborators() == ()


def test_siren_simulate_refuses_an_event_line_with_a_key_twice(tmp_path: Path) -> None:
    config = Path(__file__).parent.parent / "data" / "worked" / "weighted-pool.toml"
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "visit", "id": "v", "id": "w", "at": "' + WHEN + '"}\n')
    _refused_in_one_line(_invoke("simulate", str(config), str(events),
                                 "--until", "2026-02-01T00:00:00Z"), "line 1", "'id'")


# -- instants at the edges of the calendar on the command line --------------------------

EXTREME_NOW = ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"]


@pytest.mark.parametrize("now", EXTREME_NOW)
def test_an_instant_that_overflows_utc_is_refused_on_the_command_line(tmp_path: Path,
                                                                      now: str) -> None:
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(database) as kernel:
        kernel.create_distributor(monthly())
    _refused_in_one_line(_invoke("heartbeat", "--database", database, "--now", now),
                         "--now", "out of range")
    _refused_in_one_line(_invoke("preview", "monthly-bonus", "--database", database,
                                 "--now", now), "--now", "out of range")
    config = Path(__file__).parent.parent / "data" / "worked" / "weighted-pool.toml"
    events = tmp_path / "events.jsonl"
    events.write_text("")
    _refused_in_one_line(_invoke("simulate", str(config), str(events), "--until", now),
                         "--until", "out of range")


# -- text bounded like its column, the same on both stores ------------------------------

def _refused(field: str, call: Any, *args: Any, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as error:
        call(*args, **kwargs)
    assert error.value.field == field
    return error.value


def test_text_longer_than_its_column_is_refused_on_both_stores(kernel: Kernel) -> None:
    long, fits = "n" * 256, "n" * 255
    kernel.create_collaborator("ann", name=fits, email="e" * 255)
    kernel.create_distributor(monthly(name=fits))
    kernel.create_group("team", name=fits)
    before = kernel.table_counts()
    assert "255" in _refused("collaborator.name", kernel.create_collaborator, "bob",
                             name=long).problem
    _refused("collaborator.email", kernel.create_collaborator, "bob", email="e" * 256)
    _refused("collaborator.name", kernel.create_collaborator, "bob", name="a\x00b")
    _refused("collaborator.email", kernel.create_collaborator, "bob", email="\udcff@x")
    _refused("collaborator.name", kernel.update_collaborator, "ann", name=long,
             status="active")
    _refused("collaborator.email", kernel.update_collaborator, "ann", name="Ann",
             status="active", email="e" * 256)
    _refused("name", kernel.create_distributor, monthly("other", name=long))
    _refused("name", kernel.update_distributor, monthly(name="a\x00"))
    _refused("description", kernel.create_distributor,
             monthly("other", description="d" * 2001))
    _refused("revenue.skus", kernel.create_distributor,
             monthly("other", revenue={"skus": ["sku-1", "a\x00"]}))
    _refused("group.name", kernel.create_group, "crew", name=long)
    _refused("group.description", kernel.create_group, "crew", description="\x00")
    _refused("name", kernel.rename_group, "team", long)
    _refused("description", kernel.update_group, "team", description="d" * 2001)
    _refused("program.name", kernel.create_program, "prog", name=long)
    _refused("metrics[0].type", kernel.create_distributor,
             monthly("other", metrics=[{"type": "t" * 65, "points": 1}]))
    assert kernel.table_counts() == before
    [ann] = kernel.collaborators()
    assert (ann.name, ann.email) == (fits, "e" * 255)
    assert kernel.distributor("monthly-bonus").spec.name == fits


def test_siren_apply_refuses_a_long_name_in_one_line(database_url: str,
                                                     tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    config.write_text(f'[[collaborators]]\nid = "ann"\nname = "{"n" * 300}"\n')
    _refused_in_one_line(_invoke("apply", str(config), "--database", database_url),
                         "collaborator.name", "255")


def test_metadata_and_audit_text_refuse_nul_and_lone_surrogates(kernel: Kernel) -> None:
    kernel.create_collaborator("ann")
    kernel.create_group("team")
    before = kernel.table_counts()
    for metadata in ({"note": "a\x00b"}, {"a\x00": 1}, {"deep": [{"x": "\udcff"}]}):
        with pytest.raises(InvalidInput) as error:
            kernel.add_group_members("team", [{"collaborator": "ann", **metadata}])
        assert error.value.field.startswith("members[0]")
        with pytest.raises(InvalidInput):
            kernel.create_group("crew", members=[{"collaborator": "ann", "metadata": metadata}])
    for text_field in ("reason", "actor"):
        _refused(text_field, kernel.issue_obligation, "ann", 100, "USD", source="manual",
                 source_id=1, **{text_field: "a\x00"})
    assert kernel.table_counts() == before


@pytest.mark.parametrize("text", [
    '[[collaborators]]\nid = "ann"\nname = ' + "1" * 5000 + "\n",
    '{"collaborators": [{"id": "ann", "name": ' + "1" * 5000 + "}]}",
], ids=["toml", "json"])
def test_siren_apply_refuses_an_integer_too_long_to_read(tmp_path: Path, text: str) -> None:
    config = tmp_path / "siren.conf"
    config.write_text(text)
    _refused_in_one_line(_invoke("apply", str(config), "--database",
                                 f"sqlite:///{tmp_path / 'siren.db'}"), "4300 digits")


def test_a_decimal_refund_amount_is_accepted_like_its_text(kernel: Kernel) -> None:
    kernel.create_collaborator("ann")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o-1", "ann", "100.00"))
    kernel.record("refund", {"id": "r-1", "at": WHEN, "sale": "o-1", "amount": Decimal("5E+1")})
    kernel.record("refund", {"id": "r-2", "at": WHEN, "sale": "o-1", "amount": Decimal("25.00")})
    with pytest.raises(InvalidInput) as error:
        kernel.record("refund", {"id": "r-3", "at": WHEN, "sale": "o-1",
                                 "amount": Decimal("30")})
    assert error.value.problem.startswith("exceeds what remains")


def test_the_rejection_table_shows_unprintable_ids_escaped(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    _prepare(database)
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "sale", "id": "\\udcff", "at": "' + WHEN + '"}\n'
                      '{"type": "sale\\u0000", "id": "a\\u0000b"}\n')
    result = CliRunner().invoke(cli, ["ingest", str(events), "--database", database],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "\x00" not in result.stdout and "\\udcff" in result.stdout
    assert "a\\x00b" in result.stdout


@pytest.mark.parametrize(("option", "value"), [
    ("--batch-size", "0"), ("--batch-size", str(2**70)), ("--show", "-1")])
def test_siren_ingest_refuses_options_out_of_range(tmp_path: Path, option: str,
                                                   value: str) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(_sale_line("o-1") + b"\n")
    _refused_in_one_line(_invoke("ingest", str(events), "--database",
                                 f"sqlite:///{tmp_path / 'siren.db'}", option, value), option)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_garbage_nested_thousands_deep_is_a_clear_refusal(kernel: Kernel) -> None:
    """Through the API nothing limits nesting (JSON text stops at Python's recursion
    limit): the error must still be raised, not a RecursionError while printing it."""
    kernel.create_collaborator("ann")
    kernel.create_distributor(monthly())
    deep = _nested(5000)
    for key in ("amount", "id", "lines"):
        with pytest.raises(InvalidInput) as error:
            kernel.record("sale", {**sale(f"deep-{key}", "ann", "1.00"), key: deep})
        assert "nested too deeply to show" in str(error.value)
    report = kernel.record_many([{"type": "sale", **sale("deep", "ann", "1.00"), "amount": deep},
                                 {"type": "sale", **sale("fine", "ann", "1.00")}])
    assert report.inserted == 1
    assert [r.position for r in report.rejected] == [0]
    assert "nested too deeply" in report.rejected[0].reason


@pytest.mark.parametrize("arguments", [
    ["allocations", str(2**64)], ["obligations", "show", str(2**63)],
    ["obligations", "approve", "1", "99999999999999999999"], ["fulfill", "show", str(2**64)],
    ["obligations", "list", "--payout", str(2**70)], ["allocations", "\u0661"]])
def test_cli_ids_beyond_64_bits_are_refused_in_one_line(tmp_path: Path,
                                                        arguments: list[str]) -> None:
    database = f"sqlite:///{tmp_path / 'siren.db'}"
    Kernel(database).close()
    _refused_in_one_line(_invoke(*arguments, "--database", database), "is not an id")


@pytest.mark.parametrize("now", [
    datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
    datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
], ids=["year-1", "year-9999"])
def test_the_kernel_refuses_an_instant_out_of_range_in_utc(kernel: Kernel,
                                                           now: datetime) -> None:
    kernel.create_distributor(monthly())
    before = kernel.table_counts()
    for operation in (kernel.heartbeat, lambda when: kernel.preview("monthly-bonus", when),
                      lambda when: kernel.set_distributor_status("monthly-bonus", "inactive",
                                                                 now=when)):
        with pytest.raises(InvalidInput) as raised:
            operation(now)
        assert raised.value.field == "now"
        assert "out of range once converted to UTC" in raised.value.problem
    assert kernel.table_counts() == before


def test_siren_ingest_reports_the_credits_skipped_with_a_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    with Kernel(url) as kernel:
        kernel.create_collaborator("ann", status="inactive")
        kernel.create_distributor(monthly())
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(_sale_line("o-1") + b"\n")
    result = CliRunner().invoke(cli, ["ingest", str(lines), "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] == 1
    shown = CliRunner().invoke(cli, ["ingest", str(lines), "--database", url])
    assert "skipped with a reason" in shown.stdout
