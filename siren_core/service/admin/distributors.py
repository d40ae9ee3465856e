"""Distributors, their distributions and allocations, the open period's preview, manual
credits and the doctor's findings (Siren's §9.1-9.2).

A distributor's body is siren-core's configuration (``docs/configuration.md``: ``id``,
``name``, ``units``, ``schedule``, ``start``, ``pool``, ``calculator``, ``metrics`` …);
``PUT`` merges the given fields into the stored configuration, ``status`` pauses,
resumes or deletes it, and ``collaboratorGroupId`` binds it to a group (``null``
unbinds). ``DELETE`` soft-deletes (status ``deleted``, history kept); siren-core keeps a
deleted distributor's periods, so a second ``DELETE`` is a 409, not a hard delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from siren_core.config.converter import unstructure_distributor
from siren_core.domain import Distributor
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.kernel import Kernel
from siren_core.service.admin import listing, views
from siren_core.service.admin.guard import CHECKED, REFUSALS, Operator, kernel_of
from siren_core.service.admin.listing import (
    COUNTED,
    Filter,
    Number,
    Offset,
    Order,
    OrderBy,
    PathId,
)
from siren_core.service.problems import invalid_field
from siren_core.store import service_queries as sq
from siren_core.times import iso_utc

router = APIRouter(tags=["admin: distributors"], responses=REFUSALS,
                   dependencies=CHECKED)
Spec = Annotated[dict[str, Any], Body(description="siren-core's distributor configuration")]
STATUSES = ("active", "inactive", "deleted")


def _json(kernel: Kernel, d: Distributor) -> dict[str, Any]:
    return views.distributor_json(d, kernel.distributor_group(d.id))


def extended(kernel: Kernel, d: Distributor) -> dict[str, Any]:
    """A distributor with Siren's extended fields."""
    periods = kernel.distributions(distributor=d.id)
    current = next((p for p in reversed(periods) if p.status == "open"), None)
    return {**_json(kernel, d),
            "collaboratorCount": len(kernel.eligible_collaborators(distributor=d.id)),
            "currentDistribution": views.distribution_json(current) if current else None,
            "dateCreated": iso_utc(periods[0].period_start) if periods else None,
            "lastDistributed": max((iso_utc(p.completed_at) or "" for p in periods),
                                   default=None) or None}


@router.get("/distributors", responses=COUNTED)
def distributors(request: Request, _session: Operator, number: Number = 10,
                 offset: Offset = 0, orderBy: OrderBy = None, order: Order = "DESC",
                 status: Filter = None, search: Filter = None) -> JSONResponse:
    """Distributors; filters ``status``, ``search`` (name and description); ``orderBy`` ∈
    id, name, status."""
    kernel = kernel_of(request)
    found = [d for d in kernel.distributors()
             if (status is None or d.spec.status == status)
             and (not search or search.lower() in
                  f"{d.spec.name}\n{d.spec.description}".lower())]
    rows = listing.ordered(found, orderBy, order, {
        "id": lambda d: d.id, "name": lambda d: d.spec.name, "status": lambda d: d.spec.status})
    return listing.page([_json(kernel, d) for d in rows], number, offset)


@router.get("/distributors/{id}")
def distributor(request: Request, _session: Operator, id: PathId) -> dict[str, Any]:
    """One distributor, with ``collaboratorCount``, ``currentDistribution`` and dates."""
    kernel = kernel_of(request)
    return extended(kernel, kernel.distributor(id))


@router.post("/distributors", status_code=201)
def create(request: Request, _session: Operator, body: Spec) -> dict[str, Any]:
    """Create a distributor from its configuration; 201 with the record."""
    kernel = kernel_of(request)
    return extended(kernel, kernel.create_distributor(body))


@router.put("/distributors/{id}")
def update(request: Request, _session: Operator, id: PathId, body: Spec) -> dict[str, Any]:
    """Partial update: the given fields replace the stored ones (``id``, if given, must
    be the URL's); ``status`` and ``collaboratorGroupId`` as the module says."""
    kernel = kernel_of(request)
    if "id" in body and body["id"] != id:
        raise invalid_field("id", f"id {body['id']!r} is not the URL's {id!r}")
    current = kernel.distributor(id)
    changes = {k: v for k, v in body.items() if k not in ("id", "status", "collaboratorGroupId")}
    status = body.get("status", current.spec.status)
    if status not in STATUSES:
        raise InvalidInput("status", status, f"is not one of {', '.join(STATUSES)}")
    if changes:
        kernel.update_distributor({**unstructure_distributor(current.spec), **changes,
                                   "id": id, "status": current.spec.status})
    if "collaboratorGroupId" in body:
        group = body["collaboratorGroupId"]
        if group is not None and not isinstance(group, str):
            raise invalid_field("collaboratorGroupId", "collaboratorGroupId must be a "
                                "group's id or null")
        kernel.bind_distributor(id, group)
    if status != current.spec.status:
        kernel.set_distributor_status(id, status)
    return extended(kernel, kernel.distributor(id))


