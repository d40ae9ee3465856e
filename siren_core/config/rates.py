"""Exchange rates as the configuration and the kernel take them (docs/currencies.md).

One ``[[exchange_rates]]`` table of the configuration file::

    [[exchange_rates]]
    base = "EUR"          # 1 EUR =
    quote = "USD"         #   1.0850 USD
    rate = "1.0850"       # a decimal string: a TOML float is refused
    from = "2026-01-01"   # holds from this date, 00:00 UTC, until a later rate of the pair

``kernel.set_exchange_rate`` and ``siren rates set`` take the same four values. The
inverse pair is not derived: USD → EUR needs its own rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from siren_core.config.converter import parse_date, parse_decimal
from siren_core.domain import RATE_LENGTH
from siren_core.errors import InvalidInput
from siren_core.money import POINTS, currency, plain_text
from siren_core.records import ExchangeRate

KEYS = ("base", "quote", "rate", "from")
MAX_RATE_PLACES = 18
"""Decimal places a rate may have."""


def exchange_rate(base: Any, quote: Any, rate: Any, since: Any, *,
                  prefix: str = "") -> ExchangeRate:
    """A checked rate: ISO currencies (not ``POINTS``, not the same twice), a positive
    decimal (text, ``Decimal`` or ``int``; never a float) and a date (or its ISO text).
    Errors name the field with ``prefix`` (``exchange_rates[0].rate``)."""
    base_unit = _unit(base, f"{prefix}base")
    quote_unit = _unit(quote, f"{prefix}quote")
    if base_unit == quote_unit:
        raise InvalidInput(f"{prefix}quote", quote, "is the base currency too (a rate is "
                           "between two currencies)")
    try:
        value = parse_decimal(rate)
    except ValueError as exc:
        problem = str(exc).replace("decimals as strings (e.g. '12.5')",
                                   "the rate as a decimal string (e.g. '1.0850')")
        raise InvalidInput(f"{prefix}rate", rate, problem) from None
    if value <= 0:
        raise InvalidInput(f"{prefix}rate", rate, "must be more than 0")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and (-exponent > MAX_RATE_PLACES
                                      or len(plain_text(value)) > RATE_LENGTH):
        raise InvalidInput(f"{prefix}rate", rate, f"has more than {MAX_RATE_PLACES} decimal "
                           f"places or {RATE_LENGTH} characters")
    try:
        day = parse_date(since)
    except ValueError as exc:
        raise InvalidInput(f"{prefix}from", since, str(exc)) from None
    return ExchangeRate(base_unit.code, quote_unit.code, value, midnight_utc(day))


def midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _unit(code: Any, field: str) -> Any:
    unit = currency(code, field=field)
    if unit == POINTS:
        raise InvalidInput(field, code, "is not money: POINTS has no exchange rate")
    return unit


def parse_rates(entries: Any) -> tuple[ExchangeRate, ...]:
    """The ``exchange_rates`` array of a configuration file; a pair given twice from
    the same date is refused."""
    if not isinstance(entries, list):
        raise InvalidInput("exchange_rates", entries, "is not an array of tables")
    found: dict[tuple[str, str, datetime], int] = {}
    rates = []
    for index, entry in enumerate(entries):
        prefix = f"exchange_rates[{index}]."
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"exchange_rates[{index}]", entry, "is not a table")
        for key in entry:
            if key not in KEYS:
                raise InvalidInput(f"{prefix}{key}", key, "is not a key of an exchange rate "
                                   f"({', '.join(KEYS)})")
        for key in KEYS:
            if key not in entry:
                raise InvalidInput(f"{prefix}{key}", None, "is required")
        rate = exchange_rate(entry["base"], entry["quote"], entry["rate"], entry["from"],
                             prefix=prefix)
        key = (rate.base, rate.quote, rate.since)
        if key in found:
            raise InvalidInput(f"{prefix}from", entry["from"], f"repeats exchange_rates"
                               f"[{found[key]}] (the same pair from the same date)")
        found[key] = index
        rates.append(rate)
    return tuple(rates)


def rate_entry(rate: ExchangeRate) -> dict[str, str]:
    """A stored rate as the ``[[exchange_rates]]`` table that says it."""
    return {"base": rate.base, "quote": rate.quote, "rate": plain_text(rate.rate),
            "from": rate.since.date().isoformat()}


def rate_label(rate: ExchangeRate) -> str:
    """``EUR/USD from 2026-01-01``: how a plan names one rate."""
    return f"{rate.base}/{rate.quote} from {rate.since.date().isoformat()}"
