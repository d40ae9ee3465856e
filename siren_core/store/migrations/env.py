"""Alembic environment: runs on the connection siren-core hands it (``siren db upgrade``),
or on ``sqlalchemy.url`` when run by the ``alembic`` command itself."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context

from siren_core.store.tables import UTCDateTime, declare_partial_indexes, metadata

config = context.config


def render_item(kind: str, value: Any, autogen_context: Any) -> str | Literal[False]:
    """Write siren-core's column types as plain SQLAlchemy types in migration scripts."""
    if kind == "type" and isinstance(value, UTCDateTime):
        return "sa.DateTime()"
    if kind == "type" and type(value).__name__ == "AutoString":
        return f"sa.String(length={value.length})" if value.length else "sa.String()"
    return False


def _configure(connection: sa.engine.Connection) -> None:
    declare_partial_indexes(connection.dialect.name)  # compared and rendered as partial
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata", metadata),
        render_as_batch=True,  # SQLite cannot ALTER most things in place
        render_item=render_item,
        compare_type=True,
    )


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


run()
