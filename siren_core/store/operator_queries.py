"""What the admin API and the dashboard read and write: operators, their sessions, and
the refused logins that the login rate limit counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.queries import _inserted_key

operator = tables.table(tables.Operator)
operator_session = tables.table(tables.OperatorSession)
login_failure = tables.table(tables.LoginFailure)


@attrs.frozen
class OperatorRow:
    id: int
    name: str
    password_hash: str
    status: str
    created_at: datetime
    disabled_at: datetime | None


@attrs.frozen
class SessionRow:
    id: int
    operator: OperatorRow
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


_OPERATOR = (operator.c.id, operator.c.name, operator.c.password_hash, operator.c.status,
             operator.c.created_at, operator.c.disabled_at)


def _operator(row: Sequence[Any]) -> OperatorRow:
    return OperatorRow(*row[:6])


def insert_operator(conn: Connection, name: str, password_hash: str, now: datetime) -> int:
    return _inserted_key(conn.execute(operator.insert().values(
        name=name, password_hash=password_hash, status="active", created_at=now)))


def operator_by_name(conn: Connection, name: str) -> OperatorRow | None:
    row = conn.execute(sa.select(*_OPERATOR).where(operator.c.name == name)).first()
    return None if row is None else _operator(row)


def list_operators(conn: Connection) -> list[OperatorRow]:
    return [_operator(row) for row in conn.execute(sa.select(*_OPERATOR).order_by(
        operator.c.id))]


def disable_operator(conn: Connection, id: int, now: datetime) -> None:
    """Disable an operator (once: the first time is kept) and end its sessions."""
    conn.execute(operator.update().where(operator.c.id == id, operator.c.status == "active")
                 .values(status="disabled", disabled_at=now))
    conn.execute(operator_session.update().where(
        operator_session.c.operator_id == id, operator_session.c.ended_at.is_(None))
        .values(ended_at=now))


def set_password_hash(conn: Connection, id: int, password_hash: str) -> None:
    conn.execute(operator.update().where(operator.c.id == id)
                 .values(password_hash=password_hash))


def insert_session(conn: Connection, token_hash: str, operator_id: int, now: datetime,
                   expires_at: datetime) -> int:
    return _inserted_key(conn.execute(operator_session.insert().values(
        token_hash=token_hash, operator_id=operator_id, created_at=now,
        expires_at=expires_at)))


def session_by_token(conn: Connection, token_hash: str) -> SessionRow | None:
    s = operator_session.c
    row = conn.execute(sa.select(s.id, s.created_at, s.expires_at, s.ended_at, *_OPERATOR)
                       .join(operator, operator.c.id == s.operator_id)
                       .where(s.token_hash == token_hash)).first()
    if row is None:
        return None
    return SessionRow(row[0], _operator(row[4:]), row[1], row[2], row[3])


def end_session(conn: Connection, id: int, now: datetime) -> None:
    conn.execute(operator_session.update().where(
        operator_session.c.id == id, operator_session.c.ended_at.is_(None))
        .values(ended_at=now))


def note_login_failure(conn: Connection, name: str, now: datetime, since: datetime) -> None:
    """Note a refused login of ``name``, dropping its refusals from before ``since`` (which
    no longer count), so that the table holds only a window's worth per name."""
    conn.execute(login_failure.delete().where(login_failure.c.name == name,
                                              login_failure.c.at <= since))
    conn.execute(login_failure.insert().values(name=name, at=now))


def login_failures_since(conn: Connection, name: str,
                         since: datetime) -> tuple[int, datetime | None]:
    """Refused logins of ``name`` since ``since``, and the oldest of them."""
    row = conn.execute(sa.select(sa.func.count(), sa.func.min(login_failure.c.at)).where(
        login_failure.c.name == name, login_failure.c.at > since)).one()
    return int(row[0]), row[1]


def clear_login_failures(conn: Connection, name: str) -> None:
    conn.execute(login_failure.delete().where(login_failure.c.name == name))
