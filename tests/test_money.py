"""Tests for siren_core.money: currencies, minor units and exact splits."""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc
import types
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siren_core import iso4217
from siren_core.errors import InvalidInput
from siren_core.money import (
    INT64_MAX,
    INT64_MIN,
    POINTS,
    Currency,
    currency,
    format_minor,
    from_minor,
    split,
    split_equally,
    to_minor,
)

USD = currency("USD")
JPY = currency("JPY")
KWD = currency("KWD")
EUR = currency("EUR")


def assert_invalid(exc: pytest.ExceptionInfo[InvalidInput], field: str, value: Any) -> str:
    """The error names the field and shows the value as given; returns the message."""
    message = str(exc.value)
    assert exc.value.field == field
    assert message.startswith(f"{field}: ")
    assert repr(value) in message
    return message


# ---------------------------------------------------------------------------
# currency
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("USD", 2), ("JPY", 0), ("KWD", 3), ("EUR", 2), ("POINTS", 0)],
)
def test_currency_exponents(code: str, exponent: int) -> None:
    assert currency(code) == Currency(code, exponent)


def test_the_iso_4217_table_is_babels_cldr_data() -> None:
    from babel import numbers

    codes = numbers.list_currencies()
    assert sorted(codes - iso4217.CODES) == [] and sorted(iso4217.CODES - codes) == []
    differ = {code: (numbers.get_currency_precision(code), currency(code).exponent)
              for code in sorted(codes)
              if numbers.get_currency_precision(code) != currency(code).exponent}
    assert differ == {}, "CLDR's digits, then the table's"


def test_a_worker_looks_currencies_up_without_loading_babel() -> None:
    """Babel's look-up would load its whole global CLDR data (about 2.8 MB resident) into
    every process that opens a distributor."""
    code = ("import sys; from siren_core import Kernel; from siren_core.money import currency;"
            " assert currency('JPY').exponent == 0 and currency('KWD').exponent == 3;"
            " print(sorted(m for m in sys.modules if m.split('.')[0] == 'babel'))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert found.stdout.strip() == "[]"


def test_points_is_the_points_unit() -> None:
    assert currency("POINTS") is POINTS


def test_currency_is_cached_and_frozen() -> None:
    assert currency("USD") == currency("USD")
    with pytest.raises(AttributeError):
        USD.exponent = 3  # type: ignore[misc]


@pytest.mark.parametrize("code", ["XYZ", "US", "USDX", "", " USD", "U5D"])
def test_unknown_currency(code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        currency(code, field="sale.currency")
    assert "ISO 4217" in assert_invalid(exc, "sale.currency", code)


def test_lowercase_currency_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInput) as exc:
        currency("usd")
    message = assert_invalid(exc, "currency", "usd")
    assert message == (
        "currency: 'usd' is not an ISO 4217 currency code (use upper case, e.g. 'USD')")
    with pytest.raises(InvalidInput) as exc:
        currency("points", field="distributor.unit")
    assert "'POINTS'" in assert_invalid(exc, "distributor.unit", "points")


def test_currency_code_must_be_a_string() -> None:
    with pytest.raises(InvalidInput) as exc:
        currency(840, field="c")  # type: ignore[arg-type]
    assert_invalid(exc, "c", 840)


def test_currency_exponent_must_be_a_count_of_decimals() -> None:
    with pytest.raises(InvalidInput):
        Currency("XXX", -1)


# ---------------------------------------------------------------------------
# to_minor
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "cur", "minor"),
    [
        ("15.00", USD, 1500),  # Siren's worked example
        ("1500", JPY, 1500),
        ("1.234", KWD, 1234),
        (5, USD, 500),
        (5, JPY, 5),
        ("120.00", USD, 12000),
        ("120.5", USD, 12050),
        (Decimal("120.5"), USD, 12050),
        (Decimal("1E+2"), USD, 10000),
        ("15.000", USD, 1500),  # trailing zeros are exact, so fine
        ("0", USD, 0),
        ("-0.00", USD, 0),
        ("0.01", EUR, 1),
        ("42", POINTS, 42),
        ("92233720368547758.07", USD, INT64_MAX),
    ],
)
def test_to_minor(amount: str | Decimal | int, cur: Currency, minor: int) -> None:
    result = to_minor(amount, cur, field="sale.amount")
    assert result == minor
    assert type(result) is int


