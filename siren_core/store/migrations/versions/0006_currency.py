"""Multi-currency: stored exchange rates, and the rate each converted credit used.

Revision ID: 0006_currency
Revises: 0005_decline
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_currency"
down_revision = "0005_decline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_rate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base", sa.String(length=16), nullable=False),
        sa.Column("quote", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("base", "quote", "valid_from"),
    )
    op.create_table(
        "credit_conversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_event_id", sa.Integer(), nullable=False),
        sa.Column("distributor_id", sa.Integer(), nullable=False),
        sa.Column("metric_type", sa.String(length=64), nullable=False),
        sa.Column("base", sa.String(length=16), nullable=False),
        sa.Column("quote", sa.String(length=16), nullable=False),
        sa.Column("rate", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("converted", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["distributor_id"], ["distributor.id"]),
        sa.ForeignKeyConstraint(["source_event_id"], ["source_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_event_id", "distributor_id", "metric_type"),
    )


def downgrade() -> None:
    op.drop_table("credit_conversion")
    op.drop_table("exchange_rate")
