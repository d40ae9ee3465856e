"""Webhooks in the store: subscriptions, the outbox (``webhook_event``), deliveries and
their attempts (see docs/webhooks.md).

Claiming a delivery keeps each subscription's order: only the *head* of a subscription
(its pending delivery of the lowest event id) is ever claimed, and only while no worker
holds it. On PostgreSQL the claim locks the subscription row (``FOR NO KEY UPDATE SKIP
LOCKED``, which does not block the outbox's inserts), so two workers never claim for one
subscription at once and several workers divide the subscriptions between them; on SQLite
the write transaction (``BEGIN IMMEDIATE``) serializes the claims.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.engine import current_transaction, is_sqlite
from siren_core.store.queries import _inserted_key, driver_rows

subscription = tables.table(tables.WebhookSubscription)
event = tables.table(tables.WebhookEvent)
delivery = tables.table(tables.WebhookDelivery)
attempt = tables.table(tables.WebhookAttempt)

OUTBOX_LOCK = 0x5152_454E_0001
"""The PostgreSQL advisory lock every outbox writer takes (until its commit), so that
event ids ascend in commit order."""
_CANDIDATES = 32


@attrs.frozen
class SubscriptionRow:
    id: int
    target_url: str
    events: tuple[str, ...]
    description: str | None
    status: str
    created_at: datetime


@attrs.frozen
class Claim:
    """A delivery a worker holds until ``leased_until``: what to POST, where, signed how."""

    id: int
    subscription_id: int
    event_id: int
    delivery_id: str
    name: str
    body: str
    target_url: str
    secret: str
    attempts: int


@attrs.frozen
class DeliveryRow:
    id: int
    subscription_id: int
    event_id: int
    delivery_id: str
    name: str
    status: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime


@attrs.frozen
class AttemptRow:
    delivery_id: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


# -- subscriptions -------------------------------------------------------------------------

_SUBSCRIPTION_COLUMNS = (subscription.c.id, subscription.c.target_url, subscription.c.events,
                         subscription.c.description, subscription.c.status,
                         subscription.c.created_at)


def _subscription_row(row: Sequence[Any]) -> SubscriptionRow:
    return SubscriptionRow(row[0], row[1], tuple(row[2]), row[3], row[4], row[5])


def insert_subscription(conn: Connection, *, target_url: str, events: Sequence[str],
                        description: str | None, secret: str, now: datetime) -> int:
    conn.info.pop(_ACTIVE_READ, None)
    return _inserted_key(conn.execute(subscription.insert().values(
        target_url=target_url, events=list(events), description=description, secret=secret,
        status="active", created_at=now)))


def subscriptions(conn: Connection, *, number: int, offset: int
                  ) -> tuple[list[SubscriptionRow], int]:
    """A page of the subscriptions not deleted, oldest first, and how many there are."""
    alive = subscription.c.status != "deleted"
    rows = conn.execute(sa.select(*_SUBSCRIPTION_COLUMNS).where(alive)
                        .order_by(subscription.c.id).limit(number).offset(offset)).all()
    total = conn.execute(sa.select(sa.func.count()).select_from(subscription)
                         .where(alive)).scalar_one()
    return [_subscription_row(row) for row in rows], int(total)


def find_subscription(conn: Connection, subscription_id: int) -> SubscriptionRow | None:
    row = conn.execute(sa.select(*_SUBSCRIPTION_COLUMNS).where(
        subscription.c.id == subscription_id, subscription.c.status != "deleted")).first()
    return None if row is None else _subscription_row(row)


def delete_subscription(conn: Connection, subscription_id: int) -> bool:
    """Mark it deleted (its deliveries stay readable; pending ones are never claimed)."""
    conn.info.pop(_ACTIVE_READ, None)
    return conn.execute(subscription.update().where(
        subscription.c.id == subscription_id, subscription.c.status != "deleted"
    ).values(status="deleted")).rowcount == 1


def active_subscriptions(conn: Connection) -> list[tuple[int, tuple[str, ...]]]:
    """(id, event names) of every active subscription: the outbox's one check.

    Read once per transaction (a sale through ``siren serve`` asks twice: the kernel's
    recording and the service's own messages), through the driver; every transaction
    reads again, so that a subscription another process made or deleted counts from the
    next transaction on. Writing a subscription forgets what this transaction read."""
    transaction = current_transaction(conn)
    read = conn.info.get(_ACTIVE_READ)
    if read is not None and read[0] is transaction:
        found: list[tuple[int, tuple[str, ...]]] = read[1]
        return found
    found = [(int(row[0]), tuple(json.loads(row[1]) if isinstance(row[1], str) else row[1]))
             for row in driver_rows(conn, _ACTIVE, ())]
    # the transaction itself is kept (not its id): a later one cannot be mistaken for it
    conn.info[_ACTIVE_READ] = (transaction, found)
    return found


def none_active(conn: Connection) -> None:
    """Note that this transaction found no active subscription (a recording's prelude
    read it), so that :func:`active_subscriptions` does not ask again in it (a sale
    through ``siren serve`` asks for the service's own messages too)."""
    conn.info[_ACTIVE_READ] = (current_transaction(conn), [])


_ACTIVE = "SELECT id, events FROM webhook_subscription WHERE status = 'active'"
_ACTIVE_READ = "siren_active_subscriptions"
"""The key, in the connection's ``info``, of (transaction, its active subscriptions)."""


# -- the outbox ----------------------------------------------------------------------------

def lock_outbox(conn: Connection) -> None:
    """Hold the outbox until this transaction ends (PostgreSQL; SQLite's writers are
    serialized already): ids given after this ascend in commit order."""
    if not is_sqlite(conn):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(OUTBOX_LOCK)))


