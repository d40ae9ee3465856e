"""Collaborator groups, their bindings to distributors and programs, and eligibility.

A group is a set of collaborators with a *structure* (a plugin: ``flat``,
``linear_chain``, ``parent_child``…) that says how to walk it. Members carry metadata
the structure reads (``position``, ``parent``). A distributor or a program binds to at
most one group. Eligibility ``members`` means the collaborators bound directly plus the
members of the bound group (a union: either path qualifies, neither hides the other).

Every write is one transaction; its events fire after the commit, in a documented order
(see docs/groups.md), except ``collaborator_group_deleted``, which fires before the
delete so that listeners can still read the group.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import cattrs
from sqlalchemy.engine import Connection, Engine

from siren_core.catalog import ConfiguredDistributor, configure
from siren_core.config import structure as structure_value
from siren_core.domain import (
    DESCRIPTION_LENGTH,
    NAME_LENGTH,
    DistributorSpec,
    check_identifier,
    check_text,
    text_problem,
)
from siren_core.errors import Conflict, InvalidInput, NotFound, SirenError
from siren_core.events import (
    CollaboratorAddedToCollaboratorGroup,
    CollaboratorGroupCreated,
    CollaboratorGroupDeleted,
    CollaboratorGroupMemberMetadataChanged,
    CollaboratorGroupRenamed,
    CollaboratorGroupStructureChanged,
    CollaboratorRemovedFromCollaboratorGroup,
    DistributorBoundToCollaboratorGroup,
    DistributorUnboundFromCollaboratorGroup,
    Event,
    EventBus,
    ProgramBoundToCollaboratorGroup,
    ProgramUnboundFromCollaboratorGroup,
)
from siren_core.plugins import PluginRegistry
from siren_core.records import CollaboratorId, GroupStructure, GroupView
from siren_core.store import group_queries as gq
from siren_core.store import queries, unit_of_work

PROGRAM_STATUSES = ("active", "inactive", "draft", "deleted")
Roster = dict[CollaboratorId, dict[str, Any]]


# -- values ----------------------------------------------------------------------------

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
class Program:
    """The per-conversion reward rule groups bind to (its own payouts are out of scope)."""

    id: str
    name: str
    status: str
    collaborators: tuple[str, ...] = ()
    group: str | None = None


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


# -- reading member entries ------------------------------------------------------------

def _json_ready(value: Any, field: str) -> dict[str, Any]:
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
            metadata = {**_json_ready(data.pop("metadata", {}) or {}, f"{where}.metadata"),
                        **_json_ready(data, where)}
        else:
            raise InvalidInput(where, item, "is neither a collaborator id nor a member table")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{where}.collaborator", name, "is required (a collaborator id)")
        found.pop(name, None)
        found[name] = metadata
    return found


# -- views of groups -------------------------------------------------------------------

class _Unwalkable:
    """A group whose structure is not installed: members only, no layers."""

    capabilities: frozenset[str] = frozenset()

    def __init__(self, group_id: str, roster: Mapping[str, Any]) -> None:
        self.id = group_id
        self.members = frozenset(roster)

    def upline(self, collaborator: CollaboratorId,
               counts: Callable[[CollaboratorId], bool] | None = None,
               ) -> Iterator[tuple[int, CollaboratorId]]:
        return iter(())

    downline = upline


@attrs.frozen
class Scope:
    """Who may be credited on one distributor, and the group its cascades walk."""

    group: GroupView | None
    direct: frozenset[str] | None
    """``None``: every active collaborator is eligible; else the direct collaborators."""

    def allows(self, collaborator: str) -> bool:
        if self.direct is None or collaborator in self.direct:
            return True
        return self.group is not None and collaborator in self.group.members


class GroupViews:
    """Walkable views of groups, rebuilt only when a group's version changes."""

    def __init__(self, registry: PluginRegistry) -> None:
        self._registry = registry
        self._cache: dict[int, tuple[int, GroupView]] = {}

    def view(self, conn: Connection, row: gq.GroupRow) -> GroupView | None:
        if row.status != "active":
            return None
        cached = self._cache.get(row.key)
        if cached is not None and cached[0] == row.version:
            return cached[1]
        roster = {name: metadata for name, _key, metadata, _status in gq.members(conn, row.key)}
        found = self._registry.group_structures.get(row.structure)
        view: GroupView = (found.build(row.id, roster) if found is not None
                           else _Unwalkable(row.id, roster))
        self._cache[row.key] = (row.version, view)
        return view


