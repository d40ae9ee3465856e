"""Subscriptions and their deliveries: what ``/webhooks`` and ``siren webhooks`` do.

A new subscription's signing secret is returned once, by :func:`create`; it is stored
(to sign with) and never read out again. Any event name is accepted (Siren's contract: a
misspelt one never fires); ``*`` subscribes to everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from siren_core import outbox
from siren_core.domain import check_text
from siren_core.errors import InvalidInput, NotFound
from siren_core.store import Engine, unit_of_work
from siren_core.store import webhook_queries as wq
from siren_core.store.webhook_queries import AttemptRow, DeliveryRow, SubscriptionRow
from siren_core.times import iso_utc
from siren_core.webhooks import signing, targets

MAX_EVENTS = 100
NAME_LENGTH = 128
DESCRIPTION_LENGTH = 1000
TEST_EVENT = "webhook.test"


@attrs.frozen
class Created:
    subscription: wq.SubscriptionRow
    secret: str


def _events(events: Sequence[str]) -> list[str]:
    if isinstance(events, str) or not isinstance(events, Sequence) or not events:
        raise InvalidInput("events", events, "must be a non-empty list of event names")
    if len(events) > MAX_EVENTS:
        raise InvalidInput("events", len(events), f"may hold at most {MAX_EVENTS} names")
    names: list[str] = []
    for index, name in enumerate(events):
        check_text(f"events[{index}]", name, NAME_LENGTH, required=True)
        if name not in names:
            names.append(name)
    return names


def create(engine: Engine, target_url: str, events: Sequence[str],
           description: str | None = None, *, allow_private: bool | None = None) -> Created:
    """A new subscription, its target checked (``InvalidInput`` on ``targetUrl``)."""
    names = _events(events)
    if description is not None:
        check_text("description", description, DESCRIPTION_LENGTH)
    targets.check(check_text("targetUrl", target_url, targets.URL_LENGTH, required=True),
                  allow_private=allow_private)
    secret = signing.new_secret()
    with unit_of_work(engine) as conn:
        key = wq.insert_subscription(conn, target_url=target_url, events=names,
                                     description=description, secret=secret,
                                     now=datetime.now(UTC))
        found = wq.find_subscription(conn, key)
    assert found is not None
    return Created(found, secret)


def page(engine: Engine, *, number: int = 200, offset: int = 0
         ) -> tuple[list[wq.SubscriptionRow], int]:
    with unit_of_work(engine, write=False) as conn:
        return wq.subscriptions(conn, number=number, offset=offset)


def get(engine: Engine, subscription_id: int) -> wq.SubscriptionRow:
    with unit_of_work(engine, write=False) as conn:
        found = wq.find_subscription(conn, subscription_id)
    if found is None:
        raise NotFound("webhook subscription", subscription_id)
    return found


def delete(engine: Engine, subscription_id: int) -> None:
    """Stop delivering to it (its pending deliveries are never sent)."""
    with unit_of_work(engine) as conn:
        if not wq.delete_subscription(conn, subscription_id):
            raise NotFound("webhook subscription", subscription_id)


def send_test(engine: Engine, subscription_id: int) -> str:
    """Queue a ``webhook.test`` event for this subscription only; its delivery id."""
    delivery_id = outbox.new_delivery_id()
    with unit_of_work(engine) as conn:
        if wq.find_subscription(conn, subscription_id) is None:
            raise NotFound("webhook subscription", subscription_id)
        wq.lock_outbox(conn)
        wq.insert_event(conn, delivery_id=delivery_id, name=TEST_EVENT,
                        body=outbox.body({"test": True, "subscriptionId": subscription_id}),
                        subscription_ids=[subscription_id], now=datetime.now(UTC))
    return delivery_id


def deliveries(engine: Engine, *, subscription_id: int | None = None,
               status: str | None = None, number: int = 200, offset: int = 0
               ) -> list[tuple[wq.DeliveryRow, list[wq.AttemptRow]]]:
    """Deliveries (commit order) with their attempts."""
    if subscription_id is not None:
        get(engine, subscription_id)
    with unit_of_work(engine, write=False) as conn:
        rows = wq.deliveries(conn, subscription_id=subscription_id, status=status,
                             number=number, offset=offset)
        tried = wq.attempts(conn, [row.id for row in rows])
    return [(row, tried[row.id]) for row in rows]


def resend(engine: Engine, delivery_key: int) -> None:
    """Make a delivered or failed (dead) delivery pending again, due now, with the same
    delivery id."""
    with unit_of_work(engine) as conn:
        if not wq.resend(conn, delivery_key, datetime.now(UTC)):
            raise NotFound("delivered or failed webhook delivery", delivery_key)


# -- the JSON shapes (Siren's camelCase) of the API and the CLI's --json ------------------

def subscription_json(row: SubscriptionRow) -> dict[str, Any]:
    """A subscription in Siren's shape (no secret: it is shown only on creation)."""
    return {"id": row.id, "targetUrl": row.target_url, "events": list(row.events),
            "description": row.description, "status": row.status,
            "dateCreated": iso_utc(row.created_at), "propertyId": None}


def delivery_json(row: DeliveryRow, attempts: list[AttemptRow]) -> dict[str, Any]:
    return {"id": row.id, "subscriptionId": row.subscription_id, "deliveryId": row.delivery_id,
            "event": row.name, "status": row.status, "attempts": row.attempts,
            "nextAttemptAt": iso_utc(row.next_attempt_at) if row.status == "pending" else None,
            "deliveredAt": iso_utc(row.delivered_at), "dateCreated": iso_utc(row.created_at),
            "tries": [{"at": iso_utc(a.at), "statusCode": a.status_code, "error": a.error,
                       "durationMs": a.duration_ms} for a in attempts]}
