"""What every ``siren`` command module shares: options and the console (amounts and times
are formatted by ``siren_core.money.amount_text`` and ``siren_core.times.iso_utc``)."""

from __future__ import annotations

import click
from rich.console import Console

DATABASE_OPTION = click.option(
    "--database", envvar="SIREN_DATABASE_URL", default="sqlite:///siren.db", show_default=True,
    help="Database URL (also SIREN_DATABASE_URL).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def console() -> Console:
    return Console(highlight=False)
