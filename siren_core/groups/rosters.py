"""Collaborator groups and their rosters: create, update and delete groups; add, set and
remove members and their metadata.

Every write is one transaction; its events fire after the commit, in a documented order
(see docs/groups.md), except ``collaborator_group_deleted``, which fires before the
delete so that listeners can still read the group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import cattrs

from siren_core import outbox
from siren_core.config.converter import SIREN_STRUCTURES, canonical
from siren_core.config.converter import structure as structure_value
from siren_core.domain import DESCRIPTION_LENGTH, NAME_LENGTH, check_identifier, check_text
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import (
    CollaboratorAddedToCollaboratorGroup,
    CollaboratorGroupCreated,
    CollaboratorGroupDeleted,
    CollaboratorGroupMemberMetadataChanged,
    CollaboratorGroupRenamed,
    CollaboratorGroupStructureChanged,
    CollaboratorRemovedFromCollaboratorGroup,
    Event,
    EventBus,
)
from siren_core.groups.eligibility import GroupViews
from siren_core.groups.values import (
    CollaboratorGroup,
    GroupMember,
    GroupSpec,
    Roster,
    json_ready,
    member_entries,
)
from siren_core.plugins import PluginRegistry
from siren_core.records import GroupStructure
from siren_core.store import Connection, Engine, queries, unit_of_work
from siren_core.store import group_queries as gq


def group_row(conn: Connection, group: str, *, lock: bool = False) -> gq.GroupRow:
    """The live group ``group``, or :class:`NotFound`."""
    row = gq.find_group(conn, group, lock=lock) if isinstance(group, str) else None
    if row is None:
        raise NotFound("collaborator group", group)
    return row


def _group_value(row: gq.GroupRow) -> CollaboratorGroup:
    return CollaboratorGroup(id=row.id, name=row.name, structure=row.structure,
                             description=row.description)


def _name(field: str, value: Any) -> str:
    return check_text(field, value, NAME_LENGTH, required=True)


def _description(field: str, value: Any) -> str:
    return check_text(field, value, DESCRIPTION_LENGTH)


def canonical_metadata(shape: GroupStructure | None, entries: Mapping[str, dict[str, Any]],
                       field: str) -> dict[str, dict[str, Any]]:
    """Member metadata in the structure's own keys: its aliases mapped (Siren's
    ``parentCollaboratorId`` → ``parent``), a key it does not know refused, naming the
    member and the key (a structure without ``metadata_keys`` takes any key)."""
    if shape is None:
        return dict(entries)
    found: dict[str, dict[str, Any]] = {}
    for name, metadata in entries.items():
        mapped: dict[str, Any] = {}
        for key, value in metadata.items():
            target = shape.metadata_aliases.get(key, key)
            if shape.metadata_keys is not None and target not in shape.metadata_keys:
                known = ", ".join(sorted(shape.metadata_keys)) or "none"
                raise InvalidInput(f"{field}[{name}].{key}", value,
                                   f"is not member metadata of a {shape.id!r} group "
                                   f"(known keys: {known})")
            if target in mapped and mapped[target] != value:
                raise InvalidInput(f"{field}[{name}].{key}", value,
                                   f"contradicts {target!r}, which it stands for")
            mapped[target] = value
        found[name] = mapped
    return found


class GroupService:
    """Group and membership operations on one store."""

    def __init__(self, engine: Engine, registry: PluginRegistry, converter: cattrs.Converter,
                 bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._registry = registry
        self._converter = converter
        self._bus = bus
        self._clock = clock
        self.views = GroupViews(registry)

    def _structure(self, name: Any, field: str = "structure") -> GroupStructure:
        name = canonical(SIREN_STRUCTURES, name)  # Siren's linearChain, parentChild
        found = self._registry.group_structures.get(name) if isinstance(name, str) else None
        if found is None:
            known = ", ".join(sorted(self._registry.group_structures)) or "none installed"
            raise InvalidInput(field, name, f"is not a known group structure (known: {known})")
        return found

    # reading

    def group(self, group: str) -> CollaboratorGroup:
        with unit_of_work(self._engine, write=False) as conn:
            return _group_value(group_row(conn, group))

    def groups(self) -> list[CollaboratorGroup]:
        with unit_of_work(self._engine, write=False) as conn:
            return [_group_value(row) for row in gq.list_groups(conn)]

    def members(self, group: str) -> list[GroupMember]:
        with unit_of_work(self._engine, write=False) as conn:
            row = group_row(conn, group)
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
            changes = [CollaboratorGroupCreated(group=spec.id), *self._reconcile(
                conn, row, entries, remove_missing=True, now=now, field="group.members")]
            outbox.record(conn, changes)
        self._bus.dispatch_all(changes)
        return CollaboratorGroup(spec.id, name, shape.id, spec.description)

    def update(self, group: str, *, name: str | None = None, description: str | None = None,
               structure: str | None = None) -> CollaboratorGroup:
        """Change name, description and structure; events only for real changes."""
        events: list[Event] = []
        with unit_of_work(self._engine) as conn:
            row = group_row(conn, group, lock=True)
            values: dict[str, Any] = {}
            if name is not None and _name("name", name) != row.name:
                values["name"] = name
                events.append(CollaboratorGroupRenamed(row.id, row.name, name))
            if description is not None and _description("description",
                                                        description) != row.description:
                values["description"] = description
            structure = canonical(SIREN_STRUCTURES, structure)
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
            outbox.record(conn, events)
        self._bus.dispatch_all(events)
        return _group_value(row)

    def delete(self, group: str) -> None:
        """Fire ``collaborator_group_deleted`` (group still readable), then delete it.

        The event fires before the delete inside ``kernel.transaction()`` too (it is not
        deferred to the commit). Members are removed (no per-member events); bindings stay
        and fail closed.
        """
        with unit_of_work(self._engine, write=False) as conn:
            row = group_row(conn, group)
        self._bus.dispatch(CollaboratorGroupDeleted(group=row.id), immediately=True)
        with unit_of_work(self._engine) as conn:
            current = gq.find_group(conn, group, lock=True)
            if current is not None and current.key == row.key:
                gq.delete_group(conn, row.key, self._clock())
                outbox.record(conn, [CollaboratorGroupDeleted(group=row.id)])

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
        entries = canonical_metadata(self._registry.group_structures.get(row.structure),
                                     entries, field)
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
            row = group_row(conn, group, lock=True)
            events = self._reconcile(conn, row, entries, remove_missing=False,
                                     update_existing=False, now=self._clock())
            outbox.record(conn, events)
        self._bus.dispatch_all(events)
        return [GroupMember(e.group, e.collaborator, e.metadata) for e in events
                if isinstance(e, CollaboratorAddedToCollaboratorGroup)]

    def set_members(self, group: str, members: Iterable[Any]) -> list[GroupMember]:
        """Full reconcile: the roster becomes exactly ``members`` (an empty list empties it)."""
        entries = member_entries(members)
        with unit_of_work(self._engine) as conn:
            row = group_row(conn, group, lock=True)
            events = self._reconcile(conn, row, entries, remove_missing=True,
                                     now=self._clock())
            outbox.record(conn, events)
        self._bus.dispatch_all(events)
        return self.members(group)

    def remove_member(self, group: str, collaborator: str) -> None:
        with unit_of_work(self._engine) as conn:
            row = group_row(conn, group, lock=True)
            found = gq.members(conn, row.key, [collaborator])
            if not found:
                raise NotFound("collaborator group member", collaborator)
            gq.delete_members(conn, row.key, [found[0][1]])
            gq.update_group(conn, row.key, self._clock())
            events = [CollaboratorRemovedFromCollaboratorGroup(row.id, collaborator)]
            outbox.record(conn, events)
        self._bus.dispatch_all(events)

    def set_member_metadata(self, group: str, collaborator: str,
                            metadata: Mapping[str, Any]) -> GroupMember:
        value = json_ready(metadata, "metadata")
        with unit_of_work(self._engine) as conn:
            row = group_row(conn, group, lock=True)
            found = gq.members(conn, row.key, [collaborator])
            if not found:
                raise NotFound("collaborator group member", collaborator)
            value = canonical_metadata(self._registry.group_structures.get(row.structure),
                                       {collaborator: value}, "members")[collaborator]
            events = self._reconcile(conn, row, {collaborator: value}, remove_missing=False,
                                     now=self._clock())
            outbox.record(conn, events)
        self._bus.dispatch_all(events)
        return GroupMember(row.id, collaborator, value, found[0][3])

    def leave_all_groups(self, conn: Connection, collaborator: str) -> list[Event]:
        """Inside a collaborator's deletion: leave every group; the events to fire after."""
        keys = queries.collaborator_keys(conn, [collaborator])
        if collaborator not in keys:
            return []
        left = gq.leave_all_groups(conn, keys[collaborator][0], self._clock())
        return [CollaboratorRemovedFromCollaboratorGroup(name, collaborator) for name in left]
