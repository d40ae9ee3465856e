"""``siren rates``: the exchange rates sales in another currency are converted at."""

from __future__ import annotations

import json

import click
from rich.table import Table

from siren_core.cli.common import DATABASE_OPTION, JSON_OPTION, console, reading
from siren_core.config.rates import rate_entry
from siren_core.kernel import Kernel


@click.group()
def rates() -> None:
    """Exchange rates: 1 BASE = RATE QUOTE from a date (UTC) until a later rate.

    A sale in another currency than a distributor's units is converted at the rate in
    force at its time (docs/currencies.md); the inverse pair is never derived.
    """


@rates.command("set")
@click.argument("base")
@click.argument("quote")
@click.argument("rate")
@click.option("--from", "since", required=True, metavar="DATE",
              help="The date (YYYY-MM-DD) the rate holds from, at 00:00 UTC.")
@DATABASE_OPTION
@JSON_OPTION
def rates_set(base: str, quote: str, rate: str, since: str, database: str,
              as_json: bool) -> None:
    """Store 1 BASE = RATE QUOTE (a decimal, e.g. 1.0850) from --from, replacing the rate
    of the pair from that date. Events already recorded keep the rate they used."""
    with Kernel(database) as kernel:
        stored = kernel.set_exchange_rate(base, quote, rate, since=since)
    entry = rate_entry(stored)
    if as_json:
        click.echo(json.dumps(entry))
        return
    click.echo(f"1 {entry['base']} = {entry['rate']} {entry['quote']} from {entry['from']}")


@rates.command("list")
@click.option("--base", default=None, help="Only the rates of this base currency.")
@click.option("--quote", default=None, help="Only the rates into this currency.")
@DATABASE_OPTION
@JSON_OPTION
def rates_list(base: str | None, quote: str | None, database: str, as_json: bool) -> None:
    """The stored rates, by pair and date."""
    with reading(database) as kernel:
        entries = [rate_entry(r) for r in kernel.exchange_rates(base=base, quote=quote)]
    if as_json:
        click.echo(json.dumps({"exchange_rates": entries}))
        return
    table = Table("base", "quote", "rate", "from (UTC)")
    for entry in entries:
        table.add_row(entry["base"], entry["quote"], entry["rate"], entry["from"])
    console().print(table)


def register(cli: click.Group) -> None:
    cli.add_command(rates)
