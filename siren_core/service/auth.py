"""Who may call a route: a bearer API key holding one of the route's scopes, within its
rate limit. 401 for a missing, wrong, expired or revoked key; 403 ``missing_scope`` with
the scope and every scope that opens the route; 429 with ``Retry-After``.

The rate limit counts requests per key in fixed windows of one minute, in the store (one
``UPDATE`` per request), so that every server process, on every host, shares it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from math import ceil
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from siren_core.kernel import Kernel
from siren_core.service.keys import KeyRefused, admit
from siren_core.service.problems import ApiProblem
from siren_core.store.service_queries import ApiKeyRow

WINDOW = timedelta(minutes=1)
_bearer = HTTPBearer(auto_error=False, description="An API key: sk_live_…")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def event_scopes(slug: str) -> list[str]:
    """The scopes that open ``POST /event/{slug}``."""
    return [f"event:{slug}", "event:*", "*"]


def caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiKeyRow:
    """The request's active key, counted against its rate limit (or 401 / 429)."""
    kernel: Kernel = request.app.state.kernel
    limit: int = request.app.state.settings.rate_limit
    now = kernel.clock()
    start = now.replace(second=0, microsecond=0)
    try:
        key, counted = admit(kernel, credentials.credentials if credentials else None, start)
    except KeyRefused as exc:
        raise ApiProblem(401, str(exc), code="invalid_api_key",
                         headers={"WWW-Authenticate": "Bearer"}) from None
    request.state.key_prefix = key.prefix
    if counted > limit:
        wait = max(1, ceil((start + WINDOW - now).total_seconds()))
        raise ApiProblem(429, f"rate limit of {limit} requests a minute reached; retry in "
                         f"{wait} s", code="rate_limited", headers={"Retry-After": str(wait)})
    return key


def check_scope(key: ApiKeyRow, any_of: Sequence[str]) -> None:
    if not set(key.scopes) & set(any_of):
        raise ApiProblem(403, f"the API key lacks the scope {any_of[0]!r}",
                         code="missing_scope",
                         context={"scope": any_of[0], "anyOf": list(any_of)})


def requires(*any_of: str) -> Callable[..., ApiKeyRow]:
    """A dependency: the caller's key, holding one of ``any_of``."""

    def dependency(request: Request, credentials: Credentials) -> ApiKeyRow:
        key = caller(request, credentials)
        check_scope(key, any_of)
        return key

    return dependency


def any_key(request: Request, credentials: Credentials) -> ApiKeyRow:
    """A dependency: the caller's key, whatever its scopes (the route checks them)."""
    return caller(request, credentials)


AnyKey = Annotated[ApiKeyRow, Depends(any_key)]
