"""``siren serve``: the service on uvicorn. Every worker process builds its own kernel
from the environment (``app_from_environment``); SIGTERM stops accepting connections and
lets requests in flight finish (up to ``GRACE_SECONDS``)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

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


class TcpConfig(uvicorn.Config):
    """uvicorn's configuration, with the socket that several worker processes share bound
    as a TCP socket.

    uvicorn binds that socket with protocol 0, and asyncio sets ``TCP_NODELAY`` only on
    connections accepted from an ``IPPROTO_TCP`` socket: without it every answer's last
    segment waited for the client's delayed ACK (Nagle's algorithm), about 40 ms a
    request. One worker's socket is asyncio's own, already TCP."""

    def bind_socket(self) -> socket.socket:
        bound = super().bind_socket()
        if (bound.family in (socket.AF_INET, socket.AF_INET6)
                and bound.proto != socket.IPPROTO_TCP):
            return socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, bound.detach())
        return bound


def run(app: str, *, workers: int, **options: Any) -> None:
    """``uvicorn.run(app, factory=True, workers=workers, **options)``, several workers'
    socket bound by :class:`TcpConfig`. ``siren serve`` and the benchmark's raw baseline
    both run this way."""
    if workers == 1:
        uvicorn.run(app, factory=True, **options)
        return
    config = TcpConfig(app, factory=True, workers=workers, **options)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl-C stops quietly
        Multiprocess(config, sockets=[config.bind_socket()]).run()


def serve(database: str, *, host: str, port: int, workers: int, rate_limit: int,
          currency: str) -> None:
    Kernel(database, create_schema=False).close()  # a store that cannot serve: one line
    os.environ[DATABASE_ENV] = database
    os.environ[RATE_LIMIT_ENV] = str(rate_limit)
    os.environ[CURRENCY_ENV] = currency
    print(f"siren serve: http://{host}:{port}/siren/v1 ({workers} worker(s))",
          file=sys.stderr, flush=True)
    run("siren_core.service.app:app_from_environment", host=host, port=port, workers=workers,
        access_log=False, log_config=_log_config(), log_level=logging.INFO,
        timeout_graceful_shutdown=GRACE_SECONDS, proxy_headers=False, server_header=False)
