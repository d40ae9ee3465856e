"""What every ``siren`` command module shares: options and the console (amounts and times
are formatted by ``siren_core.money.amount_text`` and ``siren_core.times.iso_utc``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from rich.console import Console

from siren_core.config.converter import parse_datetime
from siren_core.errors import InvalidInput
from siren_core.kernel import Kernel
from siren_core.money import INT64_MAX

DATABASE_KEY = "siren.database"
"""Where ``ctx.meta`` keeps the command's database URL (so that an error can name it)."""


def _remember_database(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta[DATABASE_KEY] = value
    return value


DATABASE_OPTION = click.option(
    "--database", envvar="SIREN_DATABASE_URL", default="sqlite:///siren.db", show_default=True,
    callback=_remember_database, help="Database URL (also SIREN_DATABASE_URL).")

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def reading(database: str) -> Kernel:
    """A kernel for a command on an existing store (nothing is created)."""
    return Kernel(database, create_schema=False)


def inspecting(database: str) -> Kernel:
    """A kernel for a read-only command (a listing, ``siren doctor``): the store must
    exist, and two plugins providing one id do not stop it (that id is left out)."""
    return Kernel(database, create_schema=False, tolerate_collisions=True)


def _zone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tzinfo:
    if value is None or value.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("--tz", value, "is not a time zone (an IANA name such as "
                           "Europe/Paris, or UTC)") from None


TZ_OPTION = click.option("--tz", "zone", default=None, metavar="ZONE", callback=_zone,
                         help="Show times in this time zone (e.g. Europe/Paris); default "
                              "UTC. JSON always carries UTC.")


def zone_name(zone: tzinfo) -> str:
    return "UTC" if zone is UTC else str(zone)


def local_text(instant: datetime, zone: tzinfo) -> str:
    """``instant`` in ``zone`` to the minute (``2026-01-31 19:00``), for tables."""
    return f"{instant.astimezone(zone):%Y-%m-%d %H:%M}"


def console() -> Console:
    return Console(highlight=False)


if TYPE_CHECKING:  # generic only in newer click (the minimum is 8.1)
    _IntParamType = click.ParamType[int]
else:
    _IntParamType = click.ParamType


class _StoreId(_IntParamType):
    """An id the store gave (a distribution, obligation, payout…): a whole number from 1 to
    the largest 64-bit integer. Anything else is refused naming the option, in one line;
    a larger number was an internal error (the database driver cannot send it)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _DIGITS.fullmatch(value) and len(value) <= 19:
            number = int(value)
        else:
            number = 0
        if not 1 <= number <= INT64_MAX:
            raise InvalidInput(_name_of(param), value,
                               f"is not an id (a whole number from 1 to {INT64_MAX})")
        return number


_DIGITS = re.compile(r"[0-9]+")


def _name_of(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return param.opts[0]
    return param.human_readable_name if param is not None else "id"


STORE_ID = _StoreId()
"""The click type of every option or argument that names a stored row by its id."""


def instant(option: str, value: str) -> datetime:
    """The instant an option gives (ISO 8601 with a timezone), or :class:`InvalidInput`
    naming the option."""
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise InvalidInput(option, value, str(exc)) from None
