"""``POST /auth/login`` (name and password → the session cookie and its CSRF token),
``GET /auth/session``, ``POST /auth/logout``. The cookie is HttpOnly, SameSite=Strict,
Secure when the request came over https, and lives as long as the session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from siren_core.kernel import Kernel
from siren_core.service import operators
from siren_core.service.admin.guard import REFUSALS, SESSION_COOKIE, Operator, refuse_api_key
from siren_core.service.admin.models import LoginBody, SessionOut
from siren_core.service.models import ErrorBody
from siren_core.service.problems import ApiProblem
from siren_core.store.operator_queries import SessionRow
from siren_core.times import iso_utc

router = APIRouter(tags=["operators"])


def session_json(session: SessionRow, token: str) -> dict[str, Any]:
    o = session.operator
    return {"operator": {"id": o.id, "name": o.name, "status": o.status},
            "csrfToken": operators.csrf_token(token),
            "expiresAt": iso_utc(session.expires_at) or ""}


def set_session_cookie(request: Request, response: Response, opened: operators.OpenSession,
                       kernel: Kernel) -> None:
    seconds = int((opened.session.expires_at - kernel.clock()).total_seconds())
    response.set_cookie(SESSION_COOKIE, opened.token, max_age=max(seconds, 0), path="/",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def open_session(kernel: Kernel, name: str, password: str) -> operators.OpenSession:
    """A new session, or the API's 401 ``login_refused`` / 429 ``rate_limited``."""
    try:
        return operators.log_in(kernel, name, password)
    except operators.LoginThrottled as exc:
        raise ApiProblem(429, str(exc), code="rate_limited",
                         headers={"Retry-After": str(exc.retry_after)}) from None
    except operators.LoginRefused as exc:
        raise ApiProblem(401, str(exc), code="login_refused") from None


@router.post("/auth/login", response_model=SessionOut, responses={
    401: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def login(request: Request, response: Response, body: LoginBody) -> dict[str, Any]:
    """Open a session: the cookie ``siren_session`` and, in the answer, its CSRF token.
    Five refused logins of one name in 15 minutes hold its logins back (429)."""
    refuse_api_key(request)
    kernel: Kernel = request.app.state.kernel
    opened = await run_in_threadpool(open_session, kernel, body.name, body.password)
    set_session_cookie(request, response, opened, kernel)
    return session_json(opened.session, opened.token)


@router.get("/auth/session", response_model=SessionOut, responses=REFUSALS)
def current(request: Request, session: Operator) -> dict[str, Any]:
    """The live session: its operator, CSRF token and end."""
    return session_json(session, request.cookies[SESSION_COOKIE])


@router.post("/auth/logout", status_code=204, response_class=Response, responses=REFUSALS)
def logout(request: Request, _session: Operator) -> Response:
    """End the session now; the cookie is cleared."""
    operators.log_out(request.app.state.kernel, request.cookies[SESSION_COOKIE])
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