def test_to_minor_negative_when_allowed() -> None:
    assert to_minor("-3.50", USD, field="adjustment", allow_negative=True) == -350
    assert to_minor(-2, JPY, field="adjustment", allow_negative=True) == -2
    assert to_minor(Decimal("-0.001"), KWD, field="a", allow_negative=True) == -1
    assert to_minor("-92233720368547758.08", USD, field="a", allow_negative=True) == INT64_MIN


@pytest.mark.parametrize(
    ("amount", "cur", "phrase"),
    [
        (12.5, USD, "is a float; give money as a string or Decimal (e.g. '12.50')"),
        (0.1, USD, "is a float"),
        (True, USD, "is a bool"),
        (None, USD, "is a NoneType"),
        (Decimal("NaN"), USD, "not a finite"),
        (Decimal("Infinity"), USD, "not a finite"),
        ("Infinity", USD, "not a finite"),
        ("NaN", USD, "not a finite"),
        ("12,5", USD, "','"),
        ("1,000.00", USD, "','"),
        ("1e3", USD, "exponent notation"),
        ("1E-2", USD, "exponent notation"),
        ("1.005", USD, "has more than 2 decimals for USD"),
        ("1.5", JPY, "JPY has no minor unit"),
        ("1.2345", KWD, "has more than 3 decimals for KWD"),
        (Decimal("0.001"), USD, "has more than 2 decimals for USD"),
        ("-1", USD, "negative"),
        ("-0.01", USD, "negative"),
        (-5, USD, "negative"),
        (Decimal("-1"), USD, "negative"),
        ("92233720368547758.08", USD, "64-bit"),
        (92233720368547759, USD, "64-bit"),
        (Decimal("1E+30"), USD, "64-bit"),
        ("9223372036854775808", JPY, "64-bit"),
        (" 1.00", USD, "whitespace"),
        ("1.00 ", USD, "whitespace"),
        ("1.00\n", USD, "whitespace"),
        ("+1.00", USD, "plain decimal"),
        ("1.", USD, "plain decimal"),
        (".5", USD, "plain decimal"),
        ("", USD, "plain decimal"),
        ("1_000", USD, "plain decimal"),
        ("$1.00", USD, "plain decimal"),
        ("\u0661\u0662", USD, "plain decimal"),  # Arabic-Indic digits
    ],
)
def test_to_minor_refusals(amount: Any, cur: Currency, phrase: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        to_minor(amount, cur, field="sale.amount")
    assert phrase in assert_invalid(exc, "sale.amount", amount)


def test_float_message_exactly() -> None:
    with pytest.raises(InvalidInput) as exc:
        to_minor(12.5, USD, field="sale.amount")  # type: ignore[arg-type]
    assert str(exc.value) == (
        "sale.amount: 12.5 is a float; give money as a string or Decimal (e.g. '12.50')")


def test_too_many_decimals_message_exactly() -> None:
    with pytest.raises(InvalidInput) as exc:
        to_minor("1.005", USD, field="sale.amount")
    assert str(exc.value) == "sale.amount: '1.005' has more than 2 decimals for USD"


def test_out_of_int64_refused_even_when_negative_allowed() -> None:
    with pytest.raises(InvalidInput) as exc:
        to_minor("-92233720368547758.09", USD, field="a", allow_negative=True)
    assert_invalid(exc, "a", "-92233720368547758.09")


def test_huge_exponents_are_refused_quickly() -> None:
    for amount in (Decimal("1E+999999999"), Decimal("1E-999999999")):
        with pytest.raises(InvalidInput):
            to_minor(amount, USD, field="a")
    assert to_minor(Decimal("0E+999999999"), USD, field="a") == 0
    assert to_minor("0" * 5000 + "1.2" + "0" * 5000, USD, field="a") == 120
    with pytest.raises(InvalidInput):
        to_minor("1" + "0" * 5000, USD, field="a")


# ---------------------------------------------------------------------------
# from_minor / format_minor
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "cur", "text"),
    [
        (50000, USD, "500.00"),
        (-350, USD, "-3.50"),
        (-5, USD, "-0.05"),
        (0, USD, "0.00"),
        (1500, JPY, "1500"),
        (-1500, JPY, "-1500"),
        (1234, KWD, "1.234"),
        (7, KWD, "0.007"),
        (123456789, USD, "1234567.89"),  # no thousands separators
        (12, POINTS, "12"),
        (INT64_MAX, USD, "92233720368547758.07"),
        (INT64_MIN, USD, "-92233720368547758.08"),
    ],
)
def test_format_and_from_minor(minor: int, cur: Currency, text: str) -> None:
    assert format_minor(minor, cur) == text
    value = from_minor(minor, cur)
    assert isinstance(value, Decimal)
    assert str(value) == text
    assert value == Decimal(text)
    assert value.as_tuple().exponent == -cur.exponent


