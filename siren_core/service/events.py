"""``POST /event/sale``, ``/event/refund``, ``/event/site-visited`` and ``/event/{slug}``
for every other installed trigger strategy (a plugin's strategy is an endpoint with no
code of its own)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from siren_core.errors import SirenError
from siren_core.kernel import Kernel
from siren_core.service import recording
from siren_core.service.auth import Admission, AnyAdmission, admits, event_scopes
from siren_core.service.bodies import json_object, parsed
from siren_core.service.models import (
    EventAnswer,
    RefundEvent,
    SaleEvent,
    SiteVisitedEvent,
    VisitAnswer,
)
from siren_core.service.problems import ApiProblem, engine_problem

router = APIRouter(prefix="/event", tags=["events"])
FIXED = ("sale", "refund", "site-visited")
SaleKey = Annotated[Admission, Depends(admits(*event_scopes("sale")))]
RefundKey = Annotated[Admission, Depends(admits(*event_scopes("refund")))]
VisitKey = Annotated[Admission, Depends(admits(*event_scopes("site-visited")))]


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its body itself (see bodies.py)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": inline_schema(model)}}}}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place (OpenAPI has no
    ``$defs`` of its own at that spot)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


async def _answer(request: Request, kind: str, work: Callable[[Kernel], recording.Answer],
                  status: int = 200) -> JSONResponse:
    kernel: Kernel = request.app.state.kernel
    try:
        answer = await run_in_threadpool(_one_writer(request, work), kernel)
    except SirenError as exc:
        raise engine_problem(exc, kind) from None
    headers = {} if answer.opportunity is None else {"X-Siren-OID": str(answer.opportunity)}
    return JSONResponse(answer.body, status_code=status, headers=headers)


def _one_writer(request: Request, work: Callable[[Kernel], recording.Answer]
                ) -> Callable[[Kernel], recording.Answer]:
    """On SQLite, the process's events are written one at a time: SQLite serializes
    writers anyway, and a lock the threads queue on answers in turn where the database's
    busy handler would let them sleep and retry (long tails). PostgreSQL writes in
    parallel."""
    lock: threading.Lock | None = request.app.state.sqlite_writer

    def serialized(kernel: Kernel) -> recording.Answer:
        if lock is None:
            return work(kernel)
        with lock:
            return work(kernel)

    return serialized


_OID = {"X-Siren-OID": {"description": "The opportunity the event is attributed to",
                        "schema": {"type": "integer"}}}


@router.post("/sale", response_model=EventAnswer, openapi_extra=_body(SaleEvent),
             responses={200: {"headers": _OID}})
async def sale(request: Request, admitted: SaleKey) -> JSONResponse:
    """Record a sale, attributed through ``trackingId`` (an opportunity)."""
    body = await parsed(request, SaleEvent)
    currency = request.app.state.settings.currency
    return await _answer(request, "sale",
                         lambda kernel: recording.record_sale(kernel, admitted.count, body,
                                                              currency))


@router.post("/refund", response_model=EventAnswer, openapi_extra=_body(RefundEvent))
async def refund(request: Request, admitted: RefundKey) -> JSONResponse:
    """Reverse the sale recorded with this ``(source, externalId)``; 404 when none was."""
    body = await parsed(request, RefundEvent)
    return await _answer(request, "refund",
                         lambda kernel: recording.record_refund(kernel, admitted.count, body))


@router.post("/site-visited", response_model=VisitAnswer,
             openapi_extra=_body(SiteVisitedEvent), responses={200: {"headers": _OID}})
async def site_visited(request: Request, admitted: VisitKey) -> JSONResponse:
    """A referred visit: opens an opportunity for an active collaborator."""
    body = await parsed(request, SiteVisitedEvent)
    return await _answer(request, "visit",
                         lambda kernel: recording.record_visit(kernel, admitted.count, body))


_ANY_OBJECT = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "additionalProperties": True}}}}}


@router.post("/{slug}", response_model=EventAnswer, openapi_extra=_ANY_OBJECT)
async def custom(slug: str, request: Request, admitted: AnyAdmission) -> JSONResponse:
    """An event of any installed trigger strategy, its body passed through (``id``
    required, ``at`` defaults to now); 404 for a slug no strategy has."""
    kernel: Kernel = request.app.state.kernel
    if slug in FIXED or slug not in kernel.registry.trigger_strategies:
        raise ApiProblem(404, f"no event type {slug!r} is installed", code="not_found")
    admitted.check(event_scopes(slug))
    payload = await json_object(request)
    return await _answer(request, slug, lambda kernel: recording.record_custom(
        kernel, admitted.count, slug, payload))
