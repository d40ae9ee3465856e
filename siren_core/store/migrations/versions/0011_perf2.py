"""Recording: ``distributor_stamp``, one row raised by every write of a distributor, so
that the distributor cache checks one primary-key row on each recording instead of every
distributor's version.

Revision ID: 0011_perf2
Revises: 0010_dashboard
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_perf2"
down_revision = "0010_dashboard"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distributor_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Any value will do for the distributors already stored: caches start empty.
    op.execute("INSERT INTO distributor_stamp (id, stamp) VALUES (1, 1)")


def downgrade() -> None:
    op.drop_table("distributor_stamp")
