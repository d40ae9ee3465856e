"""Every table of the store, as SQLModel classes. Nothing outside ``siren_core.store``
imports this module: the rest of the engine works with the attrs values of
``siren_core.domain``.

Times are stored as naive UTC (``UTCDateTime`` converts at the boundary); money as
``BIGINT`` minor units; configuration as JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

metadata = SQLModel.metadata


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


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


def _money(**kwargs: Any) -> Any:
    return Field(sa_type=sa.BigInteger, **kwargs)


def _json(**kwargs: Any) -> Any:
    return Field(sa_type=sa.JSON, **kwargs)


class Collaborator(SQLModel, table=True):
    __tablename__ = "collaborator"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=255)
    status: str = Field(max_length=16, default="active")
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Distributor(SQLModel, table=True):
    __tablename__ = "distributor"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    units: str = Field(max_length=16)
    status: str = Field(max_length=16, default="active")
    config: dict[str, Any] = _json()
    config_version: int = 1
    created_at: datetime = _when()
    updated_at: datetime = _when()


class DistributorConfig(SQLModel, table=True):
    """Every configuration a distributor ever had, so allocations stay explainable."""

    __tablename__ = "distributor_config"
    __table_args__ = (sa.UniqueConstraint("distributor_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    distributor_id: int = Field(foreign_key="distributor.id")
    version: int
    config: dict[str, Any] = _json()
    created_at: datetime = _when()


class Distribution(SQLModel, table=True):
    """One period of a distributor; ``open`` until distributed."""

    __tablename__ = "distribution"
    __table_args__ = (
        sa.UniqueConstraint("distributor_id", "period_index"),
        sa.Index("ix_distribution_due", "status", "period_end"),
    )
    id: int | None = Field(default=None, primary_key=True)
    distributor_id: int = Field(foreign_key="distributor.id")
    period_index: int
    period_start: datetime = _when()
    period_end: datetime = _when()
    status: str = Field(max_length=16, default="open")
    pool: int | None = _money(default=None)
    revenue: int | None = _money(default=None)
    reason: str | None = Field(default=None, max_length=64)
    config_version: int | None = None
    calculator: str | None = Field(default=None, max_length=255)
    completed_at: datetime | None = _when(default=None)


class SourceEvent(SQLModel, table=True):
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


class ScoreCredit(SQLModel, table=True):
    """Points (and qualifying revenue) one source event gave one distributor.

    A credit counts in the period whose window holds ``effective_at``: the event's own
    time, or the start of the open period when the event's period was already distributed.
    ``collaborator_id`` is null for revenue that credits no one (organic sales).
    """

    __tablename__ = "score_credit"
    __table_args__ = (sa.Index("ix_score_credit_window", "distributor_id", "effective_at"),)
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


class Allocation(SQLModel, table=True):
    __tablename__ = "allocation"
    __table_args__ = (sa.UniqueConstraint("distribution_id", "collaborator_id"),)
    id: int | None = Field(default=None, primary_key=True)
    distribution_id: int = Field(foreign_key="distribution.id")
    collaborator_id: int = Field(foreign_key="collaborator.id")
    score: int = Field(sa_type=sa.BigInteger)
    amount: int = _money()


class Obligation(SQLModel, table=True):
    """Money owed to a collaborator; one per ``(source, source_id)``."""

    __tablename__ = "obligation"
    __table_args__ = (
        sa.UniqueConstraint("source", "source_id"),
        sa.Index("ix_obligation_collaborator", "collaborator_id", "status"),
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