class DistributorScopes:
    """Per-record helper for ingestion: each distributor's eligibility and bound group."""

    def __init__(self, conn: Connection, views: GroupViews) -> None:
        self._conn = conn
        self._views = views
        self._bindings: dict[int, gq.GroupRow] | None = None
        self._scopes: dict[int, Scope] = {}

    def scope(self, distributor: ConfiguredDistributor) -> Scope:
        found = self._scopes.get(distributor.key)
        if found is None:
            if self._bindings is None:
                self._bindings = gq.distributor_bindings(self._conn)
            row = self._bindings.get(distributor.key)
            group = self._views.view(self._conn, row) if row is not None else None
            direct = (frozenset(distributor.spec.collaborators)
                      if distributor.spec.eligibility == "members" else None)
            found = self._scopes[distributor.key] = Scope(group, direct)
        return found


# -- capability checks and fail-closed reasons -----------------------------------------

def _group_rules(spec: DistributorSpec, registry: PluginRegistry
                 ) -> list[tuple[int, str, frozenset[str]]]:
    """(metric index, credit rule id, capabilities needed) of rules that walk a group."""
    found = []
    for index, metric in enumerate(spec.metrics):
        rule = registry.credit_rules.get(metric.credit.rule)
        if rule is not None and rule.requires:
            found.append((index, rule.id, rule.requires))
    return found


def _provided(registry: PluginRegistry, row: gq.GroupRow) -> frozenset[str]:
    found = registry.group_structures.get(row.structure)
    return found.capabilities if found is not None else frozenset()


def check_capabilities(spec: DistributorSpec, registry: PluginRegistry,
                       row: gq.GroupRow | None, *, binding: bool) -> None:
    """Refuse a cascade on a live group lacking what it needs (e.g. a flat group).

    ``binding``: the error names the group being bound, else the distributor's rule.
    """
    if row is None or row.status != "active":
        return
    provided = _provided(registry, row)
    for index, rule, needs in _group_rules(spec, registry):
        missing = ", ".join(sorted(needs - provided))
        if not missing:
            continue
        if binding:
            raise InvalidInput("group", row.id,
                               f"has structure {row.structure!r} without {missing}, which "
                               f"credit rule {rule!r} of distributor {spec.id!r} "
                               f"(metrics[{index}]) needs")
        raise InvalidInput(f"metrics[{index}].credit.rule", rule,
                           f"needs {missing}, which the bound group {row.id!r} "
                           f"(structure {row.structure!r}) lacks")


def cascade_problem(conn: Connection, distributor: ConfiguredDistributor,
                    registry: PluginRegistry) -> tuple[str, str] | None:
    """(reason, detail) when the distributor's cascades cannot walk a group, else None.

    Reasons: ``cascade_without_group`` (nothing bound), ``cascade_group_deleted``,
    ``cascade_group_without_layers`` (the structure lacks a capability the rule needs).
    """
    rules = _group_rules(distributor.spec, registry)
    if not rules:
        return None
    names = ", ".join(sorted({rule for _i, rule, _n in rules}))
    row = gq.bound_group(conn, "distributor", distributor.key)
    if row is None:
        return "cascade_without_group", f"credit rule {names} needs a group; none is bound"
    if row.status != "active":
        return "cascade_group_deleted", f"credit rule {names}: bound group {row.id!r} was deleted"
    provided = _provided(registry, row)
    missing = sorted({need for _i, _r, needs in rules for need in needs - provided})
    if missing:
        return ("cascade_group_without_layers",
                f"credit rule {names}: bound group {row.id!r} has structure "
                f"{row.structure!r}, without {', '.join(missing)}")
    return None


# -- the service -----------------------------------------------------------------------

def _group_value(row: gq.GroupRow) -> CollaboratorGroup:
    return CollaboratorGroup(id=row.id, name=row.name, structure=row.structure,
                             description=row.description)


def _name(field: str, value: Any) -> str:
    return check_text(field, value, NAME_LENGTH, required=True)


def _description(field: str, value: Any) -> str:
    return check_text(field, value, DESCRIPTION_LENGTH)


