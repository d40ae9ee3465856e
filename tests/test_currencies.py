"""Multi-currency sales: each sale is converted into the distributor's units at the rate in
force at its time, rounded half-even to the minor unit, and the rate is stored beside its
credits; worked numbers on SQLite and PostgreSQL (docs/currencies.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.config.apply import apply, plan
from siren_core.config.export import export_text
from siren_core.config.files import SirenConfig, parse_config, read_config_text
from siren_core.config.simulate import simulate
from siren_core.errors import InvalidInput
from siren_core.events import Event, ExchangeRateSet
from siren_core.money import convert, currency
from siren_core.records import ExchangeRateProvider, RateRequest

from conftest import at, monthly, sale

REVENUE_POOL = {"resolver": "revenue_percentage", "percent": "10"}


def refund(id: str, sale_id: str, amount: str | None = None,
           when: str = "2026-01-10T10:00:00Z") -> dict[str, Any]:
    event: dict[str, Any] = {"id": id, "at": when, "sale": sale_id}
    if amount is not None:
        event["amount"] = amount
    return event


def _revenue(kernel: Kernel, distributor: str = "monthly-bonus",
             when: str = "2026-02-01") -> int:
    """The qualifying revenue of the distributor's open period if it closed at ``when``."""
    return kernel.preview(distributor, at(when)).outcome.revenue


UNITS = st.sampled_from([currency(code) for code in ("USD", "JPY", "KWD", "EUR")])


@given(minor=st.integers(-10**15, 10**15), base=UNITS, quote=UNITS,
       digits=st.integers(1, 10**12), places=st.integers(0, 18))
def test_convert_is_the_exact_product_rounded_half_to_even(
        minor: int, base: Any, quote: Any, digits: int, places: int) -> None:
    rate = Decimal(digits).scaleb(-places)
    exact = Fraction(minor) * Fraction(rate) * Fraction(10) ** (quote.exponent - base.exponent)
    assert convert(minor, base, quote, rate) == round(exact)  # Fraction rounds half to even


def test_convert_worked_numbers() -> None:
    eur, usd, jpy = currency("EUR"), currency("USD"), currency("JPY")
    assert convert(10000, eur, usd, Decimal("1.0850")) == 10850
    assert [convert(10, eur, usd, Decimal(r)) for r in ("1.25", "1.35", "1.45")] == [12, 14, 14]
    assert [convert(-10, eur, usd, Decimal(r)) for r in ("1.25", "1.35")] == [-12, -14]
    assert convert(16237, jpy, eur, Decimal("0.006159")) == 10000  # 100.0036… EUR


@pytest.fixture
def shop(kernel: Kernel) -> Kernel:
    """A USD distributor with a 10 % revenue pool (10 points a sale), alice and bob, and
    EUR → USD at 1.0850 from 2026-01-01."""
    for name in ("alice", "bob"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    return kernel


def test_eur_100_at_1_0850_is_usd_108_50_and_the_rate_is_kept(shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "100.00", currency="EUR"))
    assert _revenue(shop) == 10850
    [line] = shop.credits("alice")
    assert (line.revenue, line.units, line.points) == (10850, "USD", 10)
    assert (line.rate, line.original_amount, line.original_units) == ("1.0850", 10000, "EUR")


def test_a_sale_in_the_distributors_units_is_not_converted(shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "100.00"))
    [line] = shop.credits("alice")
    assert (line.revenue, line.units, line.rate, line.original_units) == (
        10000, "USD", None, None)
    assert shop.table_counts()["credit_conversion"] == 0


def test_a_rate_change_mid_period_converts_each_sale_at_its_own_rate(shop: Kernel) -> None:
    shop.set_exchange_rate("EUR", "USD", "1.1000", since="2026-01-15")
    shop.record("sale", sale("o-1", "alice", "100.00", "2026-01-14T23:59:59Z", "EUR"))
    shop.record("sale", sale("o-2", "bob", "100.00", "2026-01-15T00:00:00Z", "EUR"))
    assert [(c.revenue, c.rate) for c in shop.credits("alice") + shop.credits("bob")] == [
        (10850, "1.0850"), (11000, "1.1000")]
    assert _revenue(shop) == 21850


