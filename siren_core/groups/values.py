"""The values of collaborator groups: groups, members, programs, doctor findings, the
configuration shape of a group, and the reading of member entries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from siren_core.domain import text_problem
from siren_core.errors import InvalidInput
from siren_core.records import CollaboratorId

PROGRAM_STATUSES = ("active", "inactive", "draft", "deleted")
Roster = dict[CollaboratorId, dict[str, Any]]


@attrs.frozen
class CollaboratorGroup:
    id: str
    name: str
    structure: str
    description: str = ""


@attrs.frozen
class GroupMember:
    """A membership: the collaborator, its metadata and its current status."""

    group: str
    collaborator: str
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=dict, hash=False)
    status: str = "active"


@attrs.frozen
class GroupBinding:
    """The group a distributor or program is bound to. ``deleted``: that group was deleted
    (the binding still points at it and fails closed, even when a new group has since
    taken the same id: that new group is not the one bound)."""

    group: str
    deleted: bool = False


@attrs.frozen
class Program:
    """The per-conversion reward rule groups bind to (its own payouts are out of scope)."""

    id: str
    name: str
    status: str
    collaborators: tuple[str, ...] = ()
    group: str | None = None
    """The bound group's id, if it is live (see ``binding`` for a deleted one)."""
    binding: GroupBinding | None = None
    """The binding, even to a deleted group (``None``: unbound)."""


@attrs.frozen
class DoctorFinding:
    """Why a distributor would pay no one (``pays_no_one``) or part of it would credit no one."""

    distributor: str
    problem: str
    detail: str
    pays_no_one: bool = True


@attrs.frozen
class GroupSpec:
    """A group in the configuration shape (``[[groups]]`` in TOML)."""

    id: str
    name: str | None = None
    description: str = ""
    structure: str = "flat"
    members: list[Any] = attrs.Factory(list)


def json_ready(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(field, value, "is not a table of metadata")
    try:
        ready = dict(json.loads(json.dumps(dict(value))))
    except (TypeError, ValueError):
        raise InvalidInput(field, value, "is not JSON-serialisable metadata") from None
    _check_metadata_text(ready, field)
    return ready


def _check_metadata_text(value: Any, field: str) -> None:
    """Every key and string of metadata is storable text (no NUL, no lone surrogate), as
    every other text field: PostgreSQL's JSON functions refuse ``\\u0000``."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise InvalidInput(field, value, problem)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _check_metadata_text(key, field)
            _check_metadata_text(inner, f"{field}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_metadata_text(inner, f"{field}[{index}]")


def member_entries(items: Iterable[Any], field: str = "members") -> dict[str, dict[str, Any]]:
    """Collaborator id → metadata from ``"alice"`` or ``{collaborator = "bob", parent = …}``.

    Keys other than ``collaborator`` are metadata (an explicit ``metadata`` table is merged
    first). For a repeated collaborator the last entry wins.
    """
    if isinstance(items, str | bytes | Mapping):
        raise InvalidInput(field, items, "is not a list of members")
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if isinstance(item, str):
            name, metadata = item, {}
        elif isinstance(item, Mapping):
            data = dict(item)
            name = data.pop("collaborator", None)
            metadata = {**json_ready(data.pop("metadata", {}) or {}, f"{where}.metadata"),
                        **json_ready(data, where)}
        else:
            raise InvalidInput(where, item, "is neither a collaborator id nor a member table")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}.collaborator", name, "is required (a collaborator id)")
        found.pop(name, None)
        found[name] = metadata
    return found
