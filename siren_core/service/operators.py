"""Operators of the admin API and the dashboard: accounts with Argon2id password hashes,
sessions held by a cookie, and a login rate limit counted in the store.

A session's cookie carries 32 random bytes; the store keeps only their SHA-256. Its CSRF
token is derived from the cookie's token (an HMAC), so that a page can carry it, every
write must send it back, and a cross-site form, which cannot read the page, cannot.

This module imports no web framework: the command line uses it too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

import attrs
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from siren_core import store
from siren_core.domain import text_problem
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.kernel import Kernel
from siren_core.store import operator_queries as oq
from siren_core.store.operator_queries import OperatorRow, SessionRow

SESSION_LIFETIME = timedelta(hours=12)
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_ATTEMPTS = 5
"""Refused logins of one name within :data:`LOGIN_WINDOW` before its logins are refused
(rate-limited) until the window has passed."""
PASSWORD_MIN, PASSWORD_MAX = 12, 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_hasher = PasswordHasher()
# verified against when no operator has the name, so that timing tells nothing
_NO_OPERATOR = _hasher.hash(secrets.token_urlsafe(16))


class LoginRefused(Exception):
    """A wrong name or password, a disabled operator (HTTP 401)."""


class LoginThrottled(Exception):
    """Too many refused logins of one name: ``retry_after`` seconds to wait (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many refused logins; retry in {retry_after} s")
        self.retry_after = retry_after


class SessionRefused(Exception):
    """A missing, unknown, ended or expired session, or a disabled operator (HTTP 401)."""


@attrs.frozen
class OpenSession:
    """A new session: ``token`` goes into the cookie and is never stored."""

    token: str
    session: SessionRow

    @property
    def csrf_token(self) -> str:
        return csrf_token(self.token)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput("name", name, "must be 1-64 letters, digits, '.', '_', '@' or '-', "
                           "starting with a letter or a digit")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidInput("password", "***", f"must be {PASSWORD_MIN} to {PASSWORD_MAX} "
                           "characters long")
    if text_problem(password) is not None:
        raise InvalidInput("password", "***", "must be valid Unicode text without NUL")
    return password


def create_operator(kernel: Kernel, name: str, password: str) -> OperatorRow:
    name, hashed = check_name(name), _hasher.hash(check_password(password))
    with store.unit_of_work(kernel.engine) as conn:
        if oq.operator_by_name(conn, name) is not None:
            raise Conflict(f"operator {name!r} already exists")
        oq.insert_operator(conn, name, hashed, kernel.clock())
        found = oq.operator_by_name(conn, name)
    assert found is not None
    return found


def list_operators(kernel: Kernel) -> list[OperatorRow]:
    with store.unit_of_work(kernel.engine, write=False) as conn:
        return oq.list_operators(conn)


def disable_operator(kernel: Kernel, name: str) -> OperatorRow:
    """Disable ``name`` and end its sessions at once."""
    with store.unit_of_work(kernel.engine) as conn:
        found = oq.operator_by_name(conn, name)
        if found is None:
            raise NotFound("operator", name)
        oq.disable_operator(conn, found.id, kernel.clock())
        changed = oq.operator_by_name(conn, name)
    assert changed is not None
    return changed


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(token: str) -> str:
    return hmac.new(token.encode("utf-8", "surrogatepass"), b"siren-csrf",
                    hashlib.sha256).hexdigest()


def csrf_matches(token: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(csrf_token(token).encode(),
                                                     given.encode("utf-8", "replace"))


def log_in(kernel: Kernel, name: str, password: str,
           lifetime: timedelta = SESSION_LIFETIME) -> OpenSession:
    """A new session for ``name`` if ``password`` is its own; :class:`LoginRefused`
    otherwise (counted), :class:`LoginThrottled` after too many refusals."""
    now = kernel.clock()
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(
            password, str) or text_problem(password) is not None:
        _verified(None, "")  # no operator has such a name or password: nothing stored
        raise LoginRefused("the name or the password is wrong, or the operator is disabled")
    with store.unit_of_work(kernel.engine, write=False) as conn:
        _throttle(conn, name, now)
        found = oq.operator_by_name(conn, name)
    if not _verified(found, password) or found is None or found.status != "active":
        with store.unit_of_work(kernel.engine) as conn:
            oq.note_login_failure(conn, name, now, now - LOGIN_WINDOW)
        raise LoginRefused("the name or the password is wrong, or the operator is disabled")
    token = secrets.token_urlsafe(32)
    with store.unit_of_work(kernel.engine) as conn:
        oq.clear_login_failures(conn, name)
        if _hasher.check_needs_rehash(found.password_hash):
            oq.set_password_hash(conn, found.id, _hasher.hash(password))
        oq.insert_session(conn, token_hash(token), found.id, now, now + lifetime)
        session = oq.session_by_token(conn, token_hash(token))
    assert session is not None
    return OpenSession(token, session)


def _throttle(conn: store.Connection, name: str, now: datetime) -> None:
    count, oldest = oq.login_failures_since(conn, name, now - LOGIN_WINDOW)
    if count >= LOGIN_ATTEMPTS and oldest is not None:
        wait = (oldest + LOGIN_WINDOW - now).total_seconds()
        raise LoginThrottled(max(1, int(wait) + 1))


def _verified(found: OperatorRow | None, password: str) -> bool:
    try:
        return _hasher.verify(found.password_hash if found else _NO_OPERATOR, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session(kernel: Kernel, token: str | None) -> SessionRow:
    """The live session ``token`` opens, or :class:`SessionRefused` saying why."""
    if not token:
        raise SessionRefused("an operator session is required: log in first")
    with store.unit_of_work(kernel.engine, write=False) as conn:
        found = oq.session_by_token(conn, token_hash(token))
    if found is None or found.ended_at is not None:
        raise SessionRefused("the session is not valid: log in again")
    if found.expires_at <= kernel.clock():
        raise SessionRefused("the session has expired: log in again")
    if found.operator.status != "active":
        raise SessionRefused("the operator is disabled")
    return found


def log_out(kernel: Kernel, token: str) -> None:
    with store.unit_of_work(kernel.engine) as conn:
        found = oq.session_by_token(conn, token_hash(token))
        if found is not None:
            oq.end_session(conn, found.id, kernel.clock())
