"""Carried pools: a period records what it carried in from the periods before and what
it carried out to the next (``unallocated = "carry_forward"``), so that every minor unit
of a pool that allocated nothing is explained.

Revision ID: 0005_decline
Revises: 0004_operations
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_decline"
down_revision = "0004_operations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carried_in", sa.BigInteger(), nullable=False,
                                      server_default=sa.text("0")))
        batch_op.add_column(sa.Column("carried_out", sa.BigInteger(), nullable=False,
                                      server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.drop_column("carried_out")
        batch_op.drop_column("carried_in")
