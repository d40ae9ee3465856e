"""What every ``siren`` command module shares: options, the console, formatting."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.console import Console

from siren_core.money import currency, format_minor

DATABASE_OPTION = click.option(
    "--database", envvar="SIREN_DATABASE_URL", default="sqlite:///siren.db", show_default=True,
    help="Database URL (also SIREN_DATABASE_URL).")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def console() -> Console:
    return Console(highlight=False)


def amount_text(amount: int | None, units: str) -> str | None:
    """``12345, "USD"`` → ``"123.45"`` (``None`` stays ``None``)."""
    return None if amount is None else format_minor(amount, currency(units))


def iso_utc(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with a ``Z``."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
