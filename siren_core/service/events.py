"""``POST /event/sale``, ``/event/refund``, ``/event/site-visited`` and ``/event/{slug}``
for every other installed trigger strategy (a plugin's strategy is an endpoint with no
code of its own)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from siren_core import store
from siren_core.errors import SirenError
from siren_core.kernel import Kernel
from siren_core.service import recording
from siren_core.service.auth import Credentials, admission_in, event_scopes, raw_key
from siren_core.service.bodies import json_or_refusal, validated
from siren_core.service.models import (
    EventAnswer,
    RefundEvent,
    SaleEvent,
    SiteVisitedEvent,
    VisitAnswer,
)
from siren_core.service.problems import ApiProblem, engine_problem
from siren_core.service.writers import SqliteWriters
from siren_core.store import Connection

router = APIRouter(prefix="/event", tags=["events"])
FIXED = ("sale", "refund", "site-visited")


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


Work = Callable[[Kernel, recording.Gate], recording.Answer]
"""An event's recording, its body validated, given the request's gate."""


async def _event(request: Request, credentials: HTTPAuthorizationCredentials | None,
                 kind: str, any_of: Sequence[str], prepare: Callable[[dict[str, Any]], Work],
                 refuse: Callable[[], None] | None = None) -> JSONResponse:
    """Admit the key (401), ``refuse`` (404), check its scope (403), validate the body
    (400; read before, as text), record, count (429): in that order, in one hop to the
    threadpool (every hop is a thread switch: a large share of a sale's time), the key
    read in the event's own transaction."""
    kernel: Kernel = request.app.state.kernel
    body = await json_or_refusal(request)

    def gate(conn: Connection) -> recording.Count:
        admitted = admission_in(conn, request, credentials)
        if refuse is not None:
            refuse()
        return admitted.check(any_of).count

    def handle() -> recording.Answer:
        raw_key(credentials)  # no key's form: 401, and the store is not asked
        try:
            if isinstance(body, ApiProblem):
                raise body
            work = prepare(body)
        except ApiProblem:  # the body is refused after the key and its scope
            with store.unit_of_work(kernel.engine, write=False) as conn:
                gate(conn)
            raise
        with _one_writer(request):
            return work(kernel, gate)

    try:
        answer = await run_in_threadpool(handle)
    except SirenError as exc:
        raise engine_problem(exc, kind) from None
    headers = {} if answer.opportunity is None else {"X-Siren-OID": str(answer.opportunity)}
    return JSONResponse(answer.body, headers=headers)


def _one_writer(request: Request) -> AbstractContextManager[object]:
    """On SQLite, the events of every server process on the store are written one at a
    time (:class:`~siren_core.service.writers.SqliteWriters`): SQLite serializes writers
    anyway, and a lock they queue on answers in turn where the database's busy handler
    would let them sleep and retry (long tails; measured in docs/service.md).
    PostgreSQL writes in parallel."""
    writers: SqliteWriters | None = request.app.state.sqlite_writers
    return nullcontext() if writers is None else writers


_OID = {"X-Siren-OID": {"description": "The opportunity the event is attributed to",
                        "schema": {"type": "integer"}}}


@router.post("/sale", response_model=EventAnswer, openapi_extra=_body(SaleEvent),
             responses={200: {"headers": _OID}})
async def sale(request: Request, credentials: Credentials) -> JSONResponse:
    """Record a sale, attributed through ``trackingId`` (an opportunity)."""
    currency = request.app.state.settings.currency

    def prepare(value: dict[str, Any]) -> Work:
        body = validated(value, SaleEvent)
        return lambda kernel, count: recording.record_sale(kernel, count, body, currency)

    return await _event(request, credentials, "sale", event_scopes("sale"), prepare)


@router.post("/refund", response_model=EventAnswer, openapi_extra=_body(RefundEvent))
async def refund(request: Request, credentials: Credentials) -> JSONResponse:
    """Reverse the sale recorded with this ``(source, externalId)``; 404 when none was."""

    def prepare(value: dict[str, Any]) -> Work:
        body = validated(value, RefundEvent)
        return lambda kernel, count: recording.record_refund(kernel, count, body)

    return await _event(request, credentials, "refund", event_scopes("refund"), prepare)


@router.post("/site-visited", response_model=VisitAnswer,
             openapi_extra=_body(SiteVisitedEvent), responses={200: {"headers": _OID}})
async def site_visited(request: Request, credentials: Credentials) -> JSONResponse:
    """A referred visit: opens an opportunity for an active collaborator."""

    def prepare(value: dict[str, Any]) -> Work:
        body = validated(value, SiteVisitedEvent)
        return lambda kernel, count: recording.record_visit(kernel, count, body)

    return await _event(request, credentials, "visit", event_scopes("site-visited"), prepare)


_ANY_OBJECT = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "additionalProperties": True}}}}}


@router.post("/{slug}", response_model=EventAnswer, openapi_extra=_ANY_OBJECT)
async def custom(slug: str, request: Request, credentials: Credentials) -> JSONResponse:
    """An event of any installed trigger strategy, its body passed through (``id``
    required, ``at`` defaults to now); 404 for a slug no strategy has."""
    kernel: Kernel = request.app.state.kernel

    def refuse() -> None:
        if slug in FIXED or slug not in kernel.registry.trigger_strategies:
            raise ApiProblem(404, f"no event type {slug!r} is installed", code="not_found")

    def prepare(payload: dict[str, Any]) -> Work:
        return lambda kernel, count: recording.record_custom(kernel, count, slug, payload)

    return await _event(request, credentials, slug, event_scopes(slug), prepare, refuse)
