"""Events in: Siren's sale, refund, site visit and custom events, recorded through the
kernel. Every event is idempotent under the SDK's retries: its idempotency key is
derived from the request (a sale's ``(source, externalId)``), and a retry is recorded at
the time of the first recording, so that it repeats the same content (``duplicate``)
while other content under the same key is a conflict (409).

Attribution: a site visit opens an *opportunity* for its collaborator; a sale's
``trackingId`` names one. A sale whose ``trackingId`` names none is recorded with no
collaborator (``unattributed``): it credits no one and still counts as revenue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import attrs

from siren_core import outbox, store
from siren_core.domain import NAME_LENGTH, RecordResult, check_identifier, check_text
from siren_core.errors import Conflict, NotFound
from siren_core.events import deferred_events
from siren_core.kernel import Kernel
from siren_core.outbox import Message
from siren_core.service.models import RefundEvent, SaleEvent, SaleItem, SiteVisitedEvent
from siren_core.store import Connection, queries
from siren_core.store import service_queries as sq

REFUND = "refund"
T = TypeVar("T")


@attrs.frozen
class Answer:
    """A route's answer body and the opportunity (``X-Siren-OID``) it names, if any."""

    body: dict[str, Any]
    opportunity: int | None = None


def sale_key(source: str, external_id: str | int, kind: str = "sale") -> str:
    """The source event key of a sale (and of its refund, ``kind``): ``source`` quoted
    (no ``:`` left), ``:``, the external id as text; one key per ``(source, externalId)``.
    Both are checked as the store keeps text (no NUL, no lone surrogate) before the key
    is looked up anywhere."""
    check_text("source", source, NAME_LENGTH, required=True)
    return check_identifier(f"{kind}.id", f"{quote(source, safe='')}:{external_id}")


def split_key(key: str) -> tuple[str | None, str]:
    """``(source, externalId)`` of a key :func:`sale_key` made (other keys: no source)."""
    source, colon, external = key.partition(":")
    return (unquote(source), external) if colon else (None, key)


Count = Callable[[Connection], None]
"""Counts the request against its key's rate limit in the event's transaction, raising
when it is over (``Admission.count``)."""
Gate = Callable[[Connection], Count]
"""Admits the request in the event's transaction, before anything else is read or
written, raising as the route refuses it (a key, a scope, a body); gives its count."""


def in_one_transaction(kernel: Kernel, gate: Gate, work: Callable[[Connection], T]) -> T:
    """``gate(conn)``, ``work(conn)``, then the request's count, as one transaction (the
    kernel's operations inside join it): a refused request, or one over its rate limit,
    records nothing, and the key's row is locked (PostgreSQL) only from the count to the
    commit, so that concurrent events of one key do not wait for each other's recording."""
    # kernel.transaction() without its savepoint: the connection itself
    with deferred_events(), store.enclosing_transaction(kernel.engine) as conn:
        count = gate(conn)
        answer = work(conn)
        count(conn)
        return answer


def record_once(conn: Connection, kernel: Kernel, kind: str, key: str,
                event: Callable[[datetime], Mapping[str, Any]]) -> tuple[RecordResult, int]:
    """Record ``event(at)`` as ``(kind, key)`` at the time of its first recording (now,
    the first time); the result and the source event's store id.

    Tried at now first: a key recorded before is then a conflict (its time differs),
    raised before the kernel writes anything and undone with the kernel's savepoint; only
    then is the first time read, and the event recorded again at it (a retry: a
    duplicate; other content: the conflict stays). A concurrent first recording of the
    key that commits first is read the same way (on PostgreSQL the kernel's insert-once
    waits for it)."""
    try:
        result = kernel.record(kind, event(kernel.clock()))
    except Conflict:
        first = sq.source_event_time(conn, kind, key)
        if first is None:
            raise
        result = kernel.record(kind, event(first))
    if result.source_event_id is None:
        raise AssertionError(f"recording {kind} {key!r} gave no source event id")
    return result, result.source_event_id


def _transaction_created(transaction: int, kind: str, source: str | None,
                         external_id: str | int) -> Message:
    """``transaction.created``: a source event was recorded (``GET /transactions/{id}``)."""
    return Message("transaction.created", {"transactionId": transaction, "type": kind,
                                           "source": source, "externalId": external_id})


def _reason(result: RecordResult) -> str | None:
    reasons = sorted({skip.reason for skip in result.skipped})
    return ", ".join(reasons) or None


def _lines(items: list[SaleItem]) -> list[dict[str, Any]]:
    lines = []
    for item in items:
        line: dict[str, Any] = {"kind": "product", "amount": str(item.amount * item.quantity)}
        if item.externalId is not None:
            line["sku"] = str(item.externalId)
        lines.append(line)
    return lines


def _plain(amount: Decimal) -> str:
    return format(amount, "f")


