"""``/api-keys`` (the SDK's ``client.api_keys``) with an operator's session: mint a key
(its raw value answered once), list them (revoked ones too, at most 200 a page), revoke
one. An API key never opens these routes (401 ``api_key_not_accepted``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from siren_core.errors import InvalidInput, NotFound
from siren_core.money import INT64_MAX
from siren_core.service import keys
from siren_core.service.admin.guard import CHECKED, REFUSALS, Operator
from siren_core.service.admin.models import ApiKeyCreate, ApiKeyOut
from siren_core.service.ledger import COUNT_HEADER, MAX_PAGE
from siren_core.service.problems import invalid_field
from siren_core.store import service_queries as sq
from siren_core.store.service_queries import ApiKeyRow
from siren_core.times import iso_utc

router = APIRouter(tags=["api keys"], responses=REFUSALS, dependencies=CHECKED)
Number = Annotated[int, Query(ge=1, le=INT64_MAX, description="Page size (at most 200)")]
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="First row")]


def key_json(key: ApiKeyRow, now: datetime, raw: str | None = None) -> dict[str, Any]:
    return ApiKeyOut(
        id=key.id, keyPrefix=key.prefix, label=key.label, status=keys.key_status(key, now),
        scopes=list(key.scopes), createdAt=iso_utc(key.created_at) or "",
        expiresAt=iso_utc(key.expires_at), lastUsedAt=iso_utc(key.last_used_at),
        revokedAt=iso_utc(key.revoked_at), rawKey=raw).model_dump()


def _expiry(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_field("expiresAt", f"expiresAt {text!r} is not an ISO 8601 time"
                            ) from None
    if value.tzinfo is None:
        raise invalid_field("expiresAt", "expiresAt must name its offset (Z or +hh:mm)")
    return value


@router.post("/api-keys", status_code=201, response_model=ApiKeyOut)
def create(request: Request, _session: Operator, body: ApiKeyCreate) -> dict[str, Any]:
    """Mint a key; ``rawKey`` is in this answer only. siren-core has no stores
    (Properties): ``propertyId`` is refused."""
    if body.propertyId is not None:
        raise invalid_field("propertyId", "propertyId: siren-core has no properties")
    kernel = request.app.state.kernel
    try:
        minted = keys.create_key(kernel, body.scopes, label=body.label,
                                 expires_at=_expiry(body.expiresAt))
    except InvalidInput as exc:
        field = {"scope": "scopes", "expires": "expiresAt"}.get(exc.field, exc.field)
        raise invalid_field(field, f"{field} {exc.problem}") from None
    return key_json(minted.key, kernel.clock(), minted.raw)


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_(request: Request, _session: Operator, number: Number = 200,
          offset: Offset = 0) -> JSONResponse:
    """Keys, oldest first, revoked ones too (never their raw value)."""
    kernel = request.app.state.kernel
    found = keys.list_keys(kernel)
    page = found[offset:offset + min(number, MAX_PAGE)]
    now = kernel.clock()
    return JSONResponse([key_json(k, now) for k in page],
                        headers={COUNT_HEADER: str(len(found))})


@router.delete("/api-keys/{id}", status_code=204, response_class=Response)
def revoke(request: Request, _session: Operator, id: int) -> Response:
    """Revoke a key (revoking it again changes nothing)."""
    if not 1 <= id <= sq.KEY_MAX:
        raise NotFound("api key", id)
    keys.revoke_key(request.app.state.kernel, id)
    return Response(status_code=204)
