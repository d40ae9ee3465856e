"""The store: the only part of siren-core that speaks SQL.

The rest of the engine holds a ``Connection`` inside a unit of work and passes it to the
store's query modules; ``Connection``, ``Engine`` and the two database errors it may need
to tell apart (``IntegrityError``: a unique key refused a row; ``OperationalError``: the
database could not run a statement) are named here so that no other package imports the
database toolkit (an import-linter contract checks it).
"""

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from siren_core.store.engine import (
    DEFAULT_URL,
    create_schema,
    drop_schema,
    enclosing_transaction,
    is_sqlite,
    open_engine,
    unit_of_work,
)

__all__ = ["DEFAULT_URL", "Connection", "Engine", "IntegrityError", "OperationalError",
           "create_schema", "drop_schema", "enclosing_transaction", "is_sqlite",
           "open_engine", "unit_of_work"]