def _sale_event(sale: SaleEvent, key: str, collaborator: str | None,
                default_currency: str, at: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {"id": key, "at": at, "amount": _plain(sale.total),
                            "currency": sale.currency or default_currency}
    if collaborator is not None:
        body["collaborator"] = collaborator
    if sale.items:
        body["lines"] = _lines(sale.items)
    return body


def record_sale(kernel: Kernel, gate: Gate, sale: SaleEvent,
                default_currency: str) -> Answer:
    def work(conn: Connection) -> Answer:
        key = sale_key(sale.source, sale.externalId)
        collaborator = None if sale.trackingId is None else sq.opportunity_collaborator(
            conn, sale.trackingId)
        result, transaction = record_once(conn, kernel, "sale", key, lambda at: _sale_event(
            sale, key, collaborator, default_currency, at))
        if not result.duplicate:
            outbox.record(conn, [
                Message("sale.created", {
                    "transactionId": transaction, "source": sale.source,
                    "externalId": sale.externalId, "total": _plain(sale.total),
                    "currency": sale.currency or default_currency,
                    "trackingId": sale.trackingId if collaborator is not None else None,
                    "collaboratorExternalId": collaborator}),
                _transaction_created(transaction, "sale", sale.source, sale.externalId)])
        status, message = _sale_status(result, collaborator)
        body = {"status": status, "created": not result.duplicate,
                "transactionId": transaction, "conversions": [], "message": message}
        if status in ("recorded", "unattributed") and (reason := _reason(result) or (
                "no_opportunity" if collaborator is None else None)):
            body["reason"] = reason
        return Answer(body, sale.trackingId if collaborator is not None else None)

    return in_one_transaction(kernel, gate, work)


def _sale_status(result: RecordResult, collaborator: str | None) -> tuple[str, str]:
    if result.duplicate:
        return "duplicate", "this sale was recorded before; nothing new was recorded"
    if collaborator is None:
        return "unattributed", ("the sale was recorded without a collaborator: it counts "
                                "as revenue and credits no one")
    if result.credits:
        return "created", f"the sale was recorded and credited {result.credits} time(s)"
    return "recorded", "the sale was recorded; no active reward credited it"


def record_refund(kernel: Kernel, gate: Gate, refund: RefundEvent) -> Answer:
    def work(conn: Connection) -> Answer:
        key = sale_key(refund.source, refund.externalId, REFUND)
        if queries.find_source_event(conn, "sale", key) is None:
            raise NotFound("sale", f"{refund.source}/{refund.externalId}")
        result, transaction = record_once(conn, kernel, REFUND, key,
                                          lambda at: {"id": key, "at": at, "sale": key})
        if not result.duplicate:
            outbox.record(conn, [
                Message("refund.created", {"transactionId": transaction,
                                           "source": refund.source,
                                           "externalId": refund.externalId}),
                _transaction_created(transaction, REFUND, refund.source, refund.externalId)])
        status = "duplicate" if result.duplicate else "created"
        message = ("this refund was recorded before; nothing new was recorded" if
                   result.duplicate else "the sale was refunded")
        return Answer({"status": status, "created": not result.duplicate,
                       "transactionId": transaction, "conversions": [], "message": message})

    return in_one_transaction(kernel, gate, work)


def record_visit(kernel: Kernel, gate: Gate, visit: SiteVisitedEvent) -> Answer:
    return in_one_transaction(kernel, gate, lambda conn: _visit(conn, kernel, visit))


def _visit(conn: Connection, kernel: Kernel, visit: SiteVisitedEvent) -> Answer:
    found = sq.collaborator_by_api_id(conn, visit.collaboratorId)
    if found is None or found[1] != "active":
        reason = "collaborator_not_found" if found is None else "collaborator_not_active"
        return Answer({"status": "not_attributed", "attributed": False, "opportunityId": None,
                       "message": "nothing was recorded: the collaborator is missing or not "
                       "active", "reason": reason})
    key = queries.collaborator_keys(conn, [found[0]])[found[0]][0]
    opportunity = sq.insert_opportunity(conn, key, visit.userId, kernel.clock())
    result = kernel.record("visit", {"id": f"opportunity-{opportunity}",
                                     "at": kernel.clock(), "collaborator": found[0]})
    outbox.record(conn, [Message("opportunity.created", {
        "opportunityId": opportunity, "collaboratorId": visit.collaboratorId,
        "collaboratorExternalId": found[0], "userId": visit.userId})])
    body: dict[str, Any] = {"attributed": True, "opportunityId": opportunity}
    if result.credits:
        body.update(status="attributed", message="the visit opened an opportunity and "
                    "credited the collaborator")
    else:
        body.update(status="recorded", message="the visit opened an opportunity; no active "
                    "reward uses visits", reason=_reason(result) or "no_reward")
    return Answer(body, opportunity)


def record_custom(kernel: Kernel, gate: Gate, slug: str,
                  payload: dict[str, Any]) -> Answer:
    """A third-party trigger strategy's event, the body passed through (``at`` defaults to
    the time of the first recording)."""

    def work(conn: Connection) -> Answer:
        key = check_identifier(f"{slug}.id", payload.get("id"))
        result, transaction = record_once(conn, kernel, slug, key,
                                          lambda at: {"at": at, **payload})
        if not result.duplicate:
            outbox.record(conn, [_transaction_created(transaction, slug, None, key)])
        status = "duplicate" if result.duplicate else (
            "created" if result.credits else "recorded")
        body = {"status": status, "created": not result.duplicate,
                "transactionId": transaction, "conversions": [],
                "message": f"{slug} event {status}"}
        if status == "recorded" and (reason := _reason(result)):
            body["reason"] = reason
        return Answer(body)

    return in_one_transaction(kernel, gate, work)
