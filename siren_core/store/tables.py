"""Every table of the store, as SQLModel classes. Nothing outside ``siren_core.store``
imports this module: the rest of the engine works with the attrs values of
``siren_core.domain``.

Times are stored as naive UTC (``UTCDateTime`` converts at the boundary); money as
``BIGINT`` minor units; configuration as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from siren_core.domain import RATE_LENGTH

metadata = SQLModel.metadata


class _Table(SQLModel):
    """The base of every table: its pydantic schema is built only if something validates
    through it, and nothing does (the store builds no model instances), so a process pays
    for the table's columns, not for 32 validators and serialisers."""

    model_config = SQLModel.model_config | {"defer_build": True}


def table(model: type[Any]) -> sa.Table:
    """The Core table of a model, for set-based statements."""
    return cast(sa.Table, model.__table__)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


LAST_ERROR_LENGTH = 1000
"""How much of a failing period's last error is kept."""


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _money(**kwargs: Any) -> Any:
    return Field(sa_type=sa.BigInteger, **kwargs)


def _json(**kwargs: Any) -> Any:
    return Field(sa_type=sa.JSON, **kwargs)


def _partial_index(name: str, *columns: str, where: str) -> sa.Index:
    """A unique index over the rows ``where`` holds, partial on every store. The clause
    goes to a dialect when that dialect first creates or compares the schema
    (:func:`declare_partial_indexes`): naming it for each dialect here
    (``postgresql_where=``) makes SQLAlchemy load every dialect it names to check the
    name, and a SQLite process would carry PostgreSQL's dialect and its drivers' modules
    (2 MB) that it never uses."""
    return sa.Index(name, *columns, unique=True, info={"where": where})


class Collaborator(_Table, table=True):
    __tablename__ = "collaborator"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=255)
    status: str = Field(max_length=16, default="active")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Distributor(_Table, table=True):
    """``hold_days`` repeats the configuration's key (written with it) so that the
    heartbeat finds the distributors with a hold period in one indexed query."""

    __tablename__ = "distributor"
    __table_args__ = (sa.Index("ix_distributor_hold_days", "hold_days"),)
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    units: str = Field(max_length=16)
    status: str = Field(max_length=16, default="active")
    config: dict[str, Any] = _json()
    config_version: int = 1
    hold_days: int | None = None
    created_at: datetime = _when()
    updated_at: datetime = _when()


class DistributorStamp(_Table, table=True):
    """One row (``id`` 1), its ``stamp`` raised by every write of a ``distributor`` row
    (in the writing transaction), so that a cache of the distributors checks one
    primary-key row instead of every distributor's version. No row yet: stamp 0."""

    __tablename__ = "distributor_stamp"
    id: int | None = Field(default=None, primary_key=True)
    stamp: int = Field(sa_type=sa.BigInteger, default=0)


