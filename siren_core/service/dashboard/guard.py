"""A page's operator: the session cookie's live session, else a redirect to the login
page; a form that writes must carry the session's CSRF token (``csrf_token``), else 403
and nothing changed. An API key opens no page (401)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from siren_core.service import operators
from siren_core.service.admin.guard import SESSION_COOKIE, kernel_of, unstorable_text
from siren_core.store.operator_queries import SessionRow


class LoginNeeded(Exception):
    """No live session: the page answers a redirect to the login page."""


class PageRefused(Exception):
    """An API key (401) or a write without the session's CSRF token (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def page_session(request: Request) -> SessionRow:
    if request.headers.get("authorization"):
        raise PageRefused(401, "the dashboard takes an operator's session, not an API key")
    try:
        found = operators.session(kernel_of(request), request.cookies.get(SESSION_COOKIE))
    except operators.SessionRefused:
        raise LoginNeeded() from None
    request.state.operator = found.operator.name
    unstorable = unstorable_text(request)
    if unstorable is not None:
        raise PageRefused(400, f"{unstorable[0]} {unstorable[1]}")
    return found


async def write_session(request: Request,
                        session: Annotated[SessionRow, Depends(page_session)]) -> SessionRow:
    """A form's session, its ``csrf_token`` checked."""
    form = await request.form()
    given = form.get("csrf_token")
    token = request.cookies[SESSION_COOKIE]
    if not isinstance(given, str) or not operators.csrf_matches(token, given):
        raise PageRefused(403, "the form lacks this session's CSRF token: reload the page")
    return session


Page = Annotated[SessionRow, Depends(page_session)]
Write = Annotated[SessionRow, Depends(write_session)]