@pytest.mark.parametrize("minor", [1.5, True, "100", None])
def test_format_minor_wants_an_int(minor: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        format_minor(minor, USD)
    assert_invalid(exc, "minor", minor)


currencies = st.sampled_from([USD, JPY, KWD, EUR, POINTS])
int64s = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)


@given(int64s, currencies)
def test_format_minor_round_trips(minor: int, cur: Currency) -> None:
    text = format_minor(minor, cur)
    assert to_minor(text, cur, field="x", allow_negative=True) == minor
    assert to_minor(from_minor(minor, cur), cur, field="x", allow_negative=True) == minor
    if cur.exponent:
        assert len(text.split(".")[1]) == cur.exponent
    else:
        assert "." not in text


@given(st.integers(min_value=-(10**12), max_value=10**12), currencies)
def test_to_minor_round_trips(units: int, cur: Currency) -> None:
    amount = Decimal(units).scaleb(-cur.exponent)
    minor = to_minor(amount, cur, field="x", allow_negative=True)
    assert minor == units
    assert from_minor(minor, cur) == amount
    assert to_minor(str(amount), cur, field="x", allow_negative=True) == units


# ---------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------


def test_split_siren_pool() -> None:
    assert split(600000, {"ann": 500, "bob": 300, "cat": 200}) == {
        "ann": 300000, "bob": 180000, "cat": 120000}


def test_split_equal_pool() -> None:
    people = [f"c{i}" for i in range(10)]
    assert split(500000, dict.fromkeys(people, 1)) == dict.fromkeys(people, 50000)
    assert split_equally(500000, people) == dict.fromkeys(people, 50000)


def test_three_among_four_goes_to_the_smallest_keys() -> None:
    weights = {"d": 1, "b": 1, "a": 1, "c": 1}
    result = split(3, weights)
    assert result == {"a": 1, "b": 1, "c": 1, "d": 0}
    assert list(result) == ["a", "b", "c", "d"]
    assert list(result.values()) == [1, 1, 1, 0]
    assert split_equally(3, ["d", "b", "a", "c"]) == result
    assert split_equally(3, [40, 10, 30, 20]) == {10: 1, 20: 1, 30: 1, 40: 0}


def test_remainder_tie_goes_to_the_larger_weight_then_the_smaller_key() -> None:
    # total 4, amount 2: a and b have remainder 2*1 mod 4 = 2, c has 2*2 mod 4 = 0.
    assert split(2, {"b": 1, "a": 1, "c": 2}) == {"a": 1, "b": 0, "c": 1}
    # total 8, amount 2: remainders a=2, b=10 mod 8=2, c=4 -> the largest (c) wins.
    assert split(2, {"a": 1, "b": 5, "c": 2}) == {"a": 0, "b": 1, "c": 1}
    # amount 3 total 8: a=3*1 mod 8=3, b=15 mod 8=7, c=6 -> floors 0,1,0, leftover 2: b, c.
    assert split(3, {"a": 1, "b": 5, "c": 2}) == {"a": 0, "b": 2, "c": 1}
    # total 6, amount 3: 3*2 mod 6 = 0 for x and y; 3*1 mod 6 = 3 for a, b (tie, equal
    # weight) -> floors 0,0,1,1, leftover 1 to the smaller key a.
    assert split(3, {"y": 2, "b": 1, "x": 2, "a": 1}) == {"a": 1, "b": 0, "x": 1, "y": 1}
    # total 10, amount 5: remainders a=5, b=15 mod 10=5, c=0; floors 0+1+3, leftover 1.
    # a and b tie on remainder; b has the larger weight, so it beats the smaller key a.
    assert split(5, {"a": 1, "b": 3, "c": 6}) == {"a": 0, "b": 2, "c": 3}
    assert split(5, {"z": 1, "b": 3, "c": 6}) == {"b": 2, "c": 3, "z": 0}


