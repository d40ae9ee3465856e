"""Distribution: the due index in the claim's order, ``(status, period_end, id)``, so
that claiming the oldest free due period walks the index and stops at the first row it
can lock, instead of sorting every due period for each claim (1,000 periods due at once
made every claim sort 1,000 rows: the heartbeat grew with the square of its periods).

Revision ID: 0012_claim_order
Revises: 0011_perf2
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0012_claim_order"
down_revision = "0011_perf2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("distribution") as batch_op:
        batch_op.drop_index("ix_distribution_due")
        batch_op.create_index("ix_distribution_due", ["status", "period_end", "id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("distribution") as batch_op:
        batch_op.drop_index("ix_distribution_due")
        batch_op.create_index("ix_distribution_due", ["status", "period_end"], unique=False)