class DistributorConfig(_Table, table=True):
    """Every configuration a distributor ever had, so allocations stay explainable."""

    __tablename__ = "distributor_config"
    __table_args__ = (sa.UniqueConstraint("distributor_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    distributor_id: int = Field(foreign_key="distributor.id")
    version: int
    config: dict[str, Any] = _json()
    created_at: datetime = _when()


class Distribution(_Table, table=True):
    """One period of a distributor; ``open`` until distributed."""

    __tablename__ = "distribution"
    __table_args__ = (
        sa.UniqueConstraint("distributor_id", "period_index"),
        sa.Index("ix_distribution_due", "status", "period_end", "id"),  # the claim's order
    )
    id: int | None = Field(default=None, primary_key=True)
    distributor_id: int = Field(foreign_key="distributor.id")
    period_index: int
    period_start: datetime = _when()
    period_end: datetime = _when()
    units: str = Field(max_length=16)
    """The currency of the period's pool and allocations, fixed when the period opens."""
    status: str = Field(max_length=16, default="open")
    pool: int | None = _money(default=None)
    revenue: int | None = _money(default=None)
    reason: str | None = Field(default=None, max_length=64)
    config_version: int | None = None
    calculator: str | None = Field(default=None, max_length=255)
    completed_at: datetime | None = _when(default=None)
    failures: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    """Attempts to distribute the period that failed and were rolled back (kept once the
    period is distributed, as its history)."""
    last_error: str | None = Field(default=None, max_length=LAST_ERROR_LENGTH)
    last_failed_at: datetime | None = _when(default=None)
    carried_in: int = _money(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    """The part of ``pool`` carried forward from the periods before (``unallocated =
    "carry_forward"``), set when the period opens."""
    carried_out: int = _money(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    """What this period, having allocated nothing, passed on to the next one."""


class SourceEvent(_Table, table=True):
    """One recorded source event; ``(kind, key)`` is its idempotency key."""

    __tablename__ = "source_event"
    __table_args__ = (sa.UniqueConstraint("kind", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=64)
    key: str = Field(max_length=255)
    occurred_at: datetime = _when()
    recorded_at: datetime = _when()
    collaborator_id: int | None = Field(default=None, foreign_key="collaborator.id")
    amount: int | None = _money(default=None)
    currency: str | None = Field(default=None, max_length=16)
    digest: str = Field(max_length=64)
    payload: str


class ScoreCredit(_Table, table=True):
    """Points (and qualifying revenue) one source event gave one distributor.

    A credit counts in the period whose window holds ``effective_at``: the event's own
    time, or the start of the open period when the event's period was already distributed.
    ``collaborator_id`` is null for revenue that credits no one (organic sales).
    """

    __tablename__ = "score_credit"
    __table_args__ = (
        # Covering: a period's score and revenue sums read the index alone.
        sa.Index("ix_score_credit_window", "distributor_id", "effective_at",
                 "collaborator_id", "points", "revenue"),
        sa.Index("ix_score_credit_source_event", "source_event_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    distributor_id: int = Field(foreign_key="distributor.id")
    source_event_id: int = Field(foreign_key="source_event.id")
    collaborator_id: int | None = Field(default=None, foreign_key="collaborator.id")
    metric_type: str = Field(max_length=64)
    rule: str = Field(max_length=64)
    layer: int = 0
    points: int = Field(sa_type=sa.BigInteger, default=0)
    revenue: int = _money(default=0)
    effective_at: datetime = _when()
    late: bool = False


class CreditConversion(_Table, table=True):
    """The exchange rate a source event's money was converted at for one distributor.

    Written beside the event's ``score_credit`` rows when its currency (``base``) differs
    from the distributor's units (``quote``): ``amount`` is the event's amount in minor
    units of ``base``, ``converted`` the same at ``rate`` in minor units of ``quote``
    (rounded half-even), ``rate`` the exact decimal text ``provider`` answered. A refund's
    rows carry the rate of the sale it refunds.
    """

    __tablename__ = "credit_conversion"
    __table_args__ = (
        sa.UniqueConstraint("source_event_id", "distributor_id", "metric_type"),
    )
    id: int | None = Field(default=None, primary_key=True)
    source_event_id: int = Field(foreign_key="source_event.id")
    distributor_id: int = Field(foreign_key="distributor.id")
    metric_type: str = Field(max_length=64)
    base: str = Field(max_length=16)
    quote: str = Field(max_length=16)
    rate: str = Field(max_length=RATE_LENGTH)
    provider: str = Field(max_length=255)
    amount: int = _money()
    converted: int = _money()


class ExchangeRate(_Table, table=True):
    """1 ``base`` = ``rate`` ``quote`` (exact decimal text) from ``valid_from`` (00:00 UTC
    of a date) until the next rate of the pair."""

    __tablename__ = "exchange_rate"
    __table_args__ = (sa.UniqueConstraint("base", "quote", "valid_from"),)
    id: int | None = Field(default=None, primary_key=True)
    base: str = Field(max_length=16)
    quote: str = Field(max_length=16)
    valid_from: datetime = _when()
    rate: str = Field(max_length=RATE_LENGTH)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class StoreSetting(_Table, table=True):
    """Facts about the store itself, by key.

    ``credits_accounted_from_event``: the first source event id whose credits are fully
    accounted for (a credit or a ``credit_skip`` row per tracking distributor); written by
    the migration that introduced ``credit_skip``, so that ``siren doctor --verify`` does
    not hold events recorded before it to a rule they could not follow.
    """

    __tablename__ = "store_setting"
    key: str = Field(max_length=64, primary_key=True)
    value: str = Field(max_length=255)


class CreditSkip(_Table, table=True):
    """Why a source event credited no one for a distributor that tracked its metric type.

    Written when the event is recorded, beside (instead of) its ``score_credit`` rows, so
    that every recorded event can be accounted for per distributor (``siren doctor
    --verify``): it either credited someone there or says why it did not.
    """

    __tablename__ = "credit_skip"
    __table_args__ = (sa.Index("ix_credit_skip_source_event", "source_event_id"),)
    id: int | None = Field(default=None, primary_key=True)
    source_event_id: int = Field(foreign_key="source_event.id")
    distributor_id: int = Field(foreign_key="distributor.id")
    metric_type: str = Field(max_length=64)
    reason: str = Field(max_length=64)


class Allocation(_Table, table=True):
    __tablename__ = "allocation"
    __table_args__ = (sa.UniqueConstraint("distribution_id", "collaborator_id"),)
    id: int | None = Field(default=None, primary_key=True)
    distribution_id: int = Field(foreign_key="distribution.id")
    collaborator_id: int = Field(foreign_key="collaborator.id")
    score: int = Field(sa_type=sa.BigInteger)
    amount: int = _money()


class Obligation(_Table, table=True):
    """Money owed to a collaborator; one per ``(source, source_id)``."""

    __tablename__ = "obligation"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id"),
        sa.Index("ix_obligation_collaborator", "collaborator_id", "status"),
        sa.Index("ix_obligation_status", "status", "created_at"),
        sa.Index("ix_obligation_payout", "payout_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    collaborator_id: int = Field(foreign_key="collaborator.id")
    amount: int = _money()
    units: str = Field(max_length=16)
    status: str = Field(max_length=16, default="pending")
    award_type: str = Field(max_length=32, default="distribution")
    source: str = Field(max_length=32)
    source_id: int
    created_at: datetime = _when()
    updated_at: datetime = _when()
    payout_id: int | None = Field(default=None, foreign_key="payout.id")
    """The open payout holding this obligation, or the payout that fulfilled it."""


class Fulfillment(_Table, table=True):
    """A batch of payouts; ``pending`` → ``processing`` → ``complete`` | ``failed``."""

    __tablename__ = "fulfillment"
    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(max_length=16, default="pending")
    actor: str = Field(max_length=255)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Payout(_Table, table=True):
    """What one collaborator is paid in one currency by one fulfillment."""

    __tablename__ = "payout"
    __table_args__ = (sa.Index("ix_payout_fulfillment", "fulfillment_id"),)
    id: int | None = Field(default=None, primary_key=True)
    fulfillment_id: int = Field(foreign_key="fulfillment.id")
    collaborator_id: int = Field(foreign_key="collaborator.id")
    units: str = Field(max_length=16)
    amount: int = _money()
    status: str = Field(max_length=16, default="unpaid")
    reference: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class PayoutItem(_Table, table=True):
    """One obligation in one payout. ``is_open`` while the payout is unpaid or processing:
    the partial unique index lets an obligation be in at most one open payout."""

    __tablename__ = "payout_item"
    __table_args__ = (
        _partial_index("ux_payout_item_open_obligation", "obligation_id", where="is_open"),
        sa.Index("ix_payout_item_payout", "payout_id"),
        sa.Index("ix_payout_item_obligation", "obligation_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    payout_id: int = Field(foreign_key="payout.id")
    obligation_id: int = Field(foreign_key="obligation.id")
    amount: int = _money()
    is_open: bool = True


class ObligationAudit(_Table, table=True):
    """Append-only: every status change of an obligation, who made it, when and why."""

    __tablename__ = "obligation_audit"
    __table_args__ = (sa.Index("ix_obligation_audit_obligation", "obligation_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    actor: str = Field(max_length=255)
    reason: str | None = Field(default=None, max_length=2000)
    """The caller's reason (at most 1000 characters), or what happened around it."""
    payout_id: int | None = Field(default=None, foreign_key="payout.id")
    at: datetime = _when()


class SaleRefund(_Table, table=True):
    """A refund (a ``refund`` source event) and the sale it refunds, with its amount.

    The refunds of a sale add up to at most the sale's amount; their score reversals are
    the ``score_credit`` rows of the refund's source event.
    """

    __tablename__ = "sale_refund"
    id: int | None = Field(default=None, primary_key=True)
    refund_event_id: int = Field(foreign_key="source_event.id", unique=True)
    sale_event_id: int = Field(foreign_key="source_event.id", index=True)
    amount: int = _money()


# -- collaborator groups, bindings, programs (see docs/groups.md) -------------------------

class CollaboratorGroup(_Table, table=True):
    """A collaborator group. Deleting one sets ``status = 'deleted'`` and drops its members;
    the row stays so that bindings still naming it fail closed with a clear reason.
    ``version`` grows with every change of roster, metadata or structure (a cache key)."""

    __tablename__ = "collaborator_group"
    __table_args__ = (
        _partial_index("ux_collaborator_group_live_id", "external_id",
                       where="status = 'active'"),
    )
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=255)
    name: str = Field(max_length=255)
    description: str = ""
    structure: str = Field(max_length=64)
    status: str = Field(max_length=16, default="active")
    version: int = 1
    created_at: datetime = _when()
    updated_at: datetime = _when()


class CollaboratorGroupMember(_Table, table=True):
    __tablename__ = "collaborator_group_member"
    __table_args__ = (
        sa.UniqueConstraint("group_id", "collaborator_id"),
        sa.Index("ix_collaborator_group_member_collaborator", "collaborator_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="collaborator_group.id")
    collaborator_id: int = Field(foreign_key="collaborator.id")
    member_metadata: dict[str, Any] = _json(default_factory=dict)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class CollaboratorGroupBinding(_Table, table=True):
    """A distributor or program (``owner_type``) bound to at most one group."""

    __tablename__ = "collaborator_group_binding"
    __table_args__ = (sa.UniqueConstraint("owner_type", "owner_id"),)
    id: int | None = Field(default=None, primary_key=True)
    owner_type: str = Field(max_length=16)
    owner_id: int
    group_id: int = Field(foreign_key="collaborator_group.id", index=True)
    created_at: datetime = _when()


class Program(_Table, table=True):
    """A per-conversion reward rule; here only what group bindings and eligibility need."""

    __tablename__ = "program"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    status: str = Field(max_length=16, default="active")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class ProgramCollaborator(_Table, table=True):
    """A collaborator bound directly to a program (eligibility)."""

    __tablename__ = "program_collaborator"
    __table_args__ = (sa.UniqueConstraint("program_id", "collaborator_id"),)
    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id")
    collaborator_id: int = Field(foreign_key="collaborator.id")


# -- the HTTP service (siren serve, see docs/service.md) ----------------------------------

class ApiKey(_Table, table=True):
    """An API key of ``siren serve``: only a SHA-256 of the key is kept, beside the visible
    ``prefix`` it is looked up by. ``window_start``/``window_count`` are the per-key rate
    limit's current window, counted in the store so that every server process shares it."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    prefix: str = Field(max_length=32, unique=True)
    key_hash: str = Field(max_length=64)
    scopes: list[str] = _json()
    label: str | None = Field(default=None, max_length=255)
    created_at: datetime = _when()
    expires_at: datetime | None = _when(default=None)
    revoked_at: datetime | None = _when(default=None)
    last_used_at: datetime | None = _when(default=None)
    window_start: datetime | None = _when(default=None)
    window_count: int = 0


class Opportunity(_Table, table=True):
    """An attribution record: a referred visit of ``collaborator_id`` (and, optionally, the
    application's user). A sale's ``trackingId`` names one, and so its collaborator."""

    __tablename__ = "opportunity"
    id: int | None = Field(default=None, primary_key=True)
    collaborator_id: int = Field(foreign_key="collaborator.id", index=True)
    user_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = _when()


# -- webhooks: subscriptions, the transactional outbox, deliveries (docs/webhooks.md) -----

class WebhookSubscription(_Table, table=True):
    """Where and what to deliver. ``secret`` signs every delivery (HMAC-SHA256); it is
    shown once, when the subscription is created, and never read out again. ``events``
    holds names (``*``: all); a deleted subscription keeps its row (status ``deleted``)
    so that its deliveries stay readable."""

    __tablename__ = "webhook_subscription"
    id: int | None = Field(default=None, primary_key=True)
    target_url: str = Field(max_length=2048)
    events: list[str] = _json()
    description: str | None = Field(default=None, max_length=1000)
    secret: str = Field(max_length=128)
    status: str = Field(max_length=16, default="active", index=True)
    created_at: datetime = _when()


class WebhookEvent(_Table, table=True):
    """The outbox: one row per event some subscription wanted, written in the transaction
    of the change it reports. ``id`` is the commit order (writers of the outbox take one
    lock on PostgreSQL, so ids ascend in the order their transactions commit);
    ``delivery_id`` (``evt_…``) is the ``X-Siren-Delivery`` of every attempt; ``body``
    the exact JSON sent."""

    __tablename__ = "webhook_event"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=128)
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = _when()


class WebhookDelivery(_Table, table=True):
    """One event for one subscription: ``pending`` (due at ``next_attempt_at``; a worker
    holds it until ``leased_until``), ``delivered`` or ``failed`` (dead: the attempts ran
    out; ``siren webhooks resend`` makes it pending again)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id"),
        sa.Index("ix_webhook_delivery_due", "status", "event_id"),
        sa.Index("ix_webhook_delivery_head", "subscription_id", "status", "event_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="webhook_subscription.id")
    event_id: int = Field(foreign_key="webhook_event.id")
    status: str = Field(max_length=16, default="pending")
    attempts: int = 0
    next_attempt_at: datetime = _when()
    leased_until: datetime | None = _when(default=None)
    delivered_at: datetime | None = _when(default=None)


class WebhookAttempt(_Table, table=True):
    """One POST of a delivery and its outcome: the HTTP status (``None`` when no answer
    came) or the error, and how long it took."""

    __tablename__ = "webhook_attempt"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    at: datetime = _when()
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=LAST_ERROR_LENGTH)
    duration_ms: int = 0


# -- operators of the admin API and the dashboard (docs/dashboard.md) ---------------------

class Operator(_Table, table=True):
    """A person who runs the engine over the web: ``password_hash`` is an Argon2id hash
    (the password itself is never stored); a ``disabled`` operator opens nothing."""

    __tablename__ = "operator"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    status: str = Field(max_length=16, default="active")
    created_at: datetime = _when()
    disabled_at: datetime | None = _when(default=None)


class OperatorSession(_Table, table=True):
    """A logged-in operator: the cookie's token is kept only as a SHA-256; the session
    ends at ``expires_at`` or when the operator logs out (``ended_at``)."""

    __tablename__ = "operator_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    operator_id: int = Field(foreign_key="operator.id", index=True)
    created_at: datetime = _when()
    expires_at: datetime = _when()
    ended_at: datetime | None = _when(default=None)


class LoginFailure(_Table, table=True):
    """A refused login, by the name it gave: the login rate limit counts these in the
    store, so that every server process shares it."""

    __tablename__ = "login_failure"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    at: datetime = _when()


def declare_partial_indexes(dialect: str) -> None:
    """Give ``dialect`` the ``WHERE`` clause of each partial index (see
    :func:`_partial_index`), before its first DDL or schema comparison; once is enough."""
    for index in _PARTIAL_INDEXES:
        options = index.dialect_options[dialect]
        if options.get("where") is None:
            options["where"] = sa.text(index.info["where"])


def _declare_before_create(target: sa.Table, connection: sa.Connection, **_: Any) -> None:
    declare_partial_indexes(connection.dialect.name)


_PARTIAL_INDEXES = [index for model_table in metadata.tables.values()
                    for index in model_table.indexes if "where" in index.info]
for _table_of_index in {index.table for index in _PARTIAL_INDEXES}:
    sa.event.listen(_table_of_index, "before_create", _declare_before_create)
