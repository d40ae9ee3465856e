"""Money: currencies, exact amounts in minor units, and exact splits.

Minor units
-----------
siren-core never stores or computes with fractional money.  Every amount is an
``int`` counting the currency's *minor unit*: cents for USD (2 decimals), whole
yen for JPY (0 decimals), fils for KWD (3 decimals).  ``15.00`` USD is ``1500``,
``1500`` JPY is ``1500``, ``1.234`` KWD is ``1234``.  The number of decimals is the
currency's ``exponent`` and comes from the Unicode CLDR data (Babel's, kept in
:mod:`siren_core.iso4217`).
Besides the ISO 4217 currencies there is one Siren unit, ``POINTS`` (exponent 0),
for distributors who pay in points.  Minor-unit integers are stored in BIGINT
columns, so every amount must fit in a signed 64-bit integer.

Why floats are refused
----------------------
A binary ``float`` cannot represent most decimal amounts: ``0.1 + 0.2`` is
``0.30000000000000004`` and ``1.005`` is really ``1.00499999999999989...``.
Accepting floats would silently turn such values into the wrong number of cents,
so :func:`to_minor` refuses them (and ``bool``, which Python treats as an ``int``).
Give money as a string (``"12.50"``), a :class:`~decimal.Decimal`, or an ``int``
of whole major units.  Strings must be plain decimals: an optional ``-``, ASCII
digits, and optionally ``.`` followed by digits.  No ``+`` sign, no whitespace, no
thousands separators, no ``,`` as decimal mark, and no exponent notation (``"1e3"``
is refused; a ``Decimal`` given directly may use any exponent as long as its value
is exact in minor units).  Trailing zeros are fine: ``"15.000"`` is exactly
``1500`` cents, but ``"1.005"`` is refused for USD because it is not a whole
number of cents.  Nothing is ever rounded.

Splitting
---------
:func:`split` shares an integer amount among keys in proportion to integer
weights by the largest-remainder (Hamilton) method, using integer arithmetic
only.  Each key first gets ``floor(amount * weight / total)``; the units left over
(fewer than the number of keys) go one each to the keys with the largest
remainders ``amount * weight mod total``; equal remainders go to the larger weight
first, then to the smaller key.  The parts always add up to ``amount`` exactly,
every part is within one unit of its exact share, and the result does not
depend on the order of the mapping.  Example: a pool of 3 among 4 equal
collaborators ``a, b, c, d`` gives ``{a: 1, b: 1, c: 1, d: 0}`` -- every remainder
is equal, every weight is equal, so the smallest keys win.
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
from array import array
from collections.abc import Iterable, Mapping, MutableSequence
from decimal import Decimal
from itertools import compress, pairwise, repeat
from typing import Any, Protocol, TypeVar

import attrs

from siren_core import iso4217
from siren_core.errors import InvalidInput

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "PLAIN_DECIMAL",
    "POINTS",
    "Currency",
    "convert",
    "currency",
    "decimal_text_problem",
    "format_minor",
    "from_minor",
    "plain_text",
    "split",
    "split_equally",
    "to_minor",
]

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# At most 19 significant digits fit in a signed 64-bit integer (INT64_MAX has 19).
_INT64_DIGITS = 19


@attrs.frozen
class Currency:
    """A unit of money: its code and its number of minor-unit digits (decimals)."""

    code: str
    exponent: int = attrs.field()

    @exponent.validator
    def _check_exponent(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("currency.exponent", value,
                               "is not a number of decimals (an int, 0 or more)")


POINTS = Currency("POINTS", 0)
"""Siren's non-ISO unit for distributors who pay in points; whole points only."""

_ISO_CODE = re.compile(r"[A-Z]{3}")


