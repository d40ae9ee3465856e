"""Obligations (update one, ``POST /obligations/bulk``) and fulfillments (generate, list,
read, CSV, mark paid) with an operator's session (Siren's §9.4). The obligations' reads
are the ledger's (``GET /obligations``, an API key's) and the dashboard's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, Response

from siren_core.errors import NotFound
from siren_core.service.admin import listing, views
from siren_core.service.admin.guard import CHECKED, REFUSALS, Operator, kernel_of
from siren_core.service.admin.listing import (
    COUNTED,
    Number,
    Offset,
    Order,
    OrderBy,
)
from siren_core.store import service_queries as sq

router = APIRouter(tags=["admin: obligations and fulfillments"], responses=REFUSALS,
                   dependencies=CHECKED)
Ids = Annotated[list[Annotated[int, Body(ge=1, le=sq.KEY_MAX)]], Body(max_length=10_000)]
Reason = Annotated[str | None, Body(max_length=1000)]
ACTIONS = ("approve", "reject", "cancel", "markPending", "markComplete")


def _row(id: int, kind: str) -> int:
    if not 1 <= id <= sq.KEY_MAX:
        raise NotFound(kind, id)
    return id


def actor(session: Operator) -> str:
    return f"operator:{session.operator.name}"


@router.put("/obligations/{id}")
def update_obligation(request: Request, session: Operator, id: int,
                      status: Annotated[str, Body(min_length=1, max_length=32)],
                      reason: Reason = None) -> dict[str, Any]:
    """Move one obligation to ``status`` (Siren's names too); the audit log names the
    operator."""
    kernel = kernel_of(request)
    kernel.set_obligation_status(_row(id, "obligation"), status, actor=actor(session),
                                 reason=reason)
    return views.obligation_json(kernel.obligation(id))


@router.post("/obligations/bulk")
def bulk(request: Request, session: Operator,
         action: Annotated[Literal[ACTIONS], Body()],  # type: ignore[valid-type]
         ids: Annotated[Ids, Body(min_length=1)], reason: Reason = None) -> dict[str, Any]:
    """One action on many obligations: ``{success, affected}``, with each id's outcome."""
    result = kernel_of(request).obligation_action(action, ids, actor=actor(session),
                                                reason=reason)
    return {"success": not result.refused, "affected": len(result.done),
            "outcomes": [{"id": o.id, "outcome": o.outcome, "status": o.status,
                          "reason": o.reason} for o in result.outcomes]}


@router.post("/fulfillments/generate", status_code=201)
def generate(request: Request, session: Operator,
             obligationIds: Annotated[Ids | None, Body(embed=True)] = None
             ) -> dict[str, Any]:
    """A fulfillment (one payout per collaborator and currency) from the approved
    obligations, all or the chosen ones; ``fulfillment`` is ``null`` when none was
    payable."""
    made = kernel_of(request).generate_fulfillment(obligationIds, actor=actor(session))
    return {"fulfillment": views.fulfillment_json(made.fulfillment)
            if made.fulfillment else None,
            "refused": [{"id": o.id, "reason": o.reason} for o in made.refused]}


@router.get("/fulfillments", responses=COUNTED)
def fulfillments(request: Request, _session: Operator, number: Number = 10,
                 offset: Offset = 0, orderBy: OrderBy = None, order: Order = "DESC",
                 status: Annotated[str | None, Query(max_length=32)] = None) -> JSONResponse:
    """Fulfillments; filter ``status``; ``orderBy`` ∈ id, status, dateCreated."""
    rows = listing.ordered(kernel_of(request).fulfillments(status=status), orderBy, order, {
        "id": lambda f: f.id, "status": lambda f: f.status,
        "dateCreated": lambda f: f.created_at})
    return listing.page([views.fulfillment_json(f) for f in rows], number, offset)


@router.get("/fulfillments/{id}")
def fulfillment(request: Request, _session: Operator, id: int) -> dict[str, Any]:
    return views.fulfillment_json(kernel_of(request).fulfillment(_row(id, "fulfillment")))


@router.get("/fulfillments/{id}/csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def fulfillment_csv(request: Request, _session: Operator, id: int) -> Response:
    """The mass-payout CSV of the fulfillment's open payouts."""
    text = kernel_of(request).export_fulfillment_csv(_row(id, "fulfillment"))
    return Response(text, media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="fulfillment-{id}.csv"'})


@router.put("/fulfillments/{id}")
def mark(request: Request, session: Operator, id: int,
         status: Annotated[Literal["processing", "paid", "failed"], Body()],
         reference: Annotated[str | None, Body(max_length=255)] = None,
         reason: Reason = None) -> dict[str, Any]:
    """Mark every open payout of the fulfillment ``processing``, ``paid`` or ``failed``."""
    return views.fulfillment_json(kernel_of(request).mark_fulfillment(
        _row(id, "fulfillment"), status, actor=actor(session), reference=reference,
        reason=reason))
