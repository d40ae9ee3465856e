"""The ``exchange_rates`` provider: the rates kept in the store.

Rates come from the configuration file's ``[[exchange_rates]]`` array (``siren apply``)
and from ``siren rates set`` / ``kernel.set_exchange_rate``; each holds from 00:00 UTC of
its ``from`` date until a later rate of the same pair. The provider answers with the
stored rate of the pair in force at the sale's time, through the read-only lookup the
kernel hands it (``RateRequest.stored``), and with nothing for a pair it does not hold:
the inverse pair is never derived (``1 / rate`` would need a rounding nobody agreed to).

Its priority is 100, above the default 0: an operator's explicit rates win over a rate
feed installed beside them (see ``siren_exchange_rate_providers``).
"""

from __future__ import annotations

from decimal import Decimal

from siren_core import hookimpl
from siren_core.records import ExchangeRateProvider, RateRequest

PRIORITY = 100


def stored_rate(request: RateRequest) -> Decimal | None:
    """The store's rate of the pair in force at the request's instant, if any."""
    found = request.stored(request.base.code, request.quote.code, request.at)
    return None if found is None else found.rate


@hookimpl
def siren_exchange_rate_providers() -> list[ExchangeRateProvider]:
    return [ExchangeRateProvider(
        id="exchange_rates", description="Rates of [[exchange_rates]] and `siren rates set`, "
        "each from its date (UTC) until a later one", rate=stored_rate, priority=PRIORITY)]
