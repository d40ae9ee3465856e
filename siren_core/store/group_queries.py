"""Statements for collaborator groups, memberships, bindings and programs.

Groups are named by their external id; only ``active`` group rows are found by it (a
deleted group's row stays for the bindings that still point at it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.engine import is_sqlite
from siren_core.store.queries import collaborator, distributor, driver_rows

group = tables.table(tables.CollaboratorGroup)
member = tables.table(tables.CollaboratorGroupMember)
binding = tables.table(tables.CollaboratorGroupBinding)
program = tables.table(tables.Program)
program_collaborator = tables.table(tables.ProgramCollaborator)


@attrs.frozen
class GroupRow:
    key: int
    id: str
    name: str
    description: str
    structure: str
    status: str
    version: int


def _group_columns() -> sa.Select[Any]:
    g = group.c
    return sa.select(g.id, g.external_id, g.name, g.description, g.structure, g.status,
                     g.version)


def _to_group(row: Sequence[Any]) -> GroupRow:
    return GroupRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def find_group(conn: Connection, external_id: str, *, lock: bool = False) -> GroupRow | None:
    """The live group with this id; ``lock`` serializes writers on PostgreSQL."""
    query = _group_columns().where(group.c.external_id == external_id,
                                   group.c.status == "active")
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _to_group(row)


def group_by_key(conn: Connection, key: int) -> GroupRow:
    return _to_group(conn.execute(_group_columns().where(group.c.id == key)).one())


def list_groups(conn: Connection) -> list[GroupRow]:
    query = _group_columns().where(group.c.status == "active").order_by(group.c.external_id)
    return [_to_group(row) for row in conn.execute(query)]


def insert_group(conn: Connection, external_id: str, name: str, description: str,
                 structure: str, now: datetime) -> int:
    result = conn.execute(group.insert().values(
        external_id=external_id, name=name, description=description, structure=structure,
        status="active", version=1, created_at=now, updated_at=now))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def update_group(conn: Connection, key: int, now: datetime, **values: Any) -> None:
    """Change columns of a group and bump its version."""
    conn.execute(group.update().where(group.c.id == key).values(
        version=group.c.version + 1, updated_at=now, **values))


def delete_group(conn: Connection, key: int, now: datetime) -> None:
    """Drop the members and mark the group deleted (bindings keep pointing at it)."""
    conn.execute(member.delete().where(member.c.group_id == key))
    update_group(conn, key, now, status="deleted")


MemberRow = tuple[str, int, dict[str, Any], str]
"""(collaborator external id, collaborator store id, metadata, collaborator status)"""


def members(conn: Connection, group_key: int,
            collaborators: Iterable[str] | None = None) -> list[MemberRow]:
    """The members of a group, by collaborator id (optionally only the given ones)."""
    query = (sa.select(collaborator.c.external_id, collaborator.c.id, member.c.member_metadata,
                       collaborator.c.status)
             .join(collaborator, collaborator.c.id == member.c.collaborator_id)
             .where(member.c.group_id == group_key).order_by(collaborator.c.external_id))
    if collaborators is not None:
        query = query.where(collaborator.c.external_id.in_(sorted(set(collaborators))))
    return [(r[0], r[1], dict(r[2] or {}), r[3]) for r in conn.execute(query)]


def insert_members(conn: Connection, group_key: int,
                   rows: Sequence[tuple[int, Mapping[str, Any]]], now: datetime) -> None:
    if rows:
        conn.execute(member.insert(), [
            {"group_id": group_key, "collaborator_id": key, "member_metadata": dict(metadata),
             "created_at": now, "updated_at": now} for key, metadata in rows])


def delete_members(conn: Connection, group_key: int, collaborator_keys: Sequence[int]) -> None:
    for start in range(0, len(collaborator_keys), 500):
        chunk = list(collaborator_keys[start:start + 500])
        conn.execute(member.delete().where(member.c.group_id == group_key,
                                           member.c.collaborator_id.in_(chunk)))


def set_member_metadata(conn: Connection, group_key: int, collaborator_key: int,
                        metadata: Mapping[str, Any], now: datetime) -> None:
    conn.execute(member.update().where(member.c.group_id == group_key,
                                       member.c.collaborator_id == collaborator_key)
                 .values(member_metadata=dict(metadata), updated_at=now))


def leave_all_groups(conn: Connection, collaborator_key: int, now: datetime) -> list[str]:
    """Remove a collaborator from every group; returns the ids of the groups it left."""
    query = (sa.select(group.c.id, group.c.external_id)
             .join(member, member.c.group_id == group.c.id)
             .where(member.c.collaborator_id == collaborator_key).order_by(group.c.external_id))
    left = [(row[0], row[1]) for row in conn.execute(query)]
    conn.execute(member.delete().where(member.c.collaborator_id == collaborator_key))
    for key, _name in left:
        update_group(conn, key, now)
    return [name for _key, name in left]


def member_counts(conn: Connection, group_key: int) -> tuple[int, int]:
    """(members, active members) of a group."""
    active = sa.func.sum(sa.case((collaborator.c.status == "active", 1), else_=0))
    query = (sa.select(sa.func.count(), sa.func.coalesce(active, 0))
             .select_from(member.join(collaborator, collaborator.c.id == member.c.collaborator_id))
             .where(member.c.group_id == group_key))
    row = conn.execute(query).one()
    return int(row[0]), int(row[1])


def active_outside(conn: Connection, group_key: int) -> int:
    """How many active collaborators are not members of the group."""
    members_of = sa.select(member.c.collaborator_id).where(member.c.group_id == group_key)
    query = (sa.select(sa.func.count()).select_from(collaborator)
             .where(collaborator.c.status == "active", collaborator.c.id.not_in(members_of)))
    return int(conn.execute(query).scalar_one())


# -- bindings --------------------------------------------------------------------------

def bound_group(conn: Connection, owner_type: str, owner_key: int) -> GroupRow | None:
    """The group a distributor or program is bound to (possibly a deleted one)."""
    query = (_group_columns().join(binding, binding.c.group_id == group.c.id)
             .where(binding.c.owner_type == owner_type, binding.c.owner_id == owner_key))
    row = conn.execute(query).first()
    return None if row is None else _to_group(row)


def _bindings_statement() -> sa.Select[Any]:
    return (_group_columns().add_columns(binding.c.owner_id)
            .join(binding, binding.c.group_id == group.c.id)
            .where(binding.c.owner_type == "distributor"))


_BINDINGS: dict[str, str] = {}
"""dialect name → the bindings statement's text (compiled once)."""


