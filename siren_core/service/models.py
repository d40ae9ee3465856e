"""The shapes of requests and answers, as Siren's contract has them (camelCase). They
document the API (``/siren/v1/openapi.json``) and check request bodies; money is an
exact decimal in major units on the way in (a JSON number is read as a decimal, never a
float) and integer minor units on the way out."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from siren_core.money import INT64_MAX

Id = Annotated[StrictInt, Field(ge=1, le=INT64_MAX)]
Money = Annotated[Decimal, Field(ge=0, max_digits=20, allow_inf_nan=False)]
ExternalId = Annotated[StrictStr, Field(min_length=1, max_length=200)] | Annotated[
    StrictInt, Field(ge=0, le=INT64_MAX)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SaleItem(_Body):
    externalId: ExternalId | None = None
    name: Text | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1
    amount: Money
    """Per unit, in major units."""


class SaleEvent(_Body):
    source: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    externalId: ExternalId
    total: Money
    trackingId: Id | None = None
    currency: Annotated[StrictStr, Field(min_length=1, max_length=16)] | None = None
    items: Annotated[list[SaleItem], Field(max_length=500)] | None = None


class RefundEvent(_Body):
    source: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    externalId: ExternalId


class SiteVisitedEvent(_Body):
    collaboratorId: Id
    userId: Annotated[StrictInt, Field(ge=0, le=INT64_MAX)] | None = None


class EventAnswer(BaseModel):
    status: str
    created: bool
    transactionId: int | None
    conversions: list[dict[str, Any]]
    message: str
    reason: str | None = None


class VisitAnswer(BaseModel):
    status: str
    attributed: bool
    opportunityId: int | None
    message: str
    reason: str | None = None


class ErrorDetail(BaseModel):
    message: str
    code: str | None = None
    context: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str


class ObligationOut(BaseModel):
    id: int
    collaboratorId: int | None
    collaboratorExternalId: str
    amount: int
    """Integer minor units of ``currency``."""
    currency: str
    status: str
    awardType: str
    source: str
    sourceId: int
    payoutId: int | None
    dateCreated: str


class PayoutOut(BaseModel):
    id: int
    fulfillmentId: int
    collaboratorId: int | None
    collaboratorExternalId: str
    amount: int
    currency: str
    status: str
    obligationIds: list[int]
    reference: str | None
    dateCreated: str
    dateModified: str


class TransactionOut(BaseModel):
    id: int
    type: str
    source: str | None
    externalId: str
    collaboratorId: int | None
    collaboratorExternalId: str | None
    amount: int | None
    currency: str | None
    occurredAt: str
    dateCreated: str


class ConversionOut(BaseModel):
    id: int


class WebhookCreate(_Body):
    targetUrl: Annotated[StrictStr, Field(min_length=1, max_length=2048)]
    events: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=128)]],
                      Field(min_length=1, max_length=100)]
    description: Annotated[StrictStr, Field(max_length=1000)] | None = None


class WebhookSubscriptionOut(BaseModel):
    id: int
    targetUrl: str
    events: list[str]
    description: str | None
    status: str
    dateCreated: str | None
    propertyId: int | None
    signingSecret: str | None = None
    """Only in the answer to ``POST /webhooks``: store it, it is never shown again."""


class WebhookEventType(BaseModel):
    name: str
    description: str


class WebhookAttemptOut(BaseModel):
    at: str | None
    statusCode: int | None
    error: str | None
    durationMs: int


class WebhookDeliveryOut(BaseModel):
    id: int
    subscriptionId: int
    deliveryId: str
    event: str
    status: str
    attempts: int
    nextAttemptAt: str | None
    deliveredAt: str | None
    dateCreated: str | None
    tries: list[WebhookAttemptOut]


class WebhookTestAnswer(BaseModel):
    deliveryId: str