class GroupService:
    """Group, membership, binding and program operations on one store."""

    def __init__(self, engine: Engine, registry: PluginRegistry, converter: cattrs.Converter,
                 bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._registry = registry
        self._converter = converter
        self._bus = bus
        self._clock = clock
        self.views = GroupViews(registry)

    def _announce(self, events: Sequence[Event]) -> None:
        for event in events:
            self._bus.dispatch(event)

    def _structure(self, name: Any, field: str = "structure") -> GroupStructure:
        found = self._registry.group_structures.get(name) if isinstance(name, str) else None
        if found is None:
            known = ", ".join(sorted(self._registry.group_structures)) or "none installed"
            raise InvalidInput(field, name, f"is not a known group structure (known: {known})")
        return found

    @staticmethod
    def _group(conn: Connection, group: str, *, lock: bool = False) -> gq.GroupRow:
        row = gq.find_group(conn, group, lock=lock) if isinstance(group, str) else None
        if row is None:
            raise NotFound("collaborator group", group)
        return row

    def scopes(self, conn: Connection) -> DistributorScopes:
        return DistributorScopes(conn, self.views)

    # reading

    def group(self, group: str) -> CollaboratorGroup:
        with unit_of_work(self._engine, write=False) as conn:
            return _group_value(self._group(conn, group))

    def groups(self) -> list[CollaboratorGroup]:
        with unit_of_work(self._engine, write=False) as conn:
            return [_group_value(row) for row in gq.list_groups(conn)]

    def members(self, group: str) -> list[GroupMember]:
        with unit_of_work(self._engine, write=False) as conn:
            row = self._group(conn, group)
            return [GroupMember(row.id, name, metadata, status)
                    for name, _key, metadata, status in gq.members(conn, row.key)]

    # writing groups

    def create(self, spec: GroupSpec | Mapping[str, Any] | str,
               **options: Any) -> CollaboratorGroup:
        if isinstance(spec, str):
            spec = GroupSpec(id=spec, **options)
        elif not isinstance(spec, GroupSpec):
            spec = structure_value(self._converter, dict(spec), GroupSpec, prefix="group")
        check_identifier("group.id", spec.id)
        name = spec.id if spec.name is None else _name("group.name", spec.name)
        _description("group.description", spec.description)
        shape = self._structure(spec.structure, "group.structure")
        entries = member_entries(spec.members, "group.members")
        now = self._clock()
        with unit_of_work(self._engine) as conn:
            if gq.find_group(conn, spec.id) is not None:
                raise Conflict(f"collaborator group {spec.id!r} already exists")
            key = gq.insert_group(conn, spec.id, name, spec.description, shape.id, now)
            row = gq.group_by_key(conn, key)
            changes = self._reconcile(conn, row, entries, remove_missing=True, now=now,
                                      field="group.members")
        self._announce([CollaboratorGroupCreated(group=spec.id), *changes])
        return CollaboratorGroup(spec.id, name, shape.id, spec.description)

    def update(self, group: str, *, name: str | None = None, description: str | None = None,
               structure: str | None = None) -> CollaboratorGroup:
        """Change name, description and structure; events only for real changes."""
        events: list[Event] = []
        with unit_of_work(self._engine) as conn:
            row = self._group(conn, group, lock=True)
            values: dict[str, Any] = {}
            if name is not None and _name("name", name) != row.name:
                values["name"] = name
                events.append(CollaboratorGroupRenamed(row.id, row.name, name))
            if description is not None and _description("description",
                                                        description) != row.description:
                values["description"] = description
            if structure is not None and structure != row.structure:
                shape = self._structure(structure)
                if shape.check is not None:
                    shape.check(self._roster(conn, row))
                values["structure"] = structure
                events.append(CollaboratorGroupStructureChanged(row.id, row.structure,
                                                                structure))
            if values:
                gq.update_group(conn, row.key, self._clock(), **values)
            row = gq.group_by_key(conn, row.key)
        self._announce(events)
        return _group_value(row)

    def delete(self, group: str) -> None:
        """Fire ``collaborator_group_deleted`` (group still readable), then delete it.

        Members are removed (no per-member events); bindings stay and fail closed.
        """
        with unit_of_work(self._engine, write=False) as conn:
            row = self._group(conn, group)
        self._bus.dispatch(CollaboratorGroupDeleted(group=row.id))
        with unit_of_work(self._engine) as conn:
            current = gq.find_group(conn, group, lock=True)
            if current is not None and current.key == row.key:
                gq.delete_group(conn, row.key, self._clock())

    # membership

    @staticmethod
    def _roster(conn: Connection, row: gq.GroupRow) -> Roster:
        return {name: metadata for name, _key, metadata, _status in gq.members(conn, row.key)}

    def _reconcile(self, conn: Connection, row: gq.GroupRow, entries: Mapping[str, dict[str, Any]],
                   *, remove_missing: bool, now: datetime, update_existing: bool = True,
                   field: str = "members") -> list[Event]:
        """Apply member entries to a group; the events to fire after commit.

        Removals first, then additions, then metadata changes, each by collaborator id.
        """
        current = {name: (key, metadata) for name, key, metadata, _s in gq.members(conn, row.key)}
        new_names = [name for name in entries if name not in current]
        known = queries.collaborator_keys(conn, new_names)
        for index, name in enumerate(entries):
            if name in current:
                continue
            if name not in known:
                raise InvalidInput(f"{field}[{index}].collaborator", name,
                                   "is not a known collaborator")
            if known[name][1] != "active":
                raise InvalidInput(f"{field}[{index}].collaborator", name,
                                   f"is {known[name][1]}; only active collaborators can join "
                                   "a group")
        removed = sorted(set(current) - set(entries)) if remove_missing else []
        changed = sorted(name for name in entries if name in current and update_existing
                         and entries[name] != current[name][1])
        roster = {name: metadata for name, (_key, metadata) in current.items()
                  if name not in removed}
        roster.update({name: entries[name] for name in [*new_names, *changed]})
        shape = self._registry.group_structures.get(row.structure)
        if shape is not None and shape.check is not None and (new_names or changed):
            shape.check(roster)
        gq.delete_members(conn, row.key, [current[name][0] for name in removed])
        gq.insert_members(conn, row.key, [(known[name][0], entries[name])
                                          for name in sorted(new_names)], now)
        for name in changed:
            gq.set_member_metadata(conn, row.key, current[name][0], entries[name], now)
        if removed or new_names or changed:
            gq.update_group(conn, row.key, now)
        return [*(CollaboratorRemovedFromCollaboratorGroup(row.id, name) for name in removed),
                *(CollaboratorAddedToCollaboratorGroup(row.id, name, entries[name])
                  for name in sorted(new_names)),
                *(CollaboratorGroupMemberMetadataChanged(row.id, name, current[name][1],
                                                         entries[name]) for name in changed)]

    def add_members(self, group: str, members: Iterable[Any]) -> list[GroupMember]:
        """Add members (idempotent: existing members are skipped); returns only new ones."""
        entries = member_entries(members)
        with unit_of_work(self._engine) as conn:
            row = self._group(conn, group, lock=True)
            events = self._reconcile(conn, row, entries, remove_missing=False,
                                     update_existing=False, now=self._clock())
        self._announce(events)
        return [GroupMember(e.group, e.collaborator, e.metadata) for e in events
                if isinstance(e, CollaboratorAddedToCollaboratorGroup)]

    def set_members(self, group: str, members: Iterable[Any]) -> list[GroupMember]:
        """Full reconcile: the roster becomes exactly ``members`` (an empty list empties it)."""
        entries = member_entries(members)
        with unit_of_work(self._engine) as conn:
            row = self._group(conn, group, lock=True)
            events = self._reconcile(conn, row, entries, remove_missing=True,
                                     now=self._clock())
        self._announce(events)
        return self.members(group)

    def remove_member(self, group: str, collaborator: str) -> None:
        with unit_of_work(self._engine) as conn:
            row = self._group(conn, group, lock=True)
            found = gq.members(conn, row.key, [collaborator])
            if not found:
                raise NotFound("collaborator group member", collaborator)
            gq.delete_members(conn, row.key, [found[0][1]])
            gq.update_group(conn, row.key, self._clock())
        self._announce([CollaboratorRemovedFromCollaboratorGroup(row.id, collaborator)])

    def set_member_metadata(self, group: str, collaborator: str,
                            metadata: Mapping[str, Any]) -> GroupMember:
        value = _json_ready(metadata, "metadata")
        with unit_of_work(self._engine) as conn:
            row = self._group(conn, group, lock=True)
            found = gq.members(conn, row.key, [collaborator])
            if not found:
                raise NotFound("collaborator group member", collaborator)
            events = self._reconcile(conn, row, {collaborator: value}, remove_missing=False,
                                     now=self._clock())
        self._announce(events)
        return GroupMember(row.id, collaborator, value, found[0][3])

    def leave_all_groups(self, conn: Connection, collaborator: str) -> list[Event]:
        """Inside a collaborator's deletion: leave every group; the events to fire after."""
        keys = queries.collaborator_keys(conn, [collaborator])
        if collaborator not in keys:
            return []
        left = gq.leave_all_groups(conn, keys[collaborator][0], self._clock())
        return [CollaboratorRemovedFromCollaboratorGroup(name, collaborator) for name in left]

    def announce(self, events: Sequence[Event]) -> None:
        self._announce(events)

    # bindings

    def _owner(self, conn: Connection, kind: str, owner: str) -> int:
        if kind == "distributor":
            key = gq.distributor_key(conn, owner, lock=True) if isinstance(owner, str) else None
        else:
            found = gq.find_program(conn, owner, lock=True) if isinstance(owner, str) else None
            key = found[0] if found else None
        if key is None:
            raise NotFound(kind, owner)
        return key

    def bind(self, kind: str, owner: str, group: str | None) -> None:
        """Bind a distributor or program to ``group`` (``None``: unbind).

        Fires unbind(previous) only when a binding existed, then bind(new); binding to the
        group already bound fires nothing.
        """
        with unit_of_work(self._engine) as conn:
            key = self._owner(conn, kind, owner)
            previous = gq.bound_group(conn, kind, key)
            target = self._group(conn, group) if group is not None else None
            if (previous is None and target is None) or (
                    previous is not None and target is not None and previous.key == target.key):
                return
            if kind == "distributor" and target is not None:
                config = queries.distributor_rows(conn, external_id=owner)[0][3]
                spec = structure_value(self._converter, config, DistributorSpec)
                check_capabilities(spec, self._registry, target, binding=True)
            gq.set_binding(conn, kind, key, target.key if target else None, self._clock())
        events: list[Event] = []
        if kind == "distributor":
            if previous is not None:
                events.append(DistributorUnboundFromCollaboratorGroup(owner, previous.id))
            if target is not None:
                events.append(DistributorBoundToCollaboratorGroup(owner, target.id))
        else:
            if previous is not None:
                events.append(ProgramUnboundFromCollaboratorGroup(owner, previous.id))
            if target is not None:
                events.append(ProgramBoundToCollaboratorGroup(owner, target.id))
        self._announce(events)

    def bound_group(self, kind: str, owner: str) -> str | None:
        """The id of the group a distributor or program is bound to (even if deleted)."""
        with unit_of_work(self._engine, write=False) as conn:
            key = self._owner(conn, kind, owner)
            row = gq.bound_group(conn, kind, key)
        return row.id if row is not None else None

    def check_distributor(self, conn: Connection, spec: DistributorSpec) -> None:
        """Refuse a configuration whose cascade cannot walk the distributor's bound group."""
        key = gq.distributor_key(conn, spec.id)
        if key is not None:
            check_capabilities(spec, self._registry, gq.bound_group(conn, "distributor", key),
                               binding=False)

    # programs

    def create_program(self, id: str, *, name: str | None = None, status: str = "active",
                       collaborators: Sequence[str] = ()) -> Program:
        check_identifier("program.id", id)
        if name is not None:
            check_text("program.name", name, NAME_LENGTH)
        if status not in PROGRAM_STATUSES:
            raise InvalidInput("program.status", status, f"is not one of {PROGRAM_STATUSES}")
        names = list(dict.fromkeys(collaborators))
        with unit_of_work(self._engine) as conn:
            if gq.find_program(conn, id) is not None:
                raise Conflict(f"program {id!r} already exists")
            known = queries.collaborator_keys(conn, names)
            for index, collaborator in enumerate(names):
                if collaborator not in known:
                    raise InvalidInput(f"program.collaborators[{index}]", collaborator,
                                       "is not a known collaborator")
            gq.insert_program(conn, id, name or id, status, [known[n][0] for n in names],
                              self._clock())
        return Program(id, name or id, status, tuple(sorted(names)))

    def set_program_status(self, id: str, status: str) -> None:
        """Change a program's status; deleting one fires no unbind (its binding stays)."""
        if status not in PROGRAM_STATUSES:
            raise InvalidInput("program.status", status, f"is not one of {PROGRAM_STATUSES}")
        with unit_of_work(self._engine) as conn:
            gq.set_program_status(conn, self._owner(conn, "program", id), status,
                                  self._clock())

    def _program(self, conn: Connection, row: gq.ProgramRow) -> Program:
        bound = gq.bound_group(conn, "program", row[0])
        return Program(row[1], row[2], row[3], tuple(gq.program_collaborators(conn, row[0])),
                       bound.id if bound else None)

    def program(self, id: str) -> Program:
        with unit_of_work(self._engine, write=False) as conn:
            row = gq.find_program(conn, id) if isinstance(id, str) else None
            if row is None:
                raise NotFound("program", id)
            return self._program(conn, row)

    def programs(self) -> list[Program]:
        with unit_of_work(self._engine, write=False) as conn:
            return [self._program(conn, row) for row in gq.list_programs(conn)]

    # eligibility and diagnosis

    def _eligible(self, conn: Connection, direct: Iterable[str] | None,
                  bound: gq.GroupRow | None) -> list[str]:
        if direct is None:
            return [c.id for c in queries.list_collaborators(conn) if c.status == "active"]
        names = set(direct)
        if bound is not None and bound.status == "active":
            names.update(name for name, _key, _m, status in gq.members(conn, bound.key)
                         if status == "active")
        statuses = gq.collaborator_statuses(conn, names)
        return sorted(name for name in names if statuses.get(name) == "active")

    def eligible_collaborators(self, *, distributor: str | None = None,
                               program: str | None = None) -> list[str]:
        """Active collaborators who may earn on a distributor or program, by id.

        Distributor with eligibility ``all_active``: every active collaborator. With
        ``members``, and for programs: direct collaborators plus members of the bound group.
        """
        if (distributor is None) == (program is None):
            raise InvalidInput("distributor", distributor, "give exactly one of distributor "
                               "or program")
        with unit_of_work(self._engine, write=False) as conn:
            if distributor is not None:
                rows = queries.distributor_rows(conn, external_id=distributor)
                if not rows:
                    raise NotFound("distributor", distributor)
                spec = structure_value(self._converter, rows[0][3], DistributorSpec)
                direct = spec.collaborators if spec.eligibility == "members" else None
                return self._eligible(conn, direct, gq.bound_group(conn, "distributor",
                                                                   rows[0][0]))
            row = gq.find_program(conn, program) if isinstance(program, str) else None
            if row is None:
                raise NotFound("program", program)
            return self._eligible(conn, gq.program_collaborators(conn, row[0]),
                                  gq.bound_group(conn, "program", row[0]))

    def doctor(self) -> list[DoctorFinding]:
        """Every active distributor that would pay no one (or credit no one in part), and why."""
        findings: list[DoctorFinding] = []
        with unit_of_work(self._engine, write=False) as conn:
            for key, name, status, config, _version in queries.distributor_rows(conn):
                if status != "active":
                    continue
                try:
                    spec = structure_value(self._converter, config, DistributorSpec)
                    configured = configure(spec, self._registry, self._converter, key=key)
                except SirenError as exc:
                    findings.append(DoctorFinding(name, "invalid_configuration", str(exc)))
                    continue
                findings += self._diagnose(conn, configured)
        return findings

    def _diagnose(self, conn: Connection, distributor: ConfiguredDistributor
                  ) -> list[DoctorFinding]:
        spec, found = distributor.spec, []
        if not spec.metrics:
            found.append(DoctorFinding(spec.id, "no_metrics", "tracks no metric type"))
        problem = cascade_problem(conn, distributor, self._registry)
        if problem is not None:
            only_cascades = len(_group_rules(spec, self._registry)) == len(spec.metrics)
            found.append(DoctorFinding(spec.id, problem[0], problem[1], only_cascades))
        bound = gq.bound_group(conn, "distributor", distributor.key)
        direct = spec.collaborators if spec.eligibility == "members" else None
        if not self._eligible(conn, direct, bound):
            found.append(DoctorFinding(spec.id, "no_eligible_collaborators",
                                       self._eligibility_detail(conn, spec, bound)))
        return found

    @staticmethod
    def _eligibility_detail(conn: Connection, spec: DistributorSpec,
                            bound: gq.GroupRow | None) -> str:
        if spec.eligibility != "members":
            return "eligibility 'all_active' and no collaborator is active"
        statuses = gq.collaborator_statuses(conn, spec.collaborators)
        parts = [f"{len(spec.collaborators)} direct collaborator(s), "
                 f"{sum(1 for s in statuses.values() if s == 'active')} active"]
        if bound is None:
            parts.append("no group bound")
        elif bound.status != "active":
            parts.append(f"bound group {bound.id!r} was deleted")
        else:
            total, active = gq.member_counts(conn, bound.key)
            parts.append(f"group {bound.id!r} has {total} member(s), {active} active")
        return "eligibility 'members': " + "; ".join(parts)


class GroupOperations:
    """The group, binding, program and eligibility methods of :class:`~siren_core.Kernel`."""

    _groups: GroupService

    def create_group(self, group: GroupSpec | Mapping[str, Any] | str, *,
                     name: str | None = None, description: str = "", structure: str = "flat",
                     members: Sequence[Any] = ()) -> CollaboratorGroup:
        """Create a group, optionally with members (config shape: a ``[[groups]]`` table)."""
        if isinstance(group, str):
            return self._groups.create(GroupSpec(group, name, description, structure,
                                                 list(members)))
        return self._groups.create(group)

    def update_group(self, group: str, *, name: str | None = None,
                     description: str | None = None,
                     structure: str | None = None) -> CollaboratorGroup:
        return self._groups.update(group, name=name, description=description,
                                   structure=structure)

    def rename_group(self, group: str, name: str) -> CollaboratorGroup:
        return self._groups.update(group, name=name)

    def change_group_structure(self, group: str, structure: str) -> CollaboratorGroup:
        return self._groups.update(group, structure=structure)

    def delete_group(self, group: str) -> None:
        self._groups.delete(group)

    def group(self, group: str) -> CollaboratorGroup:
        return self._groups.group(group)

    def groups(self) -> list[CollaboratorGroup]:
        return self._groups.groups()

    def group_members(self, group: str) -> list[GroupMember]:
        return self._groups.members(group)

    def add_group_members(self, group: str, members: Iterable[Any]) -> list[GroupMember]:
        return self._groups.add_members(group, members)

    def set_group_members(self, group: str, members: Iterable[Any]) -> list[GroupMember]:
        return self._groups.set_members(group, members)

    def remove_group_member(self, group: str, collaborator: str) -> None:
        self._groups.remove_member(group, collaborator)

    def set_group_member_metadata(self, group: str, collaborator: str,
                                  metadata: Mapping[str, Any]) -> GroupMember:
        return self._groups.set_member_metadata(group, collaborator, metadata)

    def bind_distributor(self, distributor: str, group: str | None) -> None:
        """Bind a distributor to a group (``None`` unbinds)."""
        self._groups.bind("distributor", distributor, group)

    def distributor_group(self, distributor: str) -> str | None:
        """The group the distributor is bound to (``None``: unbound)."""
        return self._groups.bound_group("distributor", distributor)

    def bind_program(self, program: str, group: str | None) -> None:
        """Bind a program to a group (``None`` unbinds)."""
        self._groups.bind("program", program, group)

    def create_program(self, id: str, *, name: str | None = None, status: str = "active",
                       collaborators: Sequence[str] = ()) -> Program:
        return self._groups.create_program(id, name=name, status=status,
                                           collaborators=collaborators)

    def set_program_status(self, id: str, status: str) -> None:
        self._groups.set_program_status(id, status)

    def program(self, id: str) -> Program:
        return self._groups.program(id)

    def programs(self) -> list[Program]:
        return self._groups.programs()

    def eligible_collaborators(self, *, distributor: str | None = None,
                               program: str | None = None) -> list[str]:
        return self._groups.eligible_collaborators(distributor=distributor, program=program)

    def doctor(self) -> list[DoctorFinding]:
        """Active distributors that would pay no one, and why (see docs/groups.md)."""
        return self._groups.doctor()