@pytest.mark.parametrize(("amount", "rate", "cents"), [
    ("0.10", "1.25", 12),   # 12.5 cents: half to even, down
    ("0.10", "1.35", 14),   # 13.5 cents: half to even, up
    ("0.10", "1.251", 13),  # 12.51 cents: nearest
    ("1.00", "0.00125", 0),  # 0.125 cents: rounds to nothing
])
def test_conversions_round_half_to_even_in_usd_cents(shop: Kernel, amount: str, rate: str,
                                                      cents: int) -> None:
    shop.set_exchange_rate("EUR", "USD", rate, since="2026-01-01")
    shop.record("sale", sale("o-1", "alice", amount, currency="EUR"))
    assert _revenue(shop) == cents


@pytest.mark.parametrize(("units", "rate", "amount", "expected"), [
    ("JPY", "162.37", "100.00", 16237),   # exponent 0: whole yen
    ("JPY", "162.5", "1.01", 164),        # 164.125 yen
    ("JPY", "162.5", "0.01", 2),          # 1.625 yen
    ("KWD", "0.3312", "10.00", 3312),     # exponent 3: fils
    ("KWD", "0.33125", "0.01", 3),        # 3.3125 fils
])
def test_the_minor_units_of_both_currencies_count(kernel: Kernel, units: str, rate: str,
                                                   amount: str, expected: int) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(units=units, pool={"resolver": "revenue_percentage",
                                                         "percent": "10"}))
    kernel.set_exchange_rate("EUR", units, rate, since="2026-01-01")
    kernel.record("sale", sale("o-1", "alice", amount, currency="EUR"))
    assert _revenue(kernel) == expected


def test_points_by_amount_are_converted_too(shop: Kernel) -> None:
    shop.create_distributor(monthly("by-amount", metrics=[{"type": "sale", "value": "amount"}]))
    shop.record("sale", sale("o-1", "alice", "100.00", currency="EUR"))
    assert {c.distributor: (c.points, c.rate) for c in shop.credits("alice")} == {
        "monthly-bonus": (10, "1.0850"), "by-amount": (10850, "1.0850")}


def test_a_missing_rate_is_refused_naming_the_pair_and_the_time(shop: Kernel) -> None:
    shop.set_exchange_rate("USD", "GBP", "0.79", since="2026-01-01")  # other direction
    shop.set_exchange_rate("GBP", "EUR", "1.17", since="2026-01-01")  # not chained
    counts = shop.table_counts()
    with pytest.raises(InvalidInput) as error:
        shop.record("sale", sale("o-1", "alice", "100.00", currency="GBP"))
    assert (error.value.field, error.value.value) == ("sale.currency", "GBP")
    assert "GBP→USD" in str(error.value) and "2026-01-05T10:00:00+00:00" in str(error.value)
    assert "not inverted" in str(error.value)
    assert shop.table_counts() == counts


def test_a_distributor_that_credits_nothing_stores_no_conversion(kernel: Kernel) -> None:
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(pool=REVENUE_POOL, late_events="reject"))
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    kernel.heartbeat(at("2026-02-01"))
    result = kernel.record("sale", sale("o-1", "alice", "100.00", "2026-01-20T10:00:00Z",
                                        "EUR"))
    assert [s.reason for s in result.skipped] == ["late_rejected"]
    assert kernel.table_counts()["credit_conversion"] == 0


def test_a_rate_from_a_later_date_is_not_used_before_it(shop: Kernel) -> None:
    shop.set_exchange_rate("EUR", "USD", "2.0000", since="2026-01-20")
    shop.set_exchange_rate("GBP", "USD", "1.2700", since="2026-01-06")
    shop.record("sale", sale("o-1", "alice", "100.00", "2026-01-19T23:00:00Z", "EUR"))
    assert _revenue(shop) == 10850
    with pytest.raises(InvalidInput) as error:
        shop.record("sale", sale("o-2", "alice", "100.00", "2026-01-05T23:59:59Z", "GBP"))
    assert "GBP→USD in force at 2026-01-05T23:59:59+00:00" in str(error.value)


def test_a_refund_takes_back_at_the_sales_rate_not_todays(shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "100.00", "2026-01-05T10:00:00Z", "EUR"))
    shop.set_exchange_rate("EUR", "USD", "1.2000", since="2026-01-08")
    shop.record("refund", refund("r-1", "o-1", "50.00", "2026-01-10T10:00:00Z"))
    assert _revenue(shop) == 10850 - 5425  # at today's 1.2000 it would take back 60.00
    [sold, reversal] = shop.credits("alice")
    assert (sold.revenue, sold.rate) == (10850, "1.0850")
    assert (reversal.revenue, reversal.rate, reversal.original_amount) == (-5425, "1.0850", 5000)
    shop.record("refund", refund("r-2", "o-1", None, "2026-01-11T10:00:00Z"))
    assert _revenue(shop) == 0  # the whole sale is taken back, to the cent


