"""The ASGI application of ``siren serve``: Siren's API mounted at ``/siren/v1``.

    from siren_core import Kernel
    from siren_core.service.app import create_app

    app = create_app(Kernel("sqlite:///siren.db"))       # an ASGI application
    # or, inside an existing one: parent.mount("/rewards", create_api(kernel))

Stateless: every piece of state (keys, rate-limit windows, opportunities, events) is in
the store, so several processes on several hosts serve one PostgreSQL store.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from siren_core import __version__, environment, store
from siren_core.kernel import Kernel
from siren_core.service import events, ledger, problems, webhooks
from siren_core.service.access import AccessLog
from siren_core.service.admin import routes as admin
from siren_core.service.dashboard.app import create_dashboard
from siren_core.service.models import ErrorBody, Health
from siren_core.service.writers import SqliteWriters
from siren_core.store import service_queries as sq

BASE_PATH = "/siren/v1"
DASHBOARD_PATH = "/dashboard"
DATABASE_ENV = "SIREN_DATABASE_URL"
RATE_LIMIT_ENV = "SIREN_SERVICE_RATE_LIMIT"
CURRENCY_ENV = "SIREN_SERVICE_CURRENCY"


@attrs.frozen
class Settings:
    """``rate_limit``: requests per key and minute; ``currency``: a sale's currency when
    it names none (Siren's organisation default)."""

    rate_limit: int = 600
    currency: str = "USD"

    @classmethod
    def from_environment(cls) -> Settings:
        limit = environment.integer(RATE_LIMIT_ENV, 1)
        return cls(rate_limit=cls.rate_limit if limit is None else limit,
                   currency=os.environ.get(CURRENCY_ENV) or cls.currency)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "Validation failed"), (401, "Missing, invalid, expired or revoked key"),
        (403, "Missing scope"), (404, "Not found"), (409, "Conflict"),
        (429, "Rate limited (Retry-After)"), (500, "Internal error"),
        (503, "Store unavailable"))}


def _sqlite_file(kernel: Kernel) -> str | None:
    database = kernel.engine.url.database
    return None if database in (None, "", ":memory:") else os.path.abspath(database)


def create_api(kernel: Kernel, settings: Settings | None = None) -> FastAPI:
    """Siren's API over ``kernel`` (routes relative to the mount point)."""
    api = FastAPI(title="siren-core", version=__version__, openapi_url="/openapi.json",
                  docs_url="/docs", redoc_url=None, responses=_ERRORS)
    api.state.kernel = kernel
    api.state.sqlite_writers = (SqliteWriters(_sqlite_file(kernel))
                                if store.is_sqlite(kernel.engine) else None)
    api.state.settings = settings or Settings()
    problems.install(api)
    api.include_router(events.router)
    api.include_router(ledger.router)
    api.include_router(webhooks.router)
    api.include_router(admin.router)

    @api.get("/health", response_model=Health, tags=["service"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers (no key needed)."""
        return {"status": "ok"}

    @api.get("/ready", response_model=Health, tags=["service"],
             responses={503: {"model": ErrorBody}})
    async def ready(request: Request) -> JSONResponse:
        """Readiness: the store answers (no key needed)."""
        try:
            await run_in_threadpool(_ping, request.app.state.kernel)
        except store.DatabaseError:
            return problems.ApiProblem(503, "the store does not answer",
                                       code="store_unavailable").response()
        return JSONResponse({"status": "ready"})

    return api


def _ping(kernel: Kernel) -> None:
    with store.unit_of_work(kernel.engine, write=False) as conn:
        sq.ping(conn)


def create_app(kernel: Kernel, settings: Settings | None = None, *,
               close_kernel: bool = False) -> AccessLog:
    """The whole service: the API mounted at ``/siren/v1``, with request ids and the
    access log. ``close_kernel``: close ``kernel`` when the application shuts down."""

    api = create_api(kernel, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if api.state.sqlite_writers is not None:
            api.state.sqlite_writers.close()
        if close_kernel:
            kernel.close()

    root = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    root.mount(BASE_PATH, api)
    root.mount(DASHBOARD_PATH, create_dashboard(kernel))
    problems.install(root)
    return AccessLog(root)


def app_from_environment() -> AccessLog:
    """The factory ``siren serve`` gives uvicorn (one per worker process): the store named
    by ``SIREN_DATABASE_URL``, which must exist at this release's schema."""
    kernel = Kernel(os.environ.get(DATABASE_ENV, store.DEFAULT_URL), create_schema=False)
    return create_app(kernel, Settings.from_environment(), close_kernel=True)