def insert_event(conn: Connection, *, delivery_id: str, name: str, body: str,
                 subscription_ids: Sequence[int], now: datetime) -> int:
    """One outbox row and a pending delivery of it for each subscription."""
    key = _inserted_key(conn.execute(event.insert().values(
        delivery_id=delivery_id, name=name, body=body, created_at=now)))
    conn.execute(delivery.insert(), [
        {"subscription_id": sid, "event_id": key, "status": "pending", "attempts": 0,
         "next_attempt_at": now} for sid in subscription_ids])
    return key


# -- claims and outcomes -------------------------------------------------------------------

def _head(conn: Connection, subscription_id: int) -> Sequence[Any] | None:
    return conn.execute(
        sa.select(delivery.c.id, delivery.c.next_attempt_at, delivery.c.leased_until)
        .where(delivery.c.subscription_id == subscription_id, delivery.c.status == "pending")
        .order_by(delivery.c.event_id).limit(1)).first()


def _lock_subscription(conn: Connection, subscription_id: int) -> bool:
    query = sa.select(subscription.c.id).where(subscription.c.id == subscription_id,
                                               subscription.c.status == "active")
    if not is_sqlite(conn):
        query = query.with_for_update(skip_locked=True, key_share=True)
    return conn.execute(query).first() is not None


def claim(conn: Connection, now: datetime, leased_until: datetime) -> Claim | None:
    """Lease the head delivery of one subscription that is due and free, if any."""
    free = sa.or_(delivery.c.leased_until.is_(None), delivery.c.leased_until <= now)
    head_id = (sa.select(delivery.c.id)
            .where(delivery.c.subscription_id == subscription.c.id,
                   delivery.c.status == "pending")
            .order_by(delivery.c.event_id).limit(1).correlate(subscription)
            .scalar_subquery())
    candidates = conn.execute(  # the heads only: a backlog behind one never hides another
        sa.select(delivery.c.id, delivery.c.subscription_id)
        .select_from(subscription.join(delivery, delivery.c.id == head_id))
        .where(subscription.c.status == "active", delivery.c.next_attempt_at <= now, free)
        .order_by(delivery.c.event_id).limit(_CANDIDATES)).all()
    tried: set[int] = set()
    for delivery_key, subscription_id in candidates:
        if subscription_id in tried:
            continue
        tried.add(subscription_id)
        if not _lock_subscription(conn, subscription_id):
            continue  # another worker is claiming for it, or it was deleted
        head = _head(conn, subscription_id)
        if (head is None or head[0] != delivery_key or head[1] > now
                or (head[2] is not None and head[2] > now)):
            continue  # an earlier event waits (its backoff) or a worker holds this one
        conn.execute(delivery.update().where(delivery.c.id == delivery_key)
                     .values(leased_until=leased_until))
        return _claimed(conn, delivery_key)
    return None


