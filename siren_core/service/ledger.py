"""The ledger out: ``GET /obligations``, ``/payouts``, ``/transactions`` (the recorded
source events) and ``/conversions`` (always empty: siren-core has no per-conversion
programs), each also by id. Pages are bare arrays, ``number`` rows (default 10, at most
200) from ``offset``, with the matching count in ``x-siren-estimated-count``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from siren_core import store
from siren_core.domain import Obligation, Payout
from siren_core.errors import NotFound
from siren_core.kernel import Kernel
from siren_core.money import INT64_MAX
from siren_core.service.auth import requires, requires_or_operator
from siren_core.service.models import ConversionOut, ObligationOut, PayoutOut, TransactionOut
from siren_core.service.recording import split_key
from siren_core.store import service_queries as sq
from siren_core.store.service_queries import ApiKeyRow, TransactionRow
from siren_core.times import iso_utc

router = APIRouter(tags=["ledger"])
MAX_PAGE = 200
COUNT_HEADER = "x-siren-estimated-count"
_COUNT: dict[int | str, dict[str, Any]] = {200: {"headers": {COUNT_HEADER: {
    "schema": {"type": "integer"}, "description": "Rows matching the filters"}}}}

Number = Annotated[int, Query(ge=1, le=INT64_MAX, description="Page size (at most 200)")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="First row")]
ApiId = Annotated[int | None, Query(ge=1, le=sq.KEY_MAX)]
_TEXT = r"^[^\x00-\x1f]*$"
"""A text filter holds no control character (PostgreSQL cannot even compare a NUL)."""
Status = Annotated[str | None, Query(max_length=64, pattern=_TEXT)]
Kind = Annotated[str | None, Query(max_length=64, pattern=_TEXT)]
DistributorId = Annotated[str | None, Query(max_length=255, pattern=_TEXT)]
# an operator's session reads obligations and payouts too (the admin API, docs/dashboard.md)
ObligationsKey = Annotated[ApiKeyRow | None,
                           Depends(requires_or_operator("ledger:obligations:read"))]
PayoutsKey = Annotated[ApiKeyRow | None, Depends(requires_or_operator("ledger:payouts:read"))]
TransactionsKey = Annotated[ApiKeyRow, Depends(requires("ledger:transactions:read"))]
ConversionsKey = Annotated[ApiKeyRow, Depends(requires("ledger:conversions:read"))]


def _page(rows: Sequence[dict[str, Any]], total: int) -> JSONResponse:
    return JSONResponse(list(rows), headers={COUNT_HEADER: str(total)})


def _window(rows: Sequence[Any], number: int, offset: int) -> Sequence[Any]:
    return rows[offset:offset + min(number, MAX_PAGE)]


def _kernel(request: Request) -> Kernel:
    kernel: Kernel = request.app.state.kernel
    return kernel


def _ids(kernel: Kernel) -> dict[str, int]:
    return kernel.collaborator_api_ids()


def _external(kernel: Kernel, api_id: int | None) -> str | None:
    if api_id is None:
        return None
    with store.unit_of_work(kernel.engine, write=False) as conn:
        found = sq.collaborator_by_api_id(conn, api_id)
    return "" if found is None else found[0]  # "": matches no one


def obligation_json(o: Obligation, ids: dict[str, int]) -> dict[str, Any]:
    return ObligationOut(
        id=o.id, collaboratorId=ids.get(o.collaborator), collaboratorExternalId=o.collaborator,
        amount=o.amount, currency=o.units, status=o.status, awardType=o.award_type,
        source=o.source, sourceId=o.source_id, payoutId=o.payout_id,
        dateCreated=iso_utc(o.created_at) or "").model_dump()


def payout_json(p: Payout, ids: dict[str, int]) -> dict[str, Any]:
    return PayoutOut(
        id=p.id, fulfillmentId=p.fulfillment_id, collaboratorId=ids.get(p.collaborator),
        collaboratorExternalId=p.collaborator, amount=p.amount, currency=p.units,
        status=p.status, obligationIds=list(p.obligation_ids), reference=p.reference,
        dateCreated=iso_utc(p.created_at) or "",
        dateModified=iso_utc(p.updated_at) or "").model_dump()


def transaction_json(t: TransactionRow) -> dict[str, Any]:
    source, external = split_key(t.key) if t.kind in ("sale", "refund") else (None, t.key)
    return TransactionOut(
        id=t.id, type=t.kind, source=source, externalId=external,
        collaboratorId=t.collaborator_api_id, collaboratorExternalId=t.collaborator,
        amount=t.amount, currency=t.currency, occurredAt=iso_utc(t.occurred_at) or "",
        dateCreated=iso_utc(t.recorded_at) or "").model_dump()


def _obligations(kernel: Kernel, collaborator: str | None, status: str | None,
                 distributor: str | None) -> tuple[Obligation, ...]:
    if collaborator == "":
        return ()
    try:
        return kernel.select_obligations(distributor=distributor, status=status,
                                         collaborator=collaborator)
    except NotFound:  # an unknown distributor: nothing matches
        return ()


@router.get("/obligations", response_model=list[ObligationOut], responses=_COUNT)
def obligations(request: Request, _key: ObligationsKey, number: Number = 10,
                offset: Offset = 0, collaboratorId: ApiId = None, status: Status = None,
                distributorId: DistributorId = None
                ) -> JSONResponse:
    """Obligations, oldest first; filters ``collaboratorId``, ``status`` (Siren's names
    too) and ``distributorId`` (the distributor's id)."""
    kernel = _kernel(request)
    found = _obligations(kernel, _external(kernel, collaboratorId), status, distributorId)
    ids = _ids(kernel)
    return _page([obligation_json(o, ids) for o in _window(found, number, offset)],
                 len(found))


@router.get("/obligations/{id}", response_model=ObligationOut)
def obligation(request: Request, _key: ObligationsKey, id: int) -> dict[str, Any]:
    kernel = _kernel(request)
    return obligation_json(kernel.obligation(_row_id(id, "obligation")), _ids(kernel))


def _row_id(id: int, kind: str) -> int:
    if not 1 <= id <= sq.KEY_MAX:
        raise NotFound(kind, id)
    return id


@router.get("/payouts", response_model=list[PayoutOut], responses=_COUNT)
def payouts(request: Request, _key: PayoutsKey, number: Number = 10, offset: Offset = 0,
            collaboratorId: ApiId = None, status: Status = None,
            fulfillmentId: ApiId = None) -> JSONResponse:
    """Payouts, oldest first; filters ``collaboratorId``, ``status``, ``fulfillmentId``."""
    kernel = _kernel(request)
    collaborator = _external(kernel, collaboratorId)
    found = [p for p in kernel.payouts(fulfillment=fulfillmentId, status=status)
             if collaborator is None or p.collaborator == collaborator]
    ids = _ids(kernel)
    return _page([payout_json(p, ids) for p in _window(found, number, offset)], len(found))


@router.get("/payouts/{id}", response_model=PayoutOut)
def payout(request: Request, _key: PayoutsKey, id: int) -> dict[str, Any]:
    kernel = _kernel(request)
    return payout_json(kernel.payout(_row_id(id, "payout")), _ids(kernel))


@router.get("/transactions", response_model=list[TransactionOut], responses=_COUNT)
def transactions(request: Request, _key: TransactionsKey, number: Number = 10,
                 offset: Offset = 0,
                 collaboratorId: ApiId = None,
                 type: Kind = None) -> JSONResponse:
    """The recorded source events (sales, refunds, visits, custom events), oldest first;
    filters ``collaboratorId`` and ``type``."""
    kernel = _kernel(request)
    with store.unit_of_work(kernel.engine, write=False) as conn:
        rows, total = sq.transactions_page(conn, kind=type, collaborator_key=collaboratorId,
                                           limit=min(number, MAX_PAGE), offset=offset)
    return _page([transaction_json(t) for t in rows], total)


@router.get("/transactions/{id}", response_model=TransactionOut)
def transaction(request: Request, _key: TransactionsKey, id: int) -> dict[str, Any]:
    with store.unit_of_work(_kernel(request).engine, write=False) as conn:
        found = sq.transaction(conn, _row_id(id, "transaction"))
    if found is None:
        raise NotFound("transaction", id)
    return transaction_json(found)


@router.get("/conversions", response_model=list[ConversionOut], responses=_COUNT)
def conversions(_key: ConversionsKey, number: Number = 10, offset: Offset = 0) -> JSONResponse:
    """Always empty: siren-core has no per-conversion programs (docs/service.md)."""
    return _page([], 0)


@router.get("/conversions/{id}", response_model=ConversionOut)
def conversion(id: int, _key: ConversionsKey) -> dict[str, Any]:
    raise NotFound("conversion", id)