def test_a_refund_after_the_sales_period_closed_uses_the_sales_rate(shop: Kernel) -> None:
    shop.record("sale", sale("o-1", "alice", "33.33", "2026-01-05T10:00:00Z", "EUR"))
    shop.set_exchange_rate("EUR", "USD", "0.5000", since="2026-02-01")
    shop.heartbeat(at("2026-02-01"))
    shop.record("refund", refund("r-1", "o-1", "10.00", "2026-02-03T10:00:00Z"))
    # 33.33 EUR → 36.16 USD (36.163…); 10/33.33 of it back (pro rata, floored): 10.84,
    # booked in the open period; at February's 0.5000 it would be 5.00
    assert _revenue(shop, when="2026-03-01") == -1084
    late = [c for c in shop.credits("alice") if c.late]
    assert [(c.revenue, c.rate, c.original_amount) for c in late] == [(-1084, "1.0850", 1000)]


def test_bulk_ingestion_converts_and_rejects_only_the_events_without_a_rate(
        shop: Kernel) -> None:
    events = [
        {"type": "sale", **sale("o-1", "alice", "100.00", currency="EUR")},
        {"type": "sale", **sale("o-2", "bob", "100.00", "2026-01-07T23:00:00Z", "GBP")},
        {"type": "sale", **sale("o-3", "bob", "20.00")},
        {"type": "sale", **sale("o-4", "bob", "5.00", currency="CHF")},
        {"type": "refund", **refund("r-1", "o-1", "10.00")},
    ]
    report = shop.record_many(events, batch_size=2)
    assert (report.inserted, report.duplicates) == (3, 0)
    assert [(r.position, r.field, r.value) for r in report.rejected] == [
        (1, "sale.currency", "GBP"), (3, "sale.currency", "CHF")]
    assert "GBP→USD in force at 2026-01-07T23:00:00+00:00" in report.rejected[0].problem
    assert "CHF→USD" in report.rejected[1].problem
    assert _revenue(shop) == 10850 - 1085 + 2000
    assert shop.table_counts()["credit_conversion"] == 2  # the sale and its refund


def test_bulk_ingestion_converts_each_sale_at_the_rate_of_its_day(shop: Kernel) -> None:
    events = [{"type": "sale", **sale(f"o-{n}", "alice", f"{n}.07", f"2026-01-{n:02}T08:00:00Z",
                                      "EUR")} for n in range(1, 9)]
    shop.set_exchange_rate("EUR", "USD", "1.1234", since="2026-01-04")
    shop.record_many(events)
    bulk = [(c.event_id, c.revenue, c.rate, c.original_amount) for c in shop.credits("alice")]
    expected = [(f"o-{n}", round(Decimal(f"{n}.07") * Decimal("1.0850" if n < 4 else "1.1234")
                                 * 100), "1.0850" if n < 4 else "1.1234", n * 100 + 7)
                for n in range(1, 9)]
    assert bulk == expected


def test_a_distribution_over_mixed_currencies_pays_the_pool_exactly(kernel: Kernel) -> None:
    for name in ("ana", "ben", "cy"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(pool={"resolver": "revenue_percentage",
                                            "percent": "12.5"},
                                      metrics=[{"type": "sale", "value": "amount"}]))
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    kernel.set_exchange_rate("JPY", "USD", "0.0067", since="2026-01-01")
    kernel.set_exchange_rate("EUR", "USD", "1.0900", since="2026-01-16")
    kernel.record("sale", sale("o-1", "ana", "100.00", "2026-01-05T10:00:00Z"))       # 100.00
    kernel.record("sale", sale("o-2", "ben", "77.77", "2026-01-10T10:00:00Z", "EUR"))  # 84.38
    kernel.record("sale", sale("o-3", "cy", "12345", "2026-01-12T10:00:00Z", "JPY"))   # 82.71
    kernel.record("sale", sale("o-4", "ana", "0.05", "2026-01-20T10:00:00Z", "EUR"))   # 0.05
    # 77.77 × 1.0850 = 84.37955 → 84.38; 12345 × 0.0067 = 82.7115 → 82.71;
    # 0.05 × 1.09 = 0.0545 → 0.05
    [done] = kernel.heartbeat(at("2026-02-01")).completed
    assert (done.revenue, done.pool) == (26714, 3339)  # 12.5 % of 267.14, floored
    paid = {a.collaborator: a.amount for a in kernel.allocations(done.id)}
    assert sum(paid.values()) == done.pool
    assert paid == {"ana": 1250, "ben": 1055, "cy": 1034}  # 1250.5, 1054.7, 1033.8


