"""``siren serve``: the service on uvicorn. Every worker process builds its own kernel
from the environment (``app_from_environment``); SIGTERM stops accepting connections and
lets requests in flight finish (up to ``GRACE_SECONDS``)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from siren_core.kernel import Kernel
from siren_core.service.app import (
    CURRENCY_ENV,
    DATABASE_ENV,
    RATE_LIMIT_ENV,
)

GRACE_SECONDS = 30


def _log_config() -> dict[str, object]:
    """uvicorn's own messages and the access log (JSON lines) on standard error."""
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
               "formatter": "plain"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(message)s"}},
            "handlers": {"stderr": handler},
            "loggers": {name: {"handlers": ["stderr"], "level": "INFO", "propagate": False}
                        for name in ("uvicorn", "uvicorn.error", "siren.access",
                                     "siren.service")}}


def serve(database: str, *, host: str, port: int, workers: int, rate_limit: int,
          currency: str) -> None:
    Kernel(database, create_schema=False).close()  # a store that cannot serve: one line
    os.environ[DATABASE_ENV] = database
    os.environ[RATE_LIMIT_ENV] = str(rate_limit)
    os.environ[CURRENCY_ENV] = currency
    print(f"siren serve: http://{host}:{port}/siren/v1 ({workers} worker(s))",
          file=sys.stderr, flush=True)
    uvicorn.run("siren_core.service.app:app_from_environment", factory=True, host=host,
                port=port, workers=workers, access_log=False, log_config=_log_config(),
                log_level=logging.INFO, timeout_graceful_shutdown=GRACE_SECONDS,
                proxy_headers=False, server_header=False)
