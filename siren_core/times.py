"""Instants as text: what the command line, the configuration tools and (later) the HTTP
API print for a point in time."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with a ``Z`` (``None`` stays ``None``)."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