def test_rates_are_checked_naming_the_field(kernel: Kernel) -> None:
    cases: list[tuple[tuple[Any, ...], str, Any]] = [
        (("EUR", "USD", 1.085, "2026-01-01"), "rate", 1.085),
        (("EUR", "USD", "1,085", "2026-01-01"), "rate", "1,085"),
        (("EUR", "USD", "0", "2026-01-01"), "rate", "0"),
        (("EUR", "USD", "-1.2", "2026-01-01"), "rate", "-1.2"),
        (("EUR", "USD", "1." + "1" * 19, "2026-01-01"), "rate", "1." + "1" * 19),
        (("eur", "USD", "1.1", "2026-01-01"), "base", "eur"),
        (("EUR", "POINTS", "1.1", "2026-01-01"), "quote", "POINTS"),
        (("EUR", "EUR", "1", "2026-01-01"), "quote", "EUR"),
        (("EUR", "USD", "1.1", "2026-13-01"), "from", "2026-13-01"),
    ]
    for (base, quote, rate, since), field, value in cases:
        with pytest.raises(InvalidInput) as error:
            kernel.set_exchange_rate(base, quote, rate, since=since)
        assert (error.value.field, error.value.value) == (field, value)
    assert "decimal string" in _problem(kernel, 1.085)
    assert kernel.exchange_rates() == ()


def _problem(kernel: Kernel, rate: Any) -> str:
    with pytest.raises(InvalidInput) as error:
        kernel.set_exchange_rate("EUR", "USD", rate, since="2026-01-01")
    return error.value.problem


def test_setting_a_rate_again_from_the_same_date_replaces_it(kernel: Kernel) -> None:
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    kernel.set_exchange_rate("EUR", "USD", "1.0860", since="2026-01-01")
    kernel.set_exchange_rate("EUR", "JPY", "162", since="2026-01-01")
    kernel.set_exchange_rate("EUR", "USD", "1.1", since="2025-12-01")
    assert [(r.base, r.quote, str(r.rate), r.since) for r in kernel.exchange_rates()] == [
        ("EUR", "JPY", "162", at("2026-01-01")), ("EUR", "USD", "1.1", at("2025-12-01")),
        ("EUR", "USD", "1.0860", at("2026-01-01"))]
    assert [r.quote for r in kernel.exchange_rates(quote="JPY")] == ["JPY"]


def test_setting_a_rate_fires_exchange_rate_set_after_the_commit(kernel: Kernel) -> None:
    seen: list[Event] = []
    kernel.subscribe(seen.append)
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")  # no change
    kernel.set_exchange_rate("EUR", "USD", "1.0860", since="2026-01-01")
    assert [(e.event_id, str(e.rate.rate), e.previous) for e in seen
            if isinstance(e, ExchangeRateSet)] == [
        ("exchange_rate_set", "1.0850", None),
        ("exchange_rate_set", "1.0860", Decimal("1.0850"))]
    seen.clear()
    with pytest.raises(RuntimeError), kernel.transaction():
        kernel.set_exchange_rate("EUR", "USD", "9", since="2026-01-01")
        raise RuntimeError("rolled back")
    assert seen == [] and [str(r.rate) for r in kernel.exchange_rates()] == ["1.0860"]


class _Feed:
    """A rate feed plugin: counts the questions it is asked."""

    def __init__(self, priority: int, answer: Decimal | None) -> None:
        self.asked: list[tuple[str, str]] = []
        self.priority = priority
        self.answer = answer

    def _rate(self, request: RateRequest) -> Decimal | None:
        self.asked.append((request.base.code, request.quote.code))
        return self.answer

    @hookimpl
    def siren_exchange_rate_providers(self) -> list[ExchangeRateProvider]:
        return [ExchangeRateProvider(id="feed", description="A test feed", rate=self._rate,
                                     priority=self.priority)]


def _shop_with(make_kernel: Any, feed: _Feed) -> Kernel:
    """alice, a USD revenue pool, EUR → USD 1.0850 stored, and ``feed`` installed."""
    kernel: Kernel = make_kernel(plugins=[feed])
    kernel.create_collaborator("alice")
    kernel.create_distributor(monthly(pool=REVENUE_POOL))
    kernel.set_exchange_rate("EUR", "USD", "1.0850", since="2026-01-01")
    return kernel