@router.delete("/distributors/{id}")
def delete(request: Request, _session: Operator, id: PathId) -> dict[str, Any]:
    """Soft delete (200 with the record); a deleted distributor's history is kept, so
    deleting it again is a 409."""
    kernel = kernel_of(request)
    if kernel.distributor(id).spec.status == "deleted":
        raise Conflict(f"distributor {id!r} is already deleted; siren-core keeps its "
                       "periods, allocations and obligations")
    kernel.set_distributor_status(id, "deleted")
    return extended(kernel, kernel.distributor(id))


@router.post("/distributors/credit-metric")
def credit_metric(request: Request, _session: Operator,
                  collaboratorId: Annotated[str, Body(min_length=1, max_length=255)],
                  id: Annotated[str, Body(min_length=1, max_length=200)],
                  quantity: Annotated[int, Body(ge=1, le=1_000_000)] = 1,
                  note: Annotated[str, Body(max_length=1000)] = "",
                  at: Annotated[datetime | None, Body()] = None) -> dict[str, Any]:
    """Credit a collaborator by hand (the ``manual`` metric type); ``id`` is the
    idempotency key."""
    result = kernel_of(request).credit_metric(collaboratorId, id=id, quantity=quantity,
                                            note=note, at=at)
    return {"id": result.event_id, "credits": result.credits, "duplicate": result.duplicate,
            "skipped": [{"distributorId": s.distributor, "reason": s.reason}
                        for s in result.skipped]}


@router.get("/distributors/{id}/preview")
def preview(request: Request, _session: Operator, id: PathId) -> dict[str, Any]:
    """What the open period would pay if it closed now: pool so far and the leaders."""
    found = kernel_of(request).preview(id)
    outcome = found.outcome
    leaders = sorted(outcome.allocations, key=lambda a: (-a[3], -a[2], a[1]))
    return {"distribution": views.distribution_json(found.distribution),
            "windowEnd": iso_utc(found.window_end), "pool": outcome.pool,
            "revenue": outcome.revenue, "reason": outcome.reason, "late": found.late,
            "currency": found.distribution.units,
            "leaders": [{"collaboratorExternalId": c, "score": s, "amount": a}
                        for _key, c, s, a in leaders]}


@router.get("/distributions", responses=COUNTED)
def distributions(request: Request, _session: Operator, number: Number = 10,
                  offset: Offset = 0, orderBy: OrderBy = None, order: Order = "DESC",
                  status: Filter = None, distributorId: Filter = None) -> JSONResponse:
    """Periods; filters ``status`` (``pending`` = ``open``), ``distributorId``;
    ``orderBy`` ∈ id, status, distributorId, triggerDate."""
    kernel = kernel_of(request)
    try:
        found = kernel.distributions(distributor=distributorId, status=status)
    except (NotFound, InvalidInput):
        found = ()
    rows = listing.ordered(found, orderBy, order, {
        "id": lambda d: d.id, "status": lambda d: d.status,
        "distributorId": lambda d: d.distributor, "triggerDate": lambda d: d.period_end})
    return listing.page([views.distribution_json(d) for d in rows], number, offset)


@router.get("/distributions/{id}")
def distribution(request: Request, _session: Operator, id: int) -> dict[str, Any]:
    return views.distribution_json(kernel_of(request).distribution(id))


@router.get("/distributions/{id}/allocations")
def allocations(request: Request, _session: Operator, id: int) -> list[dict[str, Any]]:
    """Every allocation of the distribution with the score behind it: points by metric
    type and the credits that made them."""
    kernel = kernel_of(request)
    if not 1 <= id <= sq.KEY_MAX:
        raise NotFound("distribution", id)
    credits = kernel.allocation_credits(id)
    return views.allocations_json(kernel.allocations(id), credits)


@router.get("/doctor")
def doctor(request: Request, _session: Operator) -> list[dict[str, Any]]:
    """Why a distributor would pay no one, or part of it would credit no one."""
    return [views.finding_json(f) for f in kernel_of(request).doctor()]
