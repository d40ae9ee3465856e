"""The transactional outbox: the events a transaction produces, written in that same
transaction for the webhook subscriptions that want them (see docs/webhooks.md).

The kernel knows nothing of HTTP. Every operation that commits a change calls
:func:`record` once, inside its transaction, with the events it will dispatch after the
commit; the change and its outbox rows then commit together or not at all, and a worker
(``siren_core.webhooks``) delivers the rows later. :func:`record` first reads the active
subscriptions (one indexed query, once per transaction; see
:func:`~siren_core.store.webhook_queries.active_subscriptions`): with none, nothing else
happens and the events are not even built (pass a callable to build them lazily).

Each event becomes one message: its webhook name (Siren's, where Siren has one, such as
``obligation.created``; otherwise siren-core's own event id, such as
``collaborator_group_created``) and a JSON payload -- the event's fields in camelCase,
times in ISO 8601 UTC, money in integer minor units. :data:`CATALOG` lists them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import attrs

from siren_core import events as ev
from siren_core.store import Connection
from siren_core.store import webhook_queries as wq

ALL = "*"


@attrs.frozen
class Message:
    """One event to deliver: its webhook ``name`` and JSON ``payload``."""

    name: str
    payload: Mapping[str, Any]


Item = ev.Event | Message
Items = Iterable[Item] | Callable[[], Iterable[Item]]

_SIREN_NAMES: dict[type[ev.Event], str] = {
    ev.DistributionCompleted: "distribution.completed",
    ev.AllocationCompleted: "allocation.completed",
    ev.ObligationIssued: "obligation.created",
    ev.ObligationCompleted: "obligation.completed",
    ev.FulfillmentCreated: "fulfillment.created",
    ev.FulfillmentStatusChanged: "fulfillment.updated",
    ev.PayoutCreated: "payout.created",
    ev.PayoutPaid: "payout.paid",
    ev.MetricsTriggered: "metrics.updated",
    ev.CollaboratorCreated: "collaborator.created",
    ev.CollaboratorUpdated: "collaborator.updated",
}
_NOT_DELIVERED: tuple[type[ev.Event], ...] = (
    ev.DistributionHeartbeatInitialized,  # not a committed fact
    ev.ManualMetricRequested,  # a request, fired before anything is written
)
_DEACTIVATED = frozenset({"inactive", "deleted"})

SIREN_EVENTS: dict[str, str] = {
    "metrics.updated": "a source event credited metrics (MetricsTriggered)",
    "distribution.completed": "a period was distributed and committed",
    "allocation.completed": "one allocation of a committed distribution",
    "obligation.created": "an obligation was issued",
    "obligation.completed": "an obligation was settled by a paid payout",
    "fulfillment.created": "a batch of payouts was generated",
    "fulfillment.updated": "a fulfillment changed status",
    "payout.created": "one payout of a new fulfillment",
    "payout.paid": "a payout was marked paid",
    "refund.created": "a refund was recorded (siren serve)",
    "sale.created": "a sale was recorded (siren serve)",
    "transaction.created": "a source event was recorded (siren serve)",
    "opportunity.created": "a site visit opened an opportunity (siren serve)",
    "collaborator.created": "a collaborator was created",
    "collaborator.updated": "a collaborator's name, email or status changed",
    "collaborator.deactivated": "a collaborator became inactive or was deleted",
}
"""The Siren event names siren-core delivers."""


OWN_EVENTS: dict[str, str] = {
    "obligation_status_changed": "an obligation was approved, rejected, cancelled or put "
                                 "back to pending",
    "payout_failed": "a payout failed; its obligations are approved again",
    "collaborator_group_created": "a collaborator group was created",
    "collaborator_group_renamed": "a group's name changed",
    "collaborator_group_structure_changed": "a group's structure changed",
    "collaborator_group_deleted": "a group was deleted",
    "collaborator_added_to_collaborator_group": "a collaborator joined a group",
    "collaborator_removed_from_collaborator_group": "a collaborator left a group",
    "collaborator_group_member_metadata_changed": "a member's metadata changed",
    "distributor_bound_to_collaborator_group": "a distributor was bound to a group",
    "distributor_unbound_from_collaborator_group": "a distributor's binding was cleared",
    "program_bound_to_collaborator_group": "a program was bound to a group",
    "program_unbound_from_collaborator_group": "a program's binding was cleared",
    "exchange_rate_set": "an exchange rate was stored (siren rates set, siren apply)",
    "distributor_created": "a distributor was created",
    "distributor_updated": "a distributor's configuration or status changed",
    "distributor_deleted": "a distributor was deleted",
}
"""siren-core's own events, delivered under their event ids."""

CATALOG: dict[str, str] = {**SIREN_EVENTS, **OWN_EVENTS}
"""Every name a subscription can receive, with what it reports (``GET /webhooks/events``)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def plain(value: Any) -> Any:
    """``value`` as JSON values: attrs classes as camelCase objects, times as ISO 8601 UTC
    text, decimals as text, enums by value, sequences as arrays."""
    if attrs.has(type(value)):
        return {_camel(field.name): plain(getattr(value, field.name))
                for field in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def message(item: Item) -> Message | None:
    """The message an event is delivered as (``None``: not delivered)."""
    if isinstance(item, Message):
        return item
    if isinstance(item, _NOT_DELIVERED):
        return None
    name = _SIREN_NAMES.get(type(item))
    if name is None and isinstance(item, ev.CollaboratorStatusChanged):
        name = ("collaborator.deactivated" if item.new_status in _DEACTIVATED
                else "collaborator.updated")
    return Message(name or item.event_id, plain(item))


def record(conn: Connection, items: Items, *, any_subscription: bool = True) -> int:
    """Write the messages of ``items`` that an active subscription wants, in ``conn``'s
    transaction; how many were written. Call it once per transaction.
    ``any_subscription=False``: the caller knows, from this transaction, that none is
    active (they are then not read)."""
    if not any_subscription:
        wq.none_active(conn)
        return 0
    subscriptions = wq.active_subscriptions(conn)
    if not subscriptions:
        return 0
    now = datetime.now(UTC)  # delivery runs on the wall clock, not the kernel's
    written = 0
    for item in items() if callable(items) else items:
        found = message(item)
        if found is None:
            continue
        wanted = [key for key, names in subscriptions if found.name in names or ALL in names]
        if not wanted:
            continue
        if not written:
            wq.lock_outbox(conn)
        wq.insert_event(conn, delivery_id=new_delivery_id(), name=found.name,
                        body=body(found.payload), subscription_ids=wanted, now=now)
        written += 1
    return written


def body(payload: Mapping[str, Any]) -> str:
    """The exact text POSTed (and signed): compact JSON, keys in their order."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def new_delivery_id() -> str:
    """``evt_`` and 24 random hex digits: the ``X-Siren-Delivery`` of every attempt."""
    return f"evt_{secrets.token_hex(12)}"
