"""The admin API's shapes (camelCase, as Siren's): requests are checked, unknown fields
refused; answers document the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from siren_core.money import INT64_MAX

Text = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class OperatorOut(BaseModel):
    id: int
    name: str
    status: str


class SessionOut(BaseModel):
    operator: OperatorOut
    csrfToken: str
    """Send it back in ``X-CSRF-Token`` on every write."""
    expiresAt: str


class ApiKeyCreate(_Body):
    scopes: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=80)]],
                      Field(min_length=1, max_length=50)]
    label: Text | None = None
    expiresAt: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    propertyId: Annotated[StrictInt, Field(ge=1, le=INT64_MAX)] | None = None


class ApiKeyOut(BaseModel):
    id: int
    keyPrefix: str
    label: str | None
    status: str
    scopes: list[str]
    createdAt: str
    expiresAt: str | None
    lastUsedAt: str | None
    revokedAt: str | None
    propertyId: int | None = None
    rawKey: str | None = None
    """Only in the answer to ``POST /api-keys``: store it, it is never shown again."""
