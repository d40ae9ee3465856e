"""The store: the only part of siren-core that speaks SQL.

The rest of the engine holds a ``Connection`` inside a unit of work and passes it to the
store's query modules. ``Connection``, ``Engine`` and the database errors it may need to
tell apart are named here, so that no other package imports the database toolkit (an
import-linter contract checks it): ``IntegrityError`` (a unique key refused a row),
``OperationalError`` (the database could not run a statement) and ``DatabaseError`` (any
error of the driver; ``transient`` says whether it may pass, ``one_line`` describes it).
"""

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError as DatabaseError
from sqlalchemy.exc import IntegrityError, OperationalError

from siren_core.store.engine import (
    DEFAULT_URL,
    StoreUnavailable,
    connection_held,
    create_schema,
    dispose,
    drop_schema,
    enclosing_transaction,
    is_retryable,
    is_sqlite,
    masked,
    one_line,
    open_engine,
    open_store,
    retrying,
    single_read,
    transient,
    unit_of_work,
)

__all__ = [
    "DEFAULT_URL",
    "Connection",
    "DatabaseError",
    "Engine",
    "IntegrityError",
    "OperationalError",
    "StoreUnavailable",
    "connection_held",
    "create_schema",
    "dispose",
    "drop_schema",
    "enclosing_transaction",
    "is_retryable", "is_sqlite",
    "masked",
    "one_line",
    "open_engine",
    "open_store",
    "retrying",
    "single_read",
    "transient",
    "unit_of_work",
]
