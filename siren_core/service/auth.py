"""Who may call a route: a bearer API key holding one of the route's scopes, within its
rate limit. 401 for a missing, wrong, expired or revoked key; 403 ``missing_scope`` with
the scope and every scope that opens the route; 429 with ``Retry-After``.

The rate limit counts requests per key in fixed windows of one minute, in the store (one
``UPDATE`` per request, which also notes the key's last use), so that every server
process, on every host, shares it. An event route counts its request inside the event's
own transaction (one write transaction per event); a refused request counts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from math import ceil
from typing import Annotated

import attrs
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from siren_core import store
from siren_core.kernel import Kernel
from siren_core.service.admin.guard import SessionCookie, operator_session
from siren_core.service.keys import KeyRefused, admit_in, check_form
from siren_core.service.problems import ApiProblem
from siren_core.store import Connection
from siren_core.store import service_queries as sq
from siren_core.store.service_queries import ApiKeyRow

WINDOW = timedelta(minutes=1)
_bearer = HTTPBearer(auto_error=False, description="An API key: sk_live_…")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def event_scopes(slug: str) -> list[str]:
    """The scopes that open ``POST /event/{slug}``."""
    return [f"event:{slug}", "event:*", "*"]


@attrs.frozen
class Admission:
    """A request's active key, not yet counted against its rate limit."""

    key: ApiKeyRow
    limit: int
    now: datetime

    def check(self, any_of: Sequence[str]) -> Admission:
        """403 ``missing_scope`` unless the key holds one of ``any_of``."""
        if not set(self.key.scopes) & set(any_of):
            raise ApiProblem(403, f"the API key lacks the scope {any_of[0]!r}",
                             code="missing_scope",
                             context={"scope": any_of[0], "anyOf": list(any_of)})
        return self

    def count(self, conn: Connection) -> None:
        """Count the request in ``conn``'s transaction; 429 (with ``Retry-After``) over
        the limit."""
        start = self.now.replace(second=0, microsecond=0)
        if sq.count_request(conn, self.key.id, start, self.now) > self.limit:
            wait = max(1, ceil((start + WINDOW - self.now).total_seconds()))
            raise ApiProblem(429, f"rate limit of {self.limit} requests a minute reached; "
                             f"retry in {wait} s", code="rate_limited",
                             headers={"Retry-After": str(wait)})


def admission(request: Request, credentials: Credentials) -> Admission:
    """A dependency of the reads: the request's active key (401 otherwise), not yet
    counted."""
    raw_key(credentials)  # a request without a key's form never reaches the store
    with store.unit_of_work(request.app.state.kernel.engine, write=False) as conn:
        return admission_in(conn, request, credentials)


def raw_key(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The request's key if it has a key's form, else 401 (the store is not asked)."""
    try:
        return check_form(credentials.credentials if credentials else None)
    except KeyRefused as exc:
        raise _unauthorized(exc) from None


def admission_in(conn: Connection, request: Request,
                 credentials: HTTPAuthorizationCredentials | None) -> Admission:
    """:func:`admission` in ``conn``'s transaction (an event's own: it reads only)."""
    kernel: Kernel = request.app.state.kernel
    now = kernel.clock()
    try:
        key = admit_in(conn, credentials.credentials if credentials else None, now)
    except KeyRefused as exc:
        raise _unauthorized(exc) from None
    request.state.key_prefix = key.prefix
    return Admission(key, request.app.state.settings.rate_limit, now)


def _unauthorized(refused: KeyRefused) -> ApiProblem:
    return ApiProblem(401, str(refused), code="invalid_api_key",
                      headers={"WWW-Authenticate": "Bearer"})


def requires(*any_of: str) -> Callable[..., ApiKeyRow]:
    """A dependency: the request's key, holding one of ``any_of``, counted (a read)."""

    def dependency(request: Request,
                   admitted: Annotated[Admission, Depends(admission)]) -> ApiKeyRow:
        admitted.check(any_of)
        with store.unit_of_work(request.app.state.kernel.engine) as conn:
            admitted.count(conn)
        return admitted.key

    return dependency


def requires_or_operator(*any_of: str) -> Callable[..., ApiKeyRow | None]:
    """A dependency of a read: an API key holding one of ``any_of`` (as
    :func:`requires`), or, in a request with no ``Authorization`` header, an operator's
    live session (``None``: no key), so that the admin API reads the same ledger."""
    keyed = requires(*any_of)

    def dependency(request: Request, credentials: Credentials,
                   session: SessionCookie) -> ApiKeyRow | None:
        if credentials is None and session:
            operator_session(request, session, None)
            return None
        return keyed(request, admission(request, credentials))

    return dependency