def _claimed(conn: Connection, delivery_key: int) -> Claim:
    row = conn.execute(
        sa.select(delivery.c.id, delivery.c.subscription_id, delivery.c.event_id,
                  event.c.delivery_id, event.c.name, event.c.body, subscription.c.target_url,
                  subscription.c.secret, delivery.c.attempts)
        .join(event, event.c.id == delivery.c.event_id)
        .join(subscription, subscription.c.id == delivery.c.subscription_id)
        .where(delivery.c.id == delivery_key)).one()
    return Claim(*row)


def record_attempt(conn: Connection, delivery_key: int, *, at: datetime,
                   status_code: int | None, error: str | None, duration_ms: int,
                   outcome: str, next_attempt_at: datetime) -> None:
    """Note one POST and its outcome: ``delivered``, ``failed`` (dead) or ``pending`` (to
    be tried again at ``next_attempt_at``); the lease ends."""
    conn.execute(attempt.insert().values(
        delivery_id=delivery_key, at=at, status_code=status_code,
        error=None if error is None else error[:tables.LAST_ERROR_LENGTH],
        duration_ms=duration_ms))
    conn.execute(delivery.update().where(delivery.c.id == delivery_key).values(
        status=outcome, attempts=delivery.c.attempts + 1, leased_until=None,
        next_attempt_at=next_attempt_at,
        delivered_at=at if outcome == "delivered" else None))


def resend(conn: Connection, delivery_key: int, now: datetime) -> bool:
    """Make a delivered or failed delivery pending again, due now (same delivery id)."""
    return conn.execute(delivery.update().where(
        delivery.c.id == delivery_key, delivery.c.status != "pending").values(
        status="pending", attempts=0, next_attempt_at=now, leased_until=None,
        delivered_at=None)).rowcount == 1


# -- reading deliveries --------------------------------------------------------------------

_DELIVERY_COLUMNS = (delivery.c.id, delivery.c.subscription_id, delivery.c.event_id,
                     event.c.delivery_id, event.c.name, delivery.c.status, delivery.c.attempts,
                     delivery.c.next_attempt_at, delivery.c.delivered_at, event.c.created_at)


def deliveries(conn: Connection, *, subscription_id: int | None = None,
               status: str | None = None, number: int = 200, offset: int = 0
               ) -> list[DeliveryRow]:
    """Deliveries in commit order, optionally of one subscription or in one status."""
    query = sa.select(*_DELIVERY_COLUMNS).join(event, event.c.id == delivery.c.event_id)
    if subscription_id is not None:
        query = query.where(delivery.c.subscription_id == subscription_id)
    if status is not None:
        query = query.where(delivery.c.status == status)
    rows = conn.execute(query.order_by(delivery.c.event_id, delivery.c.subscription_id)
                        .limit(number).offset(offset)).all()
    return [DeliveryRow(*tuple(row)) for row in rows]


def attempts(conn: Connection, delivery_keys: Sequence[int]) -> dict[int, list[AttemptRow]]:
    """The attempts of each delivery, oldest first."""
    found: dict[int, list[AttemptRow]] = {key: [] for key in delivery_keys}
    if not delivery_keys:
        return found
    rows = conn.execute(sa.select(attempt.c.delivery_id, attempt.c.at, attempt.c.status_code,
                                  attempt.c.error, attempt.c.duration_ms)
                        .where(attempt.c.delivery_id.in_(list(delivery_keys)))
                        .order_by(attempt.c.id)).all()
    for row in rows:
        found[row[0]].append(AttemptRow(*row))
    return found