def _a_type(value: object) -> str:
    """``'a str'``, ``'an int'``: the article and type name of ``value``, for messages."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


@functools.cache
def _iso_currency(code: str) -> Currency | None:
    """The ISO 4217 currency ``code`` (3 upper-case letters) per CLDR, or None."""
    if code not in iso4217.CODES:
        return None
    return Currency(code, iso4217.DIGITS.get(code, iso4217.DEFAULT_DIGITS))


def currency(code: str, *, field: str = "currency") -> Currency:
    """Look up a currency by its ISO 4217 code, e.g. ``currency("USD")``.

    The list of codes and their minor-unit digits come from CLDR (Babel's data, in
    :mod:`siren_core.iso4217`): USD -> 2, JPY -> 0, KWD -> 3, EUR -> 2.  Codes must be
    upper case; ``"usd"`` is refused with a hint.  Besides ISO codes, ``"POINTS"``
    gives Siren's points unit (exponent 0).  Lookups are cached.  Raises
    :class:`InvalidInput` naming ``field`` for anything else.
    """
    if not isinstance(code, str):
        raise InvalidInput(field, code, f"is {_a_type(code)}, not a currency code")
    if code == POINTS.code:
        return POINTS
    if _ISO_CODE.fullmatch(code):
        found = _iso_currency(code)
        if found is not None:
            return found
    else:
        upper = code.upper()
        if upper != code and (
            upper == POINTS.code
            or (_ISO_CODE.fullmatch(upper) and _iso_currency(upper) is not None)
        ):
            kind = "a currency code" if upper == POINTS.code else "an ISO 4217 currency code"
            raise InvalidInput(field, code, f"is not {kind} (use upper case, e.g. {upper!r})")
    raise InvalidInput(
        field, code,
        "is not an ISO 4217 currency code (3 upper-case letters, e.g. 'USD') or 'POINTS'")


# ---------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------

PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
"""The documented decimal text: an optional ``-``, ASCII digits, optionally ``.`` and
digits. ``[0-9]`` (not ``\\d``) so that Arabic-Indic or full-width digits are refused."""
_MONEY_TYPES_HINT = "give money as a string or Decimal (e.g. '12.50')"


# A Decimal's exponent beyond this is written as given (and then refused as exponent
# notation) rather than spelled out in a string of that many digits.
_PLAIN_EXPONENT = 64


def plain_text(value: Decimal) -> str:
    """A Decimal as the plain decimal text it stands for: ``Decimal("5E+1")`` is ``"50"``,
    ``Decimal("1.50")`` is ``"1.50"``; so a Decimal is accepted wherever that text is."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and abs(exponent) <= _PLAIN_EXPONENT:
        return format(value, "f")
    return str(value)


def decimal_text_problem(text: str) -> str:
    """Say as specifically as possible why ``text`` is not a plain decimal."""
    if text != text.strip():
        return "has leading or trailing whitespace; give a plain decimal such as '12.50'"
    lowered = text.lower().lstrip("+-")
    if lowered in {"nan", "snan", "inf", "infinity"}:
        return "is not a finite amount"
    if text.startswith("+"):
        return "has a '+' sign; write a plain decimal such as '12.50'"
    if "," in text:
        return "uses ','; write a plain decimal with '.' and no thousands separators ('1234.50')"
    if "_" in text:
        return "uses '_'; write a plain decimal with no digit separators ('1234.50')"
    if "e" in lowered and re.fullmatch(r"[0-9.]+e[-+]?[0-9]+", lowered):
        return "uses exponent notation; write the amount out in full (e.g. '1000.00')"
    if not text.isascii():
        return "has characters other than ASCII digits, '-' and '.'; write a plain decimal " \
            "such as '12.50'"
    return "is not a plain decimal number (digits, an optional '-' and '.', e.g. '12.50')"


def _fits_problem(cur: Currency) -> str:
    return (f"does not fit: in minor units of {cur.code} it must lie between "
            f"{format_minor(INT64_MIN, cur)} and {format_minor(INT64_MAX, cur)} "
            f"(signed 64-bit integer)")


