"""The store: the only part of siren-core that speaks SQL."""

from siren_core.store.engine import (
    DEFAULT_URL,
    create_schema,
    drop_schema,
    enclosing_transaction,
    is_sqlite,
    open_engine,
    unit_of_work,
)

__all__ = ["DEFAULT_URL", "create_schema", "drop_schema", "enclosing_transaction", "is_sqlite",
           "open_engine", "unit_of_work"]
