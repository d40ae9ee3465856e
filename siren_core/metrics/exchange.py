"""Converting a sale's money into a distributor's units (docs/currencies.md).

When a metric's currency differs from a distributor's units and the distributor needs its
money (qualifying revenue for a revenue pool, points by ``value = "amount"``), the credit
planner asks :class:`Exchange` for the rate in force at the event's time: the installed
exchange-rate providers are asked by priority (highest first, then id) and the first
answer wins. The amount is then converted exactly and rounded half to even to the minor
unit (:func:`siren_core.money.convert`); the rate, its provider and the event's own amount
are stored beside the credits (``credit_conversion``). No provider answering refuses the
event (``InvalidInput`` naming the pair and the time). Same-currency metrics never get
here: no provider is called and no query is run for them.
"""

from __future__ import annotations

import bisect
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from siren_core.domain import RATE_LENGTH
from siren_core.errors import InvalidInput, PluginError
from siren_core.money import INT64_MAX, Currency, convert, plain_text
from siren_core.plugins import PluginRegistry
from siren_core.records import ExchangeRate, ExchangeRateProvider, RateRequest
from siren_core.store import Connection
from siren_core.store import exchange_queries as xq


@attrs.frozen
class Conversion:
    """The rate of one pair at one instant, and the provider that answered it."""

    base: Currency
    quote: Currency
    rate: Decimal
    provider: str

    def convert(self, minor: int, *, field: str) -> int:
        """``minor`` units of ``base`` in minor units of ``quote`` (half-even)."""
        converted = convert(minor, self.base, self.quote, self.rate)
        if abs(converted) > INT64_MAX:
            raise InvalidInput(field, minor, f"is {converted} {self.quote.code} minor units "
                               f"at {self.base.code}→{self.quote.code} {self.rate}, more than "
                               "the store holds")
        return converted

    def row(self, distributor_key: int, metric_type: str, amount: int) -> dict[str, Any]:
        """The ``credit_conversion`` row of an event's ``amount`` (without its event id)."""
        return {"distributor_id": distributor_key, "metric_type": metric_type,
                "base": self.base.code, "quote": self.quote.code,
                "rate": plain_text(self.rate), "provider": self.provider, "amount": amount,
                "converted": convert(amount, self.base, self.quote, self.rate)}


def providers_in_order(registry: PluginRegistry) -> list[ExchangeRateProvider]:
    """The installed providers in the order they are asked: priority, highest first,
    then id."""
    return sorted(registry.exchange_rate_providers.values(),
                  key=lambda provider: (-provider.priority, provider.id))


class Exchange:
    """The rates of one transaction: stored rates are read once per pair, and each
    question (pair and instant) is put to the providers once."""

    def __init__(self, conn: Connection, registry: PluginRegistry) -> None:
        self._conn = conn
        self._registry = registry
        self._providers = providers_in_order(registry)
        self._pairs: dict[tuple[str, str], tuple[list[datetime], list[ExchangeRate]]] = {}
        self._answers: dict[tuple[str, str, datetime], Conversion] = {}

    def stored(self, base: str, quote: str, at: datetime) -> ExchangeRate | None:
        """The stored rate of ``base`` → ``quote`` in force at ``at``, if any (the
        read-only lookup providers receive as ``RateRequest.stored``)."""
        pair = self._pairs.get((base, quote))
        if pair is None:
            rates = xq.pair_rates(self._conn, base, quote)
            pair = self._pairs[(base, quote)] = ([rate.since for rate in rates], rates)
        index = bisect.bisect_right(pair[0], at)
        return pair[1][index - 1] if index else None

    def rate(self, base: Currency, quote: Currency, at: datetime, *, field: str) -> Conversion:
        """The rate of ``base`` → ``quote`` in force at ``at``; refused (naming ``field``,
        the pair and the time) when no provider knows it."""
        key = (base.code, quote.code, at)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self._ask(base, quote, at, field)
        return found

    def _ask(self, base: Currency, quote: Currency, at: datetime, field: str) -> Conversion:
        request = RateRequest(base=base, quote=quote, at=at, stored=self.stored)
        for provider in self._providers:
            answer = self._answer(provider, request)
            if answer is not None:
                return Conversion(base, quote, answer, provider.id)
        raise InvalidInput(field, base.code,
                           f"has no exchange rate {base.code}→{quote.code} in force at "
                           f"{at.isoformat()} (set one with `siren rates set {base.code} "
                           f"{quote.code} RATE --from DATE` or [[exchange_rates]]; rates "
                           "are not inverted)")

    def _answer(self, provider: ExchangeRateProvider, request: RateRequest) -> Decimal | None:
        owner = self._registry.owner("exchange_rate_providers", provider.id)
        try:
            answer = provider.rate(request)
        except Exception as exc:
            raise PluginError(f"exchange-rate provider {provider.id!r} failed: {exc!r}",
                              plugin=owner, hook="siren_exchange_rate_providers") from exc
        if answer is None:
            return None
        if (not isinstance(answer, Decimal) or not answer.is_finite() or answer <= 0
                or len(plain_text(answer)) > RATE_LENGTH):
            raise PluginError(f"exchange-rate provider {provider.id!r} answered {answer!r} "
                              f"for {request.base.code}→{request.quote.code} (a positive "
                              f"Decimal of at most {RATE_LENGTH} characters, or None)",
                              plugin=owner, hook="siren_exchange_rate_providers")
        return answer