def _decimal_to_minor(value: Decimal, original: object, cur: Currency, field: str,
                      allow_negative: bool) -> int:
    """Convert a finite Decimal exactly, using integer arithmetic only."""
    sign, digits, exp = value.as_tuple()
    assert isinstance(exp, int)  # finite: checked by the caller
    # Drop trailing zeros of the coefficient (so '15.000' is exact for USD) in tuple
    # form, so that a huge coefficient is never turned into an int.
    end = len(digits)
    while end > 1 and digits[end - 1] == 0:
        end -= 1
    exp += len(digits) - end
    digits = digits[:end]
    if digits == (0,):
        return 0
    if sign and not allow_negative:
        raise InvalidInput(field, original, "is negative; amounts here must be 0 or more")
    shift = exp + cur.exponent  # minor = coefficient * 10**shift
    if shift < 0:
        if cur.exponent == 0:
            problem = f"has decimals, but {cur.code} has no minor unit"
        else:
            plural = "s" if cur.exponent != 1 else ""
            problem = f"has more than {cur.exponent} decimal{plural} for {cur.code}"
        raise InvalidInput(field, original, problem)
    if len(digits) + shift > _INT64_DIGITS:
        raise InvalidInput(field, original, _fits_problem(cur))
    coefficient = 0
    for digit in digits:
        coefficient = coefficient * 10 + digit
    minor: int = coefficient * 10**shift
    if sign:
        minor = -minor
    if not INT64_MIN <= minor <= INT64_MAX:
        raise InvalidInput(field, original, _fits_problem(cur))
    return minor


def to_minor(amount: str | Decimal | int, cur: Currency, *, field: str,
             allow_negative: bool = False) -> int:
    """Convert ``amount`` in major units to an exact integer of ``cur``'s minor units.

    ``amount`` is a plain decimal string (``"120.00"``), a finite ``Decimal`` or an
    ``int`` of whole major units (``5`` USD is ``500``).  Refused with
    :class:`InvalidInput` naming ``field``: ``float`` and ``bool``; NaN and
    infinities; strings with whitespace, ``+``, ``,``, exponent notation or anything
    else that is not ``-?digits[.digits]``; values that are not a whole number of
    minor units (``'1.005'`` for USD; trailing zeros are fine); negative values
    unless ``allow_negative``; results outside the signed 64-bit range.
    """
    if isinstance(amount, bool):
        raise InvalidInput(field, amount, f"is a bool; {_MONEY_TYPES_HINT}")
    if isinstance(amount, float):
        raise InvalidInput(field, amount, f"is a float; {_MONEY_TYPES_HINT}")
    if isinstance(amount, int):
        if amount < 0 and not allow_negative:
            raise InvalidInput(field, amount, "is negative; amounts here must be 0 or more")
        minor: int = amount * 10**cur.exponent
        if not INT64_MIN <= minor <= INT64_MAX:
            raise InvalidInput(field, amount, _fits_problem(cur))
        return minor
    if isinstance(amount, Decimal):
        if not amount.is_finite():
            raise InvalidInput(field, amount, "is not a finite amount")
        return _decimal_to_minor(amount, amount, cur, field, allow_negative)
    if isinstance(amount, str):
        if not PLAIN_DECIMAL.fullmatch(amount):
            raise InvalidInput(field, amount, decimal_text_problem(amount))
        return _decimal_to_minor(Decimal(amount), amount, cur, field, allow_negative)
    raise InvalidInput(field, amount,
                       f"is {_a_type(amount)}; {_MONEY_TYPES_HINT}")


def _check_minor(minor: object, field: str) -> int:
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise InvalidInput(field, minor,
                           f"is {_a_type(minor)}, not an int of minor units")
    return minor


def format_minor(minor: int, cur: Currency, *, field: str = "minor") -> str:
    """The exact decimal string of ``minor`` units: exactly ``cur.exponent`` decimals.

    ``format_minor(50000, USD) == "500.00"``, ``format_minor(-350, USD) == "-3.50"``,
    ``format_minor(1500, JPY) == "1500"``, ``format_minor(1234, KWD) == "1.234"``.
    No thousands separators, no currency symbol.
    """
    minor = _check_minor(minor, field)
    if cur.exponent == 0:
        return str(minor)
    whole, fraction = divmod(abs(minor), 10**cur.exponent)
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}.{fraction:0{cur.exponent}d}"


