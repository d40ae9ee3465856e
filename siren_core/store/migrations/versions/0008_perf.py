"""Performance: ``distributor.hold_days`` (indexed; the heartbeat's hold-period approval
finds the distributors that have one without reading every configuration) and a covering
``ix_score_credit_window`` (a period's score and revenue sums read the index alone).

Revision ID: 0008_perf
Revises: 0007_service
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008_perf"
down_revision = "0007_service"
branch_labels = None
depends_on = None

WINDOW = ("distributor_id", "effective_at")
COVERING = (*WINDOW, "collaborator_id", "points", "revenue")


def _config(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def upgrade() -> None:
    with op.batch_alter_table("distributor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_days", sa.Integer(), nullable=True))
        batch_op.create_index("ix_distributor_hold_days", ["hold_days"], unique=False)
    conn = op.get_bind()
    distributor = sa.table("distributor", sa.column("id", sa.Integer()),
                           sa.column("config", sa.JSON()),
                           sa.column("hold_days", sa.Integer()))
    for key, config in conn.execute(sa.select(distributor.c.id, distributor.c.config)).all():
        days = _config(config).get("hold_days")
        if days is not None:
            conn.execute(distributor.update().where(distributor.c.id == key)
                         .values(hold_days=int(days)))
    with op.batch_alter_table("score_credit", schema=None) as batch_op:
        batch_op.drop_index("ix_score_credit_window")
        batch_op.create_index("ix_score_credit_window", list(COVERING), unique=False)


def downgrade() -> None:
    with op.batch_alter_table("score_credit", schema=None) as batch_op:
        batch_op.drop_index("ix_score_credit_window")
        batch_op.create_index("ix_score_credit_window", list(WINDOW), unique=False)
    with op.batch_alter_table("distributor", schema=None) as batch_op:
        batch_op.drop_index("ix_distributor_hold_days")
        batch_op.drop_column("hold_days")