def test_weight_zero_gets_zero_and_is_present() -> None:
    assert split(7, {"a": 0, "b": 1, "c": 0}) == {"a": 0, "b": 7, "c": 0}
    assert split(0, {"a": 0, "b": 0}) == {"a": 0, "b": 0}
    assert split(0, {}) == {}
    assert split_equally(0, []) == {}


def test_int_keys_come_back_in_ascending_order() -> None:
    result = split(10, {3: 1, 1: 1, 2: 1})
    assert list(result.items()) == [(1, 4), (2, 3), (3, 3)]


def test_split_many_keys() -> None:
    rng = random.Random(1234)
    keys = list(range(100_000))
    rng.shuffle(keys)
    weights = {k: rng.randrange(0, 10**6) for k in keys}
    amount = 10**15 + 12345
    result = split(amount, weights)
    assert list(result) == sorted(weights)
    assert sum(result.values()) == amount
    total = sum(weights.values())
    for k in keys[:1000]:
        assert abs(result[k] - Fraction(amount * weights[k], total)) < 1
    equal = split_equally(99_999, keys)
    assert sum(equal.values()) == 99_999
    assert equal[0] == 1 and equal[99_998] == 1 and equal[99_999] == 0


def test_a_large_split_holds_few_lists_beside_its_result() -> None:
    """The products are not kept, the parts are an array while the remainders are held,
    and the result copies the table of weights given in key order: the split's peak
    (tracemalloc, deterministic) stays within 1.5 times what it returns (1.38 here; 1.7
    with the parts a list and the result grown one table size at a time, 2.2 with every
    product and remainder still held)."""
    rng = random.Random(7)
    weights = {f"c{i:07}": rng.randrange(10, 1000) for i in range(30_000)}
    amount = 10**9
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = split(amount, weights)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(result.values()) == amount
    assert result == reference_split(amount, weights)
    assert peak - before <= 1.5 * (held - before)


@pytest.mark.parametrize("amount", [10**9 + 7, 2**70 + 3])
def test_a_split_is_the_same_whatever_the_weights_order_or_mapping(amount: int) -> None:
    """Weights given in key order (the result copies their table), in another order, or
    as another mapping; an amount past 64 bits (the parts a list, not an array)."""
    rng = random.Random(3)
    ordered = {f"k{i:04}": rng.randrange(0, 50) for i in range(2_000)}
    reversed_order = dict(reversed(ordered.items()))
    expected = reference_split(amount, ordered)
    for weights in (ordered, reversed_order, types.MappingProxyType(ordered)):
        result = split(amount, weights)
        assert result == expected and list(result) == sorted(ordered)
        assert sum(result.values()) == amount


