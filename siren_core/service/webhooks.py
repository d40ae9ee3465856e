"""Webhook subscriptions over HTTP (the SDK's ``client.webhooks.subscriptions``):
``POST /webhooks`` (the signing secret in the answer, once), ``GET /webhooks`` (a bare
array, ``number``/``offset``), ``GET``/``DELETE /webhooks/{id}``, the catalog ``GET
/webhooks/events``, a subscription's deliveries with their attempts, ``POST
/webhooks/{id}/test`` and ``POST /webhooks/deliveries/{id}/resend``.
``webhook-subscriptions:read`` opens the reads, ``webhook-subscriptions:manage``
everything. Delivery itself is the worker's (``siren worker``, ``siren webhooks
deliver``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from siren_core import outbox
from siren_core.errors import NotFound
from siren_core.kernel import Kernel
from siren_core.service.auth import requires
from siren_core.service.ledger import COUNT_HEADER, MAX_PAGE, Number, Offset
from siren_core.service.models import (
    WebhookCreate,
    WebhookDeliveryOut,
    WebhookEventType,
    WebhookSubscriptionOut,
    WebhookTestAnswer,
)
from siren_core.store import service_queries as sq
from siren_core.store.service_queries import ApiKeyRow
from siren_core.webhooks import subscriptions
from siren_core.webhooks.subscriptions import delivery_json, subscription_json

router = APIRouter(tags=["webhooks"])
READ, MANAGE = "webhook-subscriptions:read", "webhook-subscriptions:manage"
ReadKey = Annotated[ApiKeyRow, Depends(requires(READ, MANAGE))]
ManageKey = Annotated[ApiKeyRow, Depends(requires(MANAGE))]
_COUNT: dict[int | str, dict[str, Any]] = {200: {"headers": {COUNT_HEADER: {
    "schema": {"type": "integer"}, "description": "Rows in all pages"}}}}


def _kernel(request: Request) -> Kernel:
    kernel: Kernel = request.app.state.kernel
    return kernel


def _id(value: int, kind: str) -> int:
    if not 1 <= value <= sq.KEY_MAX:
        raise NotFound(kind, value)
    return value


@router.post("/webhooks", status_code=201, response_model=WebhookSubscriptionOut)
def create(request: Request, _key: ManageKey, body: WebhookCreate) -> dict[str, Any]:
    """Subscribe ``targetUrl`` to ``events`` (``*``: all). The answer carries the signing
    secret, this once."""
    made = subscriptions.create(_kernel(request).engine, body.targetUrl, body.events,
                                body.description)
    return {**subscription_json(made.subscription), "signingSecret": made.secret}


@router.get("/webhooks", response_model=list[WebhookSubscriptionOut], responses=_COUNT)
def list_(request: Request, _key: ReadKey, number: Number = 200,
          offset: Offset = 0) -> JSONResponse:
    """Subscriptions, oldest first (at most 200 a page)."""
    rows, total = subscriptions.page(_kernel(request).engine, number=min(number, MAX_PAGE),
                                     offset=offset)
    return JSONResponse([subscription_json(row) for row in rows],
                        headers={COUNT_HEADER: str(total)})


@router.get("/webhooks/events", response_model=list[WebhookEventType])
def catalog(_key: ReadKey) -> list[dict[str, str]]:
    """Every event name a subscription can receive."""
    return [{"name": name, "description": text} for name, text in outbox.CATALOG.items()]


@router.get("/webhooks/{id}", response_model=WebhookSubscriptionOut)
def get(request: Request, _key: ReadKey, id: int) -> dict[str, Any]:
    return subscription_json(subscriptions.get(_kernel(request).engine,
                                               _id(id, "webhook subscription")))


@router.delete("/webhooks/{id}", status_code=204, response_class=Response)
def delete(request: Request, _key: ManageKey, id: int) -> Response:
    """Nothing more is delivered to it; its deliveries stay readable."""
    subscriptions.delete(_kernel(request).engine, _id(id, "webhook subscription"))
    return Response(status_code=204)


@router.get("/webhooks/{id}/deliveries", response_model=list[WebhookDeliveryOut])
def deliveries(request: Request, _key: ReadKey, id: int, number: Number = 200,
               offset: Offset = 0) -> list[dict[str, Any]]:
    """The subscription's deliveries in commit order, each with its attempts."""
    rows = subscriptions.deliveries(_kernel(request).engine,
                                    subscription_id=_id(id, "webhook subscription"),
                                    number=min(number, MAX_PAGE), offset=offset)
    return [delivery_json(*row) for row in rows]


@router.post("/webhooks/{id}/test", status_code=202, response_model=WebhookTestAnswer)
def test(request: Request, _key: ManageKey, id: int) -> dict[str, str]:
    """Queue a ``webhook.test`` delivery to this subscription."""
    return {"deliveryId": subscriptions.send_test(_kernel(request).engine,
                                                  _id(id, "webhook subscription"))}


@router.post("/webhooks/deliveries/{id}/resend", status_code=202,
             response_class=Response)
def resend(request: Request, _key: ManageKey, id: int) -> Response:
    """Send a failed (dead) or delivered delivery again, same delivery id."""
    subscriptions.resend(_kernel(request).engine, _id(id, "webhook delivery"))
    return Response(status_code=202)
