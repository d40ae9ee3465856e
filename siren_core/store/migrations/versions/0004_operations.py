"""Operations: a period that fails to distribute keeps its failure count, its last error
and when it last failed (``siren doctor`` and ``siren distributions`` show them).

Revision ID: 0004_operations
Revises: 0003_reliability
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_operations"
down_revision = "0003_reliability"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False,
                                      server_default=sa.text("0")))
        batch_op.add_column(sa.Column("last_error", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("last_failed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.drop_column("last_failed_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("failures")
