"""The dashboard's pages (reads): overview, distribution, collaborator, obligations,
fulfillments, groups, webhooks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from siren_core.errors import SirenError
from siren_core.groups.values import GroupMember
from siren_core.service.admin import views
from siren_core.service.admin.distributors import extended
from siren_core.service.admin.guard import kernel_of
from siren_core.service.dashboard.guard import Page
from siren_core.webhooks import subscriptions

router = APIRouter()
Filter = Annotated[str | None, Query(max_length=255)]
RECENT = 12


def _render(request: Request, template: str, **context: Any) -> HTMLResponse:
    page: HTMLResponse = request.app.state.render(request, template, 200, **context)
    return page


def chart(labels: list[str], values: list[int], units: str) -> str:
    """The data of a bar chart (``static/dashboard.js`` draws it with uPlot)."""
    return json.dumps({"labels": labels, "values": values, "units": units})


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, _session: Page) -> HTMLResponse:
    """Distributors with their schedule, the open period's preview, the last periods'
    pools as a chart, doctor warnings first."""
    kernel = kernel_of(request)
    rows = []
    for d in kernel.distributors():
        if d.spec.status == "deleted":
            continue
        try:
            preview: Any = kernel.preview(d.id)
        except SirenError:
            preview = None
        done = [p for p in kernel.distributions(distributor=d.id)
                if p.status == "completed"][-RECENT:]
        rows.append({"d": extended(kernel, d), "preview": preview,
                     "leaders": sorted(preview.outcome.allocations,
                                       key=lambda a: (-a[3], a[1]))[:3] if preview else [],
                     "recent": list(reversed(done)),
                     "chart": chart([f"{p.period_start:%Y-%m-%d}" for p in done],
                                    [p.pool or 0 for p in done], d.spec.units)})
    return _render(request, "overview.html", findings=kernel.doctor(), rows=rows)


@router.get("/distributions/{id}", response_class=HTMLResponse)
def distribution(request: Request, _session: Page, id: int) -> HTMLResponse:
    """A distribution: its pool, each allocation with the score behind it, the split."""
    kernel = kernel_of(request)
    found = kernel.distribution(id)
    allocations = views.allocations_json(kernel.allocations(id), kernel.allocation_credits(id))
    ranked = sorted(allocations, key=lambda a: -a["amount"])
    return _render(request, "distribution.html", d=found, allocations=ranked,
                   chart=chart([a["collaboratorExternalId"] for a in ranked],
                               [a["amount"] for a in ranked], found.units))


@router.get("/collaborators/{id}", response_class=HTMLResponse)
def collaborator(request: Request, _session: Page, id: str) -> HTMLResponse:
    """A collaborator: credits, allocations, obligations and payouts over time."""
    kernel = kernel_of(request)
    person = kernel.collaborator(id)
    allocations = [a for a in kernel.allocations() if a.collaborator == id]
    return _render(request, "collaborator.html", person=person,
                   credits=kernel.credits(id), allocations=allocations,
                   obligations=kernel.obligations(collaborator=id),
                   payouts=[p for p in kernel.payouts() if p.collaborator == id],
                   chart=chart([str(a.distribution_id) for a in allocations],
                               [a.amount for a in allocations],
                               allocations[0].units if allocations else ""))


@router.get("/obligations", response_class=HTMLResponse)
def obligations(request: Request, _session: Page, status: Filter = None,
                distributor: Filter = None, done: Filter = None) -> HTMLResponse:
    """Obligations, filtered by status and distributor, to approve or reject in bulk."""
    kernel = kernel_of(request)
    try:
        found = kernel.select_obligations(distributor=distributor or None,
                                          status=status or None)
    except SirenError as exc:
        found, done = (), str(exc)
    return _render(request, "obligations.html", obligations=found, status=status or "",
                   distributor=distributor or "", done=done,
                   distributors=[d.id for d in kernel.distributors()])


@router.get("/fulfillments", response_class=HTMLResponse)
def fulfillments(request: Request, _session: Page, done: Filter = None) -> HTMLResponse:
    kernel = kernel_of(request)
    approved = kernel.obligations(status="approved")
    return _render(request, "fulfillments.html", done=done,
                   fulfillments=list(reversed(kernel.fulfillments())),
                   approved=len(approved))


def _tree(members: Sequence[GroupMember]) -> list[dict[str, Any]]:
    """Members as a tree by their ``parent`` metadata (roots first, in roster order)."""
    children: dict[str | None, list[GroupMember]] = {}
    names = {m.collaborator for m in members}
    for m in members:
        parent = m.metadata.get("parent")
        children.setdefault(parent if parent in names else None, []).append(m)

    def grow(parent: str | None) -> list[dict[str, Any]]:
        return [{"member": m, "children": grow(m.collaborator)}
                for m in children.get(parent, [])]

    return grow(None)


@router.get("/groups", response_class=HTMLResponse)
def groups(request: Request, _session: Page) -> HTMLResponse:
    """Groups: a parent-child group's tree, a chain's order, a flat roster; bindings."""
    kernel = kernel_of(request)
    shown = []
    for g in kernel.groups():
        members = kernel.group_members(g.id)
        shown.append({"group": g, "members": members, "tree": _tree(members)})
    bindings = [(d.id, kernel.distributor_group(d.id)) for d in kernel.distributors()]
    return _render(request, "groups.html", groups=shown,
                   bindings=[b for b in bindings if b[1]])


@router.get("/webhooks", response_class=HTMLResponse)
def webhooks(request: Request, _session: Page, done: Filter = None) -> HTMLResponse:
    """Subscriptions and their latest deliveries; failed ones can be sent again."""
    engine = kernel_of(request).engine
    rows, _total = subscriptions.page(engine, number=200)
    shown = [{"s": s, "deliveries": [subscriptions.delivery_json(*d) for d in
                                     subscriptions.deliveries(engine, subscription_id=s.id,
                                                              number=50)]}
             for s in rows]
    return _render(request, "webhooks.html", subscriptions=shown, done=done)