def amount_text(amount: int | None, units: str) -> str | None:
    """``12345, "USD"`` → ``"123.45"``: an amount of ``units`` as decimal text for people
    and for JSON (``None`` stays ``None``)."""
    return None if amount is None else format_minor(amount, currency(units))


def from_minor(minor: int, cur: Currency, *, field: str = "minor") -> Decimal:
    """The exact ``Decimal`` of ``minor`` units, with exactly ``cur.exponent`` decimals.

    ``from_minor(1500, USD) == Decimal("15.00")`` (and keeps the two decimals).
    """
    return Decimal(format_minor(minor, cur, field=field))


def convert(minor: int, base: Currency, quote: Currency, rate: Decimal) -> int:
    """``minor`` units of ``base`` in minor units of ``quote``, at 1 ``base`` = ``rate``
    ``quote``, rounded half to even (exact integer arithmetic, no decimal context).

    The exponents count: ``convert(10000, EUR, USD, Decimal("1.0850")) == 10850`` (EUR
    100.00 → USD 108.50), ``convert(10000, EUR, JPY, Decimal("162.37")) == 16237`` and
    ``convert(10, EUR, USD, Decimal("1.25")) == 12`` (0.125 → 0.12, and 0.135 → 0.14).
    """
    numerator, denominator = rate.as_integer_ratio()
    shift = quote.exponent - base.exponent
    if shift >= 0:
        numerator *= 10 ** shift
    else:
        denominator *= 10 ** -shift
    quotient, remainder = divmod(minor * numerator, denominator)
    twice = 2 * remainder  # the fraction left is remainder / denominator, in [0, 1)
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


# ---------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------


class _Orderable(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Orderable)