def test_the_configured_rate_wins_over_a_feed_of_default_priority(make_kernel: Any) -> None:
    feed = _Feed(0, Decimal("2"))
    kernel = _shop_with(make_kernel, feed)
    kernel.record("sale", sale("o-1", "alice", "100.00"))  # same currency: nobody asked
    assert feed.asked == []
    kernel.record("sale", sale("o-2", "alice", "100.00", currency="EUR"))
    assert feed.asked == []  # the built-in provider answered first
    kernel.record("sale", sale("o-3", "alice", "100.00", currency="GBP"))
    assert feed.asked == [("GBP", "USD")]
    assert {c.event_id: (c.revenue, c.rate) for c in kernel.credits("alice")} == {
        "o-1": (10000, None), "o-2": (10850, "1.0850"), "o-3": (20000, "2")}


def test_a_feed_of_higher_priority_answers_first(make_kernel: Any) -> None:
    feed = _Feed(200, Decimal("1.1111"))
    kernel = _shop_with(make_kernel, feed)
    kernel.record("sale", sale("o-1", "alice", "100.00", currency="EUR"))
    assert _revenue(kernel) == 11111
    feed.answer = None  # it does not know: the next provider is asked
    kernel.record("sale", sale("o-2", "alice", "100.00", "2026-01-06T10:00:00Z", "EUR"))
    assert _revenue(kernel) == 11111 + 10850


# -- configuration: [[exchange_rates]] through apply, the plan and export -----------------

RATES_FILE = """
[[exchange_rates]]
base = "EUR"
quote = "USD"
rate = "1.0850"
from = "2026-01-01"

[[exchange_rates]]
base = "EUR"
quote = "USD"
rate = "1.1000"
from = 2026-01-15
"""


def _parsed(kernel: Kernel, text: str) -> SirenConfig:
    return parse_config(read_config_text(text), kernel.converter, kernel.registry)


def test_apply_stores_the_files_rates_and_plans_their_changes(kernel: Kernel) -> None:
    changes = apply(kernel, _parsed(kernel, RATES_FILE))
    assert [(c.kind, c.id, c.verb) for c in changes] == [
        ("exchange_rate", "EUR/USD from 2026-01-01", "create"),
        ("exchange_rate", "EUR/USD from 2026-01-15", "create")]
    assert [(str(r.rate), r.since) for r in kernel.exchange_rates()] == [
        ("1.0850", at("2026-01-01")), ("1.1000", at("2026-01-15"))]
    assert {c.verb for c in plan(kernel, _parsed(kernel, RATES_FILE))} == {"unchanged"}
    changed = RATES_FILE.replace('"1.1000"', '"1.1010"')
    [same, update] = plan(kernel, _parsed(kernel, changed))
    assert (same.verb, update.verb, [f.text() for f in update.fields]) == (
        "unchanged", "update", ["rate: 1.1000 → 1.1010"])
    apply(kernel, _parsed(kernel, changed))
    assert [str(r.rate) for r in kernel.exchange_rates()] == ["1.0850", "1.1010"]


@pytest.mark.parametrize(("entry", "field", "value"), [
    ('base = "EUR"\nquote = "USD"\nrate = 1.085\nfrom = "2026-01-01"',
     "exchange_rates[0].rate", 1.085),
    ('base = "EUR"\nquote = "USD"\nrate = "1.085"', "exchange_rates[0].from", None),
    ('base = "EUR"\nquote = "USD"\nrate = "1.085"\nfrom = "2026-01-01"\nsince = "x"',
     "exchange_rates[0].since", "since"),
    ('base = "EUR"\nquote = "usd"\nrate = "1.085"\nfrom = "2026-01-01"',
     "exchange_rates[0].quote", "usd"),
    ('base = "EUR"\nquote = "USD"\nrate = "1.085"\nfrom = 2026-01-01T00:00:00Z',
     "exchange_rates[0].from", datetime(2026, 1, 1, tzinfo=UTC)),
])
def test_a_bad_rate_in_the_file_names_its_field(kernel: Kernel, entry: str, field: str,
                                                value: Any) -> None:
    with pytest.raises(InvalidInput) as error:
        _parsed(kernel, f"[[exchange_rates]]\n{entry}\n")
    assert (error.value.field, error.value.value) == (field, value)


