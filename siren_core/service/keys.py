"""API keys of ``siren serve``: minted by operators (``siren keys create``), stored as a
SHA-256 beside a visible prefix, checked in constant time.

A key is ``sk_live_`` followed by 43 URL-safe characters (32 random bytes); its first 16
characters are its prefix, shown by ``siren keys list`` and in the access log. Scopes are
Siren's, each granted only by its exact name (see :data:`SCOPES`).

This module imports no web framework: the command line uses it too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

import attrs

from siren_core import store
from siren_core.domain import NAME_LENGTH, check_text
from siren_core.errors import InvalidInput, NotFound
from siren_core.kernel import Kernel
from siren_core.store import Connection
from siren_core.store import service_queries as sq
from siren_core.store.service_queries import ApiKeyRow

KEY_START = "sk_live_"
PREFIX_LENGTH = len(KEY_START) + 8
_KEY = re.compile(r"sk_live_[A-Za-z0-9_-]{43}")

LEDGER_SCOPES = ("ledger:conversions:read", "ledger:transactions:read",
                 "ledger:obligations:read", "ledger:payouts:read")
SCOPES = ("event:*", "*", *LEDGER_SCOPES, "webhook-subscriptions:read",
          "webhook-subscriptions:manage")
"""Every scope with a fixed name; ``event:{slug}`` names one event type."""
_EVENT_SCOPE = re.compile(r"event:[a-z0-9][a-z0-9_-]{0,63}")


class KeyRefused(Exception):
    """A request's key is missing, malformed, unknown, expired or revoked (HTTP 401)."""


@attrs.frozen
class MintedKey:
    """A new key: ``raw`` is shown once and never stored."""

    raw: str
    key: ApiKeyRow


def key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, each an exact name of :data:`SCOPES` or ``event:{slug}``; old names
    (``conversions:read``) and wildcards (``ledger:*``) are refused naming the value."""
    found: list[str] = []
    for scope in scopes:
        if scope not in SCOPES and not _EVENT_SCOPE.fullmatch(scope):
            raise InvalidInput("scope", scope, f"is not a scope (one of {', '.join(SCOPES)}, "
                               "or event:<slug>)")
        if scope not in found:
            found.append(scope)
    if not found:
        raise InvalidInput("scope", "", "is required: give at least one scope")
    return tuple(found)


def create_key(kernel: Kernel, scopes: Iterable[str], *, label: str | None = None,
               expires_at: datetime | None = None) -> MintedKey:
    checked = check_scopes(scopes)
    if label is not None:
        label = check_text("label", label, NAME_LENGTH)
    now = kernel.clock()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires", expires_at.isoformat(), "is not in the future")
    raw = KEY_START + secrets.token_urlsafe(32)
    with store.unit_of_work(kernel.engine) as conn:
        key = sq.insert_api_key(conn, prefix=raw[:PREFIX_LENGTH], key_hash=key_hash(raw),
                                scopes=checked, label=label, created_at=now,
                                expires_at=expires_at)
        row = sq.api_key_by_prefix(conn, raw[:PREFIX_LENGTH])
    assert row is not None and row.id == key
    return MintedKey(raw, row)


def list_keys(kernel: Kernel) -> list[ApiKeyRow]:
    with store.unit_of_work(kernel.engine, write=False) as conn:
        return sq.list_api_keys(conn)


def revoke_key(kernel: Kernel, key: int) -> None:
    with store.unit_of_work(kernel.engine) as conn:
        if not sq.revoke_api_key(conn, key, kernel.clock()):
            raise NotFound("api key", key)


def key_status(key: ApiKeyRow, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def admit(kernel: Kernel, raw: str | None) -> ApiKeyRow:
    """The active key ``raw`` is, or :class:`KeyRefused` saying why (never the key)."""
    check_form(raw)
    with store.unit_of_work(kernel.engine, write=False) as conn:
        return admit_in(conn, raw, kernel.clock())


def check_form(raw: str | None) -> str:
    """``raw`` if it has a key's form (checked before the store is asked), else
    :class:`KeyRefused`."""
    if not raw:
        raise KeyRefused("an API key is required (Authorization: Bearer sk_live_…)")
    if not _KEY.fullmatch(raw):
        raise KeyRefused("the API key is not valid")
    return raw


def admit_in(conn: Connection, raw: str | None, now: datetime) -> ApiKeyRow:
    """:func:`admit` in ``conn``'s transaction (it only reads)."""
    raw = check_form(raw)
    key = sq.api_key_by_prefix(conn, raw[:PREFIX_LENGTH])
    # compared even when no key has the prefix, so that timing tells nothing
    stored = key.key_hash if key is not None else _NO_KEY
    if not hmac.compare_digest(key_hash(raw), stored) or key is None:
        raise KeyRefused("the API key is not valid")
    status = key_status(key, now)
    if status != "active":
        raise KeyRefused(f"the API key is {status}")
    return key


_NO_KEY = key_hash(KEY_START + "0" * 43)
