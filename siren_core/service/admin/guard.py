"""Who may call an admin route: an operator's live session (the ``siren_session``
cookie), and on every write its CSRF token in ``X-CSRF-Token``. An API key is never
accepted (401 ``api_key_not_accepted``, as Siren answers); no session, an ended or
expired one, or a disabled operator: 401 ``session_required``; a write without the
session's CSRF token: 403 ``csrf_failed``. Nothing is read or changed before this."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader

from siren_core.domain import text_problem
from siren_core.kernel import Kernel
from siren_core.service import operators
from siren_core.service.models import ErrorBody
from siren_core.service.problems import ApiProblem, invalid_field
from siren_core.store.operator_queries import SessionRow

SESSION_COOKIE = "siren_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                       description="An operator's session (POST /auth/login)")
_csrf = APIKeyHeader(name=CSRF_HEADER, auto_error=False,
                     description="The session's CSRF token, on every write")
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No live operator session, or an API key"},
    403: {"model": ErrorBody, "description": "A write without the session's CSRF token"}}


def kernel_of(request: Request) -> Kernel:
    kernel: Kernel = request.app.state.kernel
    return kernel


def refuse_api_key(request: Request) -> None:
    if request.headers.get("authorization"):
        raise ApiProblem(401, "this route takes an operator's session, not an API key",
                         code="api_key_not_accepted")


def operator_session(request: Request,
                     token: Annotated[str | None, Depends(_cookie)],
                     csrf: Annotated[str | None, Depends(_csrf)]) -> SessionRow:
    """A dependency: the request's live session, its CSRF token checked on a write."""
    refuse_api_key(request)
    try:
        found = operators.session(kernel_of(request), token)
    except operators.SessionRefused as exc:
        raise ApiProblem(401, str(exc), code="session_required") from None
    assert token is not None
    if request.method not in SAFE_METHODS and not operators.csrf_matches(token, csrf):
        raise ApiProblem(403, f"a write needs the session's CSRF token in {CSRF_HEADER}",
                         code="csrf_failed")
    request.state.operator = found.operator.name
    return found


Operator = Annotated[SessionRow, Depends(operator_session)]
SessionCookie = Annotated[str | None, Depends(_cookie)]


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, path or "body")
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def unstorable_text(request: Request, body: Any = None) -> tuple[str, str] | None:
    """The first path or query parameter, or string of ``body``, that the store could not
    keep (a NUL, a lone surrogate), with the problem; ``None`` when there is none."""
    found = [*request.path_params.items(), *request.query_params.multi_items(),
             *_strings(body, "")]
    for field, text in found:
        problem = text_problem(text)
        if problem is not None:
            return field or "body", problem
    return None


async def storable_text(request: Request,
                        _session: Annotated[SessionRow, Depends(operator_session)]) -> None:
    """A dependency of every admin route, after its session: 400 naming the first text
    the store could not keep, before anything is looked up."""
    body: Any = None
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None  # the route's own validation answers it
    found = unstorable_text(request, body)
    if found is not None:
        raise invalid_field(found[0], f"{found[0]} {found[1]}")


CHECKED = [Depends(storable_text)]
"""The dependencies of every admin router."""