def test_a_pair_given_twice_from_one_date_is_refused(kernel: Kernel) -> None:
    twice = RATES_FILE.replace("2026-01-15", "2026-01-01")
    with pytest.raises(InvalidInput) as error:
        _parsed(kernel, twice)
    assert error.value.field == "exchange_rates[1].from"
    assert "exchange_rates[0]" in error.value.problem


def test_export_gives_the_rates_back_and_applies_to_the_same_store(
        kernel: Kernel, tmp_path: Path) -> None:
    apply(kernel, _parsed(kernel, RATES_FILE))
    text = export_text(kernel)
    assert '[[exchange_rates]]\nbase = "EUR"\nquote = "USD"\nrate = "1.0850"\n' \
        'from = "2026-01-01"' in text
    assert {c.verb for c in plan(kernel, _parsed(kernel, text))} == {"unchanged"}
    with Kernel(f"sqlite:///{tmp_path / 'other.db'}") as other:
        apply(other, _parsed(other, text))
        assert other.exchange_rates() == kernel.exchange_rates()
    assert json.loads(export_text(kernel, "json"))["exchange_rates"][1] == {
        "base": "EUR", "quote": "USD", "rate": "1.1000", "from": "2026-01-15"}


# -- the command line ------------------------------------------------------------------------

def test_siren_rates_set_and_list(tmp_path: Path) -> None:
    db = ["--database", f"sqlite:///{tmp_path / 'siren.db'}"]
    runner = CliRunner()
    done = runner.invoke(cli, ["rates", "set", "EUR", "USD", "1.0850", "--from", "2026-01-01",
                               *db])
    assert (done.exit_code, done.output) == (0, "1 EUR = 1.0850 USD from 2026-01-01\n")
    runner.invoke(cli, ["rates", "set", "EUR", "JPY", "162.37", "--from", "2026-01-01", *db])
    listed = runner.invoke(cli, ["rates", "list", "--quote", "USD", "--json", *db])
    assert json.loads(listed.output) == {"exchange_rates": [
        {"base": "EUR", "quote": "USD", "rate": "1.0850", "from": "2026-01-01"}]}
    table = runner.invoke(cli, ["rates", "list", *db], env={"COLUMNS": "100"})
    assert "162.37" in table.output and "1.0850" in table.output


@pytest.mark.parametrize(("arguments", "message"), [
    (["EUR", "USD", "1,085", "--from", "2026-01-01"], "error: rate: '1,085' is not a decimal"),
    (["EUR", "POINTS", "2", "--from", "2026-01-01"], "error: quote: 'POINTS' is not money"),
    (["EUR", "USD", "1.1", "--from", "01/02/2026"], "error: from: '01/02/2026' is not a date"),
])
def test_siren_rates_set_refuses_bad_input_in_one_line(tmp_path: Path, arguments: list[str],
                                                       message: str) -> None:
    db = ["--database", f"sqlite:///{tmp_path / 'siren.db'}"]
    result = CliRunner().invoke(cli, ["rates", "set", *arguments, *db])
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1


def test_siren_credits_shows_the_conversion(shop: Kernel, database_url: str) -> None:
    shop.record("sale", sale("o-1", "alice", "100.00", currency="EUR"))
    result = CliRunner().invoke(cli, ["credits", "alice", "--json", "--database", database_url])
    [line] = json.loads(result.output)["credits"]
    assert (line["revenue"], line["units"]) == ("108.50", "USD")
    assert line["conversion"] == {"rate": "1.0850", "original_units": "EUR",
                                  "original_amount": "100.00", "original_amount_minor": 10000}
    table = CliRunner().invoke(cli, ["credits", "alice", "--database", database_url],
                               env={"COLUMNS": "250"})
    assert "108.50 USD (sale 100.00 EUR at 1.0850)" in table.output


def test_a_simulation_converts_at_the_files_rates() -> None:
    config = {"collaborators": [{"id": "ana"}],
              "distributors": [monthly(pool=REVENUE_POOL)],
              "exchange_rates": [{"base": "EUR", "quote": "USD", "rate": "1.0850",
                                  "from": "2026-01-01"}]}
    lines = [json.dumps({"type": "sale", **sale("o-1", "ana", "100.00", currency="EUR")})]
    [january] = simulate(config, lines, at("2026-02-01"))["distributions"]
    assert (january["pool"], january["allocations"]) == (
        "10.85", [{"collaborator": "ana", "score": 10, "amount": "10.85"}])
