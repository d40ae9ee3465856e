"""Reliability: each period keeps its own units, an index for a sale's credits, and the
reasons an event credited no one (and, for a store that already holds events, the first
event that follows that rule).

Revision ID: 0003_reliability
Revises: 0002_payouts_refunds_groups
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reliability"
down_revision = "0002_payouts_refunds_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("units", sa.String(length=16), nullable=True))
    op.execute("UPDATE distribution SET units = (SELECT distributor.units FROM distributor "
               "WHERE distributor.id = distribution.distributor_id)")
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.alter_column("units", existing_type=sa.String(length=16), nullable=False)

    with op.batch_alter_table("score_credit", schema=None) as batch_op:
        batch_op.create_index("ix_score_credit_source_event", ["source_event_id"], unique=False)

    op.create_table(
        "credit_skip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_event_id", sa.Integer(), nullable=False),
        sa.Column("distributor_id", sa.Integer(), nullable=False),
        sa.Column("metric_type", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["distributor_id"], ["distributor.id"]),
        sa.ForeignKeyConstraint(["source_event_id"], ["source_event.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credit_skip", schema=None) as batch_op:
        batch_op.create_index("ix_credit_skip_source_event", ["source_event_id"], unique=False)

    op.create_table(
        "store_setting",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    # Events recorded before this revision wrote no credit_skip rows: accounting starts
    # with the next one.
    op.execute("INSERT INTO store_setting (key, value) SELECT 'credits_accounted_from_event', "
               "CAST(MAX(id) + 1 AS VARCHAR(255)) FROM source_event HAVING COUNT(*) > 0")


def downgrade() -> None:
    op.drop_table("store_setting")
    with op.batch_alter_table("credit_skip", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_skip_source_event")
    op.drop_table("credit_skip")
    with op.batch_alter_table("score_credit", schema=None) as batch_op:
        batch_op.drop_index("ix_score_credit_source_event")
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.drop_column("units")
