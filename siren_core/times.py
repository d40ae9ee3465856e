"""Instants: which ones the engine accepts, and their text (what the command line, the
configuration tools and, later, the HTTP API print for a point in time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from siren_core.errors import InvalidInput


def iso_utc(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with a ``Z`` (``None`` stays ``None``)."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def instant_problem(value: datetime) -> str | None:
    """Why ``value`` is not an instant the engine can work with, or ``None``: it must be
    timezone-aware and fall between years 1 and 9999 once converted to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "has no timezone (add 'Z' or an offset such as '+02:00')"
    try:
        value.astimezone(UTC)
    except OverflowError:
        return ("is out of range once converted to UTC "
                "(give an instant between years 1 and 9999 UTC)")
    return None


def check_instant(field: str, value: Any) -> datetime:
    """``value`` if it is an aware datetime the engine can work with, else
    :class:`~siren_core.errors.InvalidInput` naming ``field``."""
    if not isinstance(value, datetime):
        raise InvalidInput(field, value, "is not a date and time")
    problem = instant_problem(value)
    if problem is not None:
        raise InvalidInput(field, value.isoformat(), problem)
    return value