def distributor_bindings(conn: Connection) -> dict[int, GroupRow]:
    """distributor store id → its bound group (possibly deleted), for every binding (one
    statement, compiled once and run through the driver: every recording asks)."""
    statement = _BINDINGS.get(conn.dialect.name)
    if statement is None:
        statement = _BINDINGS[conn.dialect.name] = str(_bindings_statement().compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    return {row[7]: _to_group(row) for row in driver_rows(conn, statement, ())}


def set_binding(conn: Connection, owner_type: str, owner_key: int, group_key: int | None,
                now: datetime) -> None:
    conn.execute(binding.delete().where(binding.c.owner_type == owner_type,
                                        binding.c.owner_id == owner_key))
    if group_key is not None:
        conn.execute(binding.insert().values(owner_type=owner_type, owner_id=owner_key,
                                             group_id=group_key, created_at=now))


def distributor_key(conn: Connection, external_id: str, *, lock: bool = False) -> int | None:
    query = sa.select(distributor.c.id).where(distributor.c.external_id == external_id)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return cast(int | None, conn.execute(query).scalar_one_or_none())


def collaborator_statuses(conn: Connection, external_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(external_ids))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        query = sa.select(collaborator.c.external_id, collaborator.c.status).where(
            collaborator.c.external_id.in_(wanted[start:start + 500]))
        found.update({row[0]: row[1] for row in conn.execute(query)})
    return found


# -- programs --------------------------------------------------------------------------

ProgramRow = tuple[int, str, str, str]
"""(store id, external id, name, status)"""


def find_program(conn: Connection, external_id: str, *, lock: bool = False) -> ProgramRow | None:
    query = sa.select(program.c.id, program.c.external_id, program.c.name, program.c.status
                      ).where(program.c.external_id == external_id)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def list_programs(conn: Connection) -> list[ProgramRow]:
    query = sa.select(program.c.id, program.c.external_id, program.c.name, program.c.status
                      ).order_by(program.c.external_id)
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(query)]


def insert_program(conn: Connection, external_id: str, name: str, status: str,
                   collaborator_keys: Sequence[int], now: datetime) -> int:
    result = conn.execute(program.insert().values(
        external_id=external_id, name=name, status=status, created_at=now, updated_at=now))
    inserted = result.inserted_primary_key
    assert inserted is not None
    key = int(inserted[0])
    if collaborator_keys:
        conn.execute(program_collaborator.insert(), [
            {"program_id": key, "collaborator_id": c} for c in collaborator_keys])
    return key


def set_program_status(conn: Connection, key: int, status: str, now: datetime) -> None:
    conn.execute(program.update().where(program.c.id == key).values(status=status,
                                                                   updated_at=now))


def program_collaborators(conn: Connection, key: int) -> list[str]:
    pc = program_collaborator
    query = (sa.select(collaborator.c.external_id)
             .join(pc, pc.c.collaborator_id == collaborator.c.id)
             .where(program_collaborator.c.program_id == key).order_by(collaborator.c.external_id))
    return [row[0] for row in conn.execute(query)]