def _check_amount(amount: object, field: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(field, amount,
                           f"is {_a_type(amount)}, not an int of minor units")
    if amount < 0:
        raise InvalidInput(field, amount, "is negative; only 0 or more can be split")
    return amount


def _sorted_keys(keys: Iterable[K], field: str) -> list[K]:
    ordered = list(keys)
    try:
        ordered.sort()
    except TypeError:
        types = sorted({type(key).__name__ for key in ordered})
        raise InvalidInput(field, types,
                           "are key types that cannot be ordered against each other; "
                           "use keys of one type") from None
    return ordered


def _largest_remainder(amount: int, keys: list[K], weights: Mapping[K, int]
                       ) -> dict[K, int]:
    """Hamilton split of ``amount`` among ``keys`` (ascending) by ``weights``.

    A large split's peak memory is its columns of n ints, each dropped once its last use
    is past (``keys`` too: the caller passes it, not holds it): the products are not kept
    (computed twice), the parts are an array of 64-bit ints while the remainders are held
    (8 bytes a key, not 40), the units won are added in place, and the result copies the
    table of ``weights`` given as a dict in key order rather than growing one."""
    values = _weights(keys, weights)
    if amount == 0:
        return dict.fromkeys(keys, 0)
    if not keys:
        raise InvalidInput("split.weights", {},
                           f"is empty, so {amount} cannot be shared among it")
    total = sum(values)
    if total == 0:
        raise InvalidInput("split.weights", total,
                           f"is the total weight; {amount} cannot be shared in proportion "
                           f"to weights that are all 0")
    keyed = weights if type(weights) is dict and all(map(operator.is_, keys, weights)) \
        else None
    names: Iterable[K] = keys if keyed is None else keyed
    del keys
    # map() with C-level callables keeps this fast for 100,000s of keys.
    n = len(values)
    parts = _column(map(operator.floordiv, map(amount.__mul__, values), repeat(total, n)),
                    amount)
    leftover = amount - sum(parts)
    if leftover:
        remainders = list(map(operator.mod, map(amount.__mul__, values), repeat(total, n)))
        # The remainders add up to leftover * total and each is < total, so more than
        # `leftover` of them are positive and keys of weight 0 (remainder 0) never win.
        # Every key whose remainder beats the leftover-th largest remainder wins a unit ...
        ranked = sorted(remainders)
        threshold = ranked[n - leftover]
        still_left = leftover - (n - bisect.bisect_right(ranked, threshold))
        del ranked
        for i in compress(range(n), map(threshold.__lt__, remainders)):
            parts[i] += 1
        # ... and the units still left go to the keys whose remainder equals it, larger
        # weight first, then smaller key: indices ascend, and sorted() with reverse=True
        # is stable, so equal weights stay in ascending key order.
        tied = list(compress(range(n), map(threshold.__eq__, remainders)))
        del remainders
        for i in sorted(tied, key=values.__getitem__, reverse=True)[:still_left]:
            parts[i] += 1
    del values
    if keyed is None:
        return dict(zip(names, parts, strict=True))
    result = dict(keyed)
    result.update(zip(names, parts, strict=True))
    return result


def _weights(keys: list[K], weights: Mapping[K, int]) -> list[int]:
    """The weights of ``keys`` in their order, checked: ints, none negative (an int
    subclass other than ``bool`` is taken as its int)."""
    values = list(map(weights.__getitem__, keys))
    if not set(map(type, values)) <= {int} or (values and min(values) < 0):
        for key, w in zip(keys, values, strict=True):
            if isinstance(w, bool) or not isinstance(w, int):
                raise InvalidInput(f"split.weights[{key!r}]", w,
                                   f"is {_a_type(w)}, not an int weight")
            if w < 0:
                raise InvalidInput(f"split.weights[{key!r}]", w, "is a negative weight")
        values = [int(w) for w in values]  # int subclasses (not bool) are fine
    return values


def _column(values: Iterable[int], bound: int) -> MutableSequence[int]:
    """``values``, none above ``bound``: an array of 64-bit ints if they fit, else a list."""
    return array("q", values) if bound <= INT64_MAX else list(values)


def split(amount: int, weights: Mapping[K, int]) -> dict[K, int]:
    """Split ``amount`` among the keys of ``weights`` in proportion to the weights.

    Largest-remainder (Hamilton) method in integer arithmetic: each key gets
    ``floor(amount * w / total)``, and the leftover units go one each to the keys
    with the largest remainders, ties going to the larger weight, then the smaller
    key.  Keys of weight 0 get 0.  The parts add up to ``amount`` exactly; the result
    is keyed in ascending key order and does not depend on the mapping's order.

    Raises :class:`InvalidInput` for an amount or a weight that is not an ``int``
    (``bool`` and ``float`` included) or is negative (fields ``split.amount``,
    ``split.weights[<key>]``), and for ``amount > 0`` with no weights or weights
    that are all 0 (field ``split.weights``).  ``split(0, ...)`` gives all zeros.
    """
    return _largest_remainder(_check_amount(amount, "split.amount"),
                              _sorted_keys(weights, "split.weights"), weights)


def split_equally(amount: int, keys: Iterable[K]) -> dict[K, int]:
    """Split ``amount`` equally among ``keys``: the same as :func:`split` with all
    weights 1, so the leftover units go one each to the smallest keys.

    Raises :class:`InvalidInput` for a negative or non-int amount
    (``split_equally.amount``), a key given twice, or no keys with ``amount > 0``
    (``split_equally.keys``).
    """
    amount = _check_amount(amount, "split_equally.amount")
    ordered = _sorted_keys(keys, "split_equally.keys")
    for before, after in pairwise(ordered):
        if not before < after:
            raise InvalidInput("split_equally.keys", after, "appears more than once")
    if amount == 0:
        return dict.fromkeys(ordered, 0)
    if not ordered:
        raise InvalidInput("split_equally.keys", [],
                           f"is empty, so {amount} cannot be shared among it")
    each, leftover = divmod(amount, len(ordered))
    return {key: each + 1 if i < leftover else each for i, key in enumerate(ordered)}
