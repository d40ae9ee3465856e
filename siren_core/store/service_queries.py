"""What ``siren serve`` (siren_core.service) reads and writes beside the kernel's own
operations: API keys and their rate-limit window, opportunities (attribution), the integer
ids collaborators are named by over HTTP, and the source events it serves as
transactions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.queries import KEY_MAX as KEY_MAX  # the service's routes check ids by it
from siren_core.store.queries import (
    _inserted_key,
    collaborator,
    driver_rows,
    marks,
    source_event,
    store_time,
    stored_time,
)

api_key = tables.table(tables.ApiKey)
opportunity = tables.table(tables.Opportunity)


@attrs.frozen
class ApiKeyRow:
    id: int
    prefix: str
    key_hash: str
    scopes: tuple[str, ...]
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


_KEY_COLUMNS = (api_key.c.id, api_key.c.prefix, api_key.c.key_hash, api_key.c.scopes,
                api_key.c.label, api_key.c.created_at, api_key.c.expires_at,
                api_key.c.revoked_at, api_key.c.last_used_at)


def _key_row(row: Sequence[Any]) -> ApiKeyRow:
    return ApiKeyRow(row[0], row[1], row[2], tuple(row[3]), *row[4:])


def insert_api_key(conn: Connection, *, prefix: str, key_hash: str, scopes: Sequence[str],
                   label: str | None, created_at: datetime,
                   expires_at: datetime | None) -> int:
    return _inserted_key(conn.execute(api_key.insert().values(
        prefix=prefix, key_hash=key_hash, scopes=list(scopes), label=label,
        created_at=created_at, expires_at=expires_at, window_count=0)))


def api_key_by_prefix(conn: Connection, prefix: str) -> ApiKeyRow | None:
    """The key with this visible prefix (through the driver: every request asks)."""
    rows = driver_rows(conn, marks(conn, _KEY_BY_PREFIX), (prefix,))
    if not rows:
        return None
    row = rows[0]
    scopes = json.loads(row[3]) if isinstance(row[3], str) else row[3]
    return ApiKeyRow(row[0], row[1], row[2], tuple(scopes), row[4], stored_time(row[5]),
                     *(None if value is None else stored_time(value) for value in row[6:]))


_KEY_BY_PREFIX = ("SELECT id, prefix, key_hash, scopes, label, created_at, expires_at, "
                  "revoked_at, last_used_at FROM api_key WHERE prefix = ?")


def list_api_keys(conn: Connection) -> list[ApiKeyRow]:
    return [_key_row(row) for row in conn.execute(sa.select(*_KEY_COLUMNS).order_by(
        api_key.c.id))]


def revoke_api_key(conn: Connection, key: int, now: datetime) -> bool:
    """Revoke a key (a revoked key stays revoked, with its first revocation time);
    whether the key exists."""
    found = conn.execute(sa.select(api_key.c.revoked_at).where(api_key.c.id == key)).first()
    if found is None:
        return False
    if found[0] is None:
        conn.execute(api_key.update().where(api_key.c.id == key).values(revoked_at=now))
    return True


def count_request(conn: Connection, key: int, window_start: datetime, now: datetime) -> int:
    """Count one request of ``key`` in the rate-limit window starting at ``window_start``
    (a window that is not the stored one starts again at 1) and note the key's last use;
    the requests counted in the window, this one included. One statement (the ``CASE``
    reads the row's old window), so that concurrent processes never lose a count; through
    the driver (every request runs it)."""
    start = store_time(conn, window_start)
    rows = driver_rows(conn, marks(conn, _COUNT), (store_time(conn, now), start, start, key))
    return int(rows[0][0])


_COUNT = ("UPDATE api_key SET last_used_at = ?, window_count = CASE WHEN window_start = ? "
          "THEN window_count + 1 ELSE 1 END, window_start = ? WHERE id = ? "
          "RETURNING window_count")


def insert_opportunity(conn: Connection, collaborator_key: int, user_id: int | None,
                       now: datetime) -> int:
    return _inserted_key(conn.execute(opportunity.insert().values(
        collaborator_id=collaborator_key, user_id=user_id, created_at=now)))


def opportunity_collaborator(conn: Connection, opportunity_id: int) -> str | None:
    """The external id of the collaborator an opportunity attributes to, or ``None``
    (through the driver: every attributed sale asks)."""
    if not 1 <= opportunity_id <= KEY_MAX:
        return None
    rows = driver_rows(conn, marks(conn, _OPPORTUNITY_COLLABORATOR), (opportunity_id,))
    return str(rows[0][0]) if rows else None


_OPPORTUNITY_COLLABORATOR = (
    "SELECT collaborator.external_id FROM opportunity JOIN collaborator ON "
    "collaborator.id = opportunity.collaborator_id WHERE opportunity.id = ?")


def collaborator_by_api_id(conn: Connection, api_id: int) -> tuple[str, str] | None:
    """(external id, status) of the collaborator whose API id is ``api_id``."""
    if not 1 <= api_id <= KEY_MAX:
        return None
    row = conn.execute(sa.select(collaborator.c.external_id, collaborator.c.status)
                       .where(collaborator.c.id == api_id)).first()
    return None if row is None else (row[0], row[1])


def collaborator_api_ids(conn: Connection) -> dict[str, int]:
    """external id → the integer id collaborators are named by over HTTP (their store key:
    given once, never reused)."""
    return {row[0]: row[1] for row in conn.execute(
        sa.select(collaborator.c.external_id, collaborator.c.id))}


def source_event_time(conn: Connection, kind: str, key: str) -> datetime | None:
    """When an already recorded source event occurred (a retry is recorded at that time)."""
    query = sa.select(source_event.c.occurred_at).where(source_event.c.kind == kind,
                                                         source_event.c.key == key)
    return conn.execute(query).scalar_one_or_none()


@attrs.frozen
class TransactionRow:
    """A recorded source event, as ``GET /transactions`` serves it."""

    id: int
    kind: str
    key: str
    occurred_at: datetime
    recorded_at: datetime
    collaborator: str | None
    collaborator_api_id: int | None
    amount: int | None
    currency: str | None


def _transactions(kind: str | None, collaborator_key: int | None) -> sa.Select[Any]:
    query = (sa.select(source_event.c.id, source_event.c.kind, source_event.c.key,
                       source_event.c.occurred_at, source_event.c.recorded_at,
                       collaborator.c.external_id, source_event.c.collaborator_id,
                       source_event.c.amount, source_event.c.currency)
             .outerjoin(collaborator, collaborator.c.id == source_event.c.collaborator_id))
    if kind is not None:
        query = query.where(source_event.c.kind == kind)
    if collaborator_key is not None:
        query = query.where(source_event.c.collaborator_id == collaborator_key)
    return query


def transactions_page(conn: Connection, *, kind: str | None, collaborator_key: int | None,
                      limit: int, offset: int) -> tuple[list[TransactionRow], int]:
    """One page of source events, oldest first, and how many match in all."""
    if collaborator_key is not None and not 1 <= collaborator_key <= KEY_MAX:
        return [], 0
    query = _transactions(kind, collaborator_key)
    total = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(source_event.c.id).limit(limit).offset(offset))
    return [TransactionRow(*row) for row in rows], int(total)


def transaction(conn: Connection, id: int) -> TransactionRow | None:
    if not 1 <= id <= KEY_MAX:
        return None
    row = conn.execute(_transactions(None, None).where(source_event.c.id == id)).first()
    return None if row is None else TransactionRow(*row)


def ping(conn: Connection) -> None:
    """A statement the store must answer (readiness)."""
    conn.execute(sa.select(sa.literal(1))).scalar_one()