@pytest.mark.parametrize(
    ("amount", "weights", "field", "value"),
    [
        (-1, {"a": 1}, "split.amount", -1),
        (1.0, {"a": 1}, "split.amount", 1.0),
        (True, {"a": 1}, "split.amount", True),
        (Decimal(1), {"a": 1}, "split.amount", Decimal(1)),
        (10, {"a": 1, "b": -1}, "split.weights['b']", -1),
        (10, {"a": 1.5, "b": 1}, "split.weights['a']", 1.5),
        (10, {"a": 1, "b": True}, "split.weights['b']", True),
        (10, {7: 1, 3: "2"}, "split.weights[3]", "2"),
        (10, {"a": 0, "b": 0}, "split.weights", 0),
        (10, {}, "split.weights", {}),
        (0, {"a": -1}, "split.weights['a']", -1),
    ],
)
def test_split_errors(amount: Any, weights: Any, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as exc:
        split(amount, weights)
    assert_invalid(exc, field, value)


def test_split_keys_must_be_orderable() -> None:
    with pytest.raises(InvalidInput) as exc:
        split(3, {1: 1, "a": 1})  # type: ignore[type-var]
    assert exc.value.field == "split.weights"


def test_split_equally_errors() -> None:
    with pytest.raises(InvalidInput) as exc:
        split_equally(3, [])
    assert exc.value.field == "split_equally.keys"
    with pytest.raises(InvalidInput) as exc:
        split_equally(3, ["a", "b", "a"])
    assert_invalid(exc, "split_equally.keys", "a")
    with pytest.raises(InvalidInput) as exc:
        split_equally(-3, ["a"])
    assert_invalid(exc, "split_equally.amount", -3)
    with pytest.raises(InvalidInput) as exc:
        split_equally(2.0, ["a"])  # type: ignore[arg-type]
    assert_invalid(exc, "split_equally.amount", 2.0)


# --- properties ------------------------------------------------------------


def reference_split(amount: int, weights: dict[Any, int]) -> dict[Any, int]:
    """Hamilton's method written the slow, obvious way with Fractions."""
    total = sum(weights.values())
    shares = {k: Fraction(amount * w, total) for k, w in weights.items()}
    parts = {k: int(s) for k, s in shares.items()}  # floor: shares are >= 0
    leftover = amount - sum(parts.values())
    order = sorted(weights, key=lambda k: (-(shares[k] - parts[k]), -weights[k], k))
    for k in order[:leftover]:
        parts[k] += 1
    return dict(sorted(parts.items()))


amounts = st.integers(min_value=0, max_value=10**15)
weight_values = st.one_of(
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**12),
)
weight_maps = st.one_of(
    st.dictionaries(st.integers(-1000, 1000), weight_values, min_size=1, max_size=50),
    st.dictionaries(st.text(max_size=5), weight_values, min_size=1, max_size=50),
).filter(lambda ws: sum(ws.values()) > 0)


@given(amounts, weight_maps)
def test_split_properties(amount: int, weights: dict[Any, int]) -> None:
    result = split(amount, weights)
    total = sum(weights.values())
    assert list(result) == sorted(weights)
    assert sum(result.values()) == amount
    for key, w in weights.items():
        exact = Fraction(amount * w, total)
        assert abs(result[key] - exact) < 1
        assert result[key] - (amount * w) // total in (0, 1)
        if w == 0:
            assert result[key] == 0
    assert result == reference_split(amount, weights)
    assert split(amount, weights) == result  # deterministic


@given(amounts, weight_maps, st.randoms(use_true_random=False))
def test_split_ignores_input_order(amount: int, weights: dict[Any, int],
                                   rnd: random.Random) -> None:
    items = list(weights.items())
    rnd.shuffle(items)
    shuffled = split(amount, dict(items))
    assert shuffled == split(amount, weights)
    assert list(shuffled) == list(split(amount, weights))


@given(amounts, weight_maps, st.integers(min_value=1, max_value=10**6))
def test_split_ignores_weight_scale(amount: int, weights: dict[Any, int], k: int) -> None:
    scaled = {key: w * k for key, w in weights.items()}
    assert split(amount, scaled) == split(amount, weights)


@given(amounts, st.sets(st.integers(-10**6, 10**6), min_size=1, max_size=50))
def test_split_equally_matches_split(amount: int, keys: set[int]) -> None:
    result = split_equally(amount, keys)
    assert result == split(amount, dict.fromkeys(keys, 1))
    assert sum(result.values()) == amount
    base = amount // len(keys)
    ordered = sorted(keys)
    leftover = amount - base * len(keys)
    assert [result[k] for k in ordered] == (
        [base + 1] * leftover + [base] * (len(keys) - leftover))
