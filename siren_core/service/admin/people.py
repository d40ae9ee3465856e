"""Collaborators, collaborator groups and their members (Siren's §9.3). Members come in
the ``{items, total, page, perPage, totalPages}`` envelope, filtered by
``collaboratorId`` (one id or a comma list); groups bind through the distributor's edit
endpoint (``collaboratorGroupId``) and the program's (``PUT /programs/{id}``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

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

router = APIRouter(tags=["admin: collaborators and groups"], responses=REFUSALS,
                   dependencies=CHECKED)
Name = Annotated[str, Body(min_length=1, max_length=255)]
Members = Annotated[list[str | dict[str, Any]], Body(max_length=10_000)]


@router.get("/collaborators", responses=COUNTED)
def collaborators(request: Request, _session: Operator, number: Number = 10,
                  offset: Offset = 0, orderBy: OrderBy = None, order: Order = "ASC",
                  status: Filter = None) -> JSONResponse:
    """Collaborators with their integer API id; filter ``status``; ``orderBy`` ∈ id,
    name, status."""
    kernel = kernel_of(request)
    ids = kernel.collaborator_api_ids()
    found = [c for c in kernel.collaborators() if status is None or c.status == status]
    rows = listing.ordered(found, orderBy, order, {
        "id": lambda c: ids.get(c.id, 0), "name": lambda c: c.name,
        "status": lambda c: c.status})
    return listing.page([{"id": ids.get(c.id), "externalId": c.id, "name": c.name,
                          "status": c.status, "email": c.email} for c in rows],
                        number, offset)


@router.get("/collaborator-groups", responses=COUNTED)
def groups(request: Request, _session: Operator, number: Number = 10, offset: Offset = 0,
           orderBy: OrderBy = None, order: Order = "ASC") -> JSONResponse:
    rows = listing.ordered(kernel_of(request).groups(), orderBy, order, {
        "id": lambda g: g.id, "name": lambda g: g.name, "structure": lambda g: g.structure})
    return listing.page([views.group_json(g) for g in rows], number, offset)


@router.get("/collaborator-groups/{id}")
def group(request: Request, _session: Operator, id: PathId) -> dict[str, Any]:
    return views.group_json(kernel_of(request).group(id))


@router.post("/collaborator-groups", status_code=201)
def create_group(request: Request, _session: Operator,
                 id: Annotated[str, Body(min_length=1, max_length=255)], name: Name,
                 structure: Annotated[str, Body(min_length=1, max_length=64)],
                 description: Annotated[str, Body(max_length=10_000)] = "",
                 members: Members | None = None) -> dict[str, Any]:
    """Create a group (``flat``, ``parent_child``, ``linear_chain`` or a plugin's
    structure), optionally with members."""
    made = kernel_of(request).create_group(id, name=name, structure=structure,
                                         description=description, members=members or [])
    return views.group_json(made)


@router.put("/collaborator-groups/{id}")
def update_group(request: Request, _session: Operator, id: PathId,
                 name: Annotated[str | None, Body(min_length=1, max_length=255)] = None,
                 description: Annotated[str | None, Body(max_length=10_000)] = None,
                 structure: Annotated[str | None, Body(min_length=1, max_length=64)] = None
                 ) -> dict[str, Any]:
    """Partial update of name, description, structure."""
    return views.group_json(kernel_of(request).update_group(
        id, name=name, description=description, structure=structure))


@router.delete("/collaborator-groups/{id}", status_code=204, response_class=Response)
def delete_group(request: Request, _session: Operator, id: PathId) -> Response:
    kernel_of(request).delete_group(id)
    return Response(status_code=204)


@router.get("/collaborator-groups/{id}/members")
def members(request: Request, _session: Operator, id: PathId, number: Number = 10,
            offset: Offset = 0, collaboratorId: Filter = None) -> dict[str, Any]:
    """The members (in the group's order), in the envelope."""
    wanted = None if collaboratorId is None else set(collaboratorId.split(","))
    found = [views.member_json(m) for m in kernel_of(request).group_members(id)
             if wanted is None or m.collaborator in wanted]
    return listing.envelope(found, number, offset)


@router.post("/collaborator-groups/{id}/members")
def add_members(request: Request, _session: Operator, id: PathId,
                members: Annotated[Members, Body(embed=True)]) -> list[dict[str, Any]]:
    """Add members (ids, or ``{collaborator, parent?, metadata?}`` tables)."""
    return [views.member_json(m) for m in kernel_of(request).add_group_members(id, members)]


@router.put("/collaborator-groups/{id}/members")
def set_members(request: Request, _session: Operator, id: PathId,
                members: Annotated[Members, Body(embed=True)]) -> list[dict[str, Any]]:
    """Replace the members."""
    return [views.member_json(m) for m in kernel_of(request).set_group_members(id, members)]


@router.delete("/collaborator-groups/{id}/members/{collaboratorId}", status_code=204,
               response_class=Response)
def remove_member(request: Request, _session: Operator, id: PathId,
                  collaboratorId: PathId) -> Response:
    kernel_of(request).remove_group_member(id, collaboratorId)
    return Response(status_code=204)


@router.put("/programs/{id}")
def bind_program(request: Request, _session: Operator, id: PathId,
                 collaboratorGroupId: Annotated[str | None, Body(embed=True, max_length=255)]
                 ) -> dict[str, Any]:
    """Bind a program to a group (``collaboratorGroupId``; ``null`` unbinds)."""
    kernel = kernel_of(request)
    kernel.bind_program(id, collaboratorGroupId)
    program = kernel.program(id)
    return {"id": program.id, "name": program.name, "collaboratorGroupId": collaboratorGroupId}
