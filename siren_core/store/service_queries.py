"""What ``siren serve`` (siren_core.service) reads and writes beside the kernel's own
operations: API keys and their rate-limit window, opportunities (attribution), the integer
ids collaborators are named by over HTTP, and the source events it serves as
transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.queries import KEY_MAX as KEY_MAX  # the service's routes check ids by it
from siren_core.store.queries import _inserted_key, collaborator, source_event

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
    row = conn.execute(sa.select(*_KEY_COLUMNS).where(api_key.c.prefix == prefix)).first()
    return None if row is None else _key_row(row)


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
    the requests counted in the window, this one included. One statement, so that
    concurrent processes never lose a count."""
    same = api_key.c.window_start == window_start
    statement = (api_key.update().where(api_key.c.id == key).values(
        last_used_at=now, window_start=window_start,
        window_count=sa.case((same, api_key.c.window_count + 1), else_=1))
        .returning(api_key.c.window_count))
    return int(conn.execute(statement).scalar_one())


def insert_opportunity(conn: Connection, collaborator_key: int, user_id: int | None,
                       now: datetime) -> int:
    return _inserted_key(conn.execute(opportunity.insert().values(
        collaborator_id=collaborator_key, user_id=user_id, created_at=now)))


def opportunity_collaborator(conn: Connection, opportunity_id: int) -> str | None:
    """The external id of the collaborator an opportunity attributes to, or ``None``."""
    if not 1 <= opportunity_id <= KEY_MAX:
        return None
    query = (sa.select(collaborator.c.external_id)
             .join(opportunity, opportunity.c.collaborator_id == collaborator.c.id)
             .where(opportunity.c.id == opportunity_id))
    return conn.execute(query).scalar_one_or_none()


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
