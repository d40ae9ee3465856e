"""The dashboard's writes, each a form carrying the session's CSRF token: obligations
approved or rejected in bulk, a fulfillment generated or marked paid, a failed webhook
delivery sent again; and a fulfillment's CSV (a read)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from siren_core.service.admin.guard import kernel_of
from siren_core.service.dashboard.guard import Page, Write
from siren_core.store import service_queries as sq
from siren_core.store.operator_queries import SessionRow
from siren_core.webhooks import subscriptions

router = APIRouter()
Ids = Annotated[list[Annotated[int, Form(ge=1, le=sq.KEY_MAX)]], Form()]


def _back(request: Request, page: str, done: str, **query: str) -> RedirectResponse:
    params = urlencode({**{k: v for k, v in query.items() if v}, "done": done})
    return RedirectResponse(f"{request.scope.get('root_path', '')}/{page}?{params}", 303)


def _actor(session: SessionRow) -> str:
    return f"operator:{session.operator.name}"


@router.post("/obligations/bulk")
def bulk(request: Request, session: Write,
         action: Annotated[Literal["approve", "reject"], Form()],
         ids: Ids = [],  # noqa: B006 - FastAPI copies a default
         status: Annotated[str, Form(max_length=32)] = "",
         distributor: Annotated[str, Form(max_length=255)] = "") -> Response:
    result = kernel_of(request).obligation_action(action, ids, actor=_actor(session))
    done = (f"{action}: {len(result.done)} done, {len(result.skipped)} unchanged, "
            f"{len(result.refused)} refused")
    return _back(request, "obligations", done, status=status, distributor=distributor)


@router.post("/fulfillments/generate")
def generate(request: Request, session: Write) -> Response:
    made = kernel_of(request).generate_fulfillment(actor=_actor(session))
    done = (f"fulfillment {made.fulfillment.id} generated with "
            f"{made.fulfillment.payout_count} payouts" if made.fulfillment
            else "nothing approved to pay")
    return _back(request, "fulfillments", done)


@router.post("/fulfillments/{id}/paid")
def mark_paid(request: Request, session: Write, id: int,
              reference: Annotated[str, Form(max_length=255)] = "") -> Response:
    kernel_of(request).mark_fulfillment(id, "paid", actor=_actor(session),
                                        reference=reference or None)
    return _back(request, "fulfillments", f"fulfillment {id} marked paid")


@router.get("/fulfillments/{id}.csv")
def fulfillment_csv(request: Request, _session: Page, id: int) -> Response:
    text = kernel_of(request).export_fulfillment_csv(id)
    return Response(text, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="fulfillment-{id}.csv"'})


@router.post("/webhooks/deliveries/{id}/resend")
def resend(request: Request, _session: Write, id: int) -> Response:
    subscriptions.resend(kernel_of(request).engine, id)
    return _back(request, "webhooks", f"delivery {id} queued again")
