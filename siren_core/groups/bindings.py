"""Bindings: a distributor or a program binds to at most one collaborator group.

Unbind fires only when a binding existed; a rebind fires unbind(old) then bind(new);
binding to the group already bound fires nothing; deleting a group or a distributor fires
neither (the binding stays and fails closed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import cattrs

from siren_core import outbox
from siren_core.config.converter import structure as structure_value
from siren_core.domain import DistributorSpec
from siren_core.errors import NotFound
from siren_core.events import (
    DistributorBoundToCollaboratorGroup,
    DistributorUnboundFromCollaboratorGroup,
    Event,
    EventBus,
    ProgramBoundToCollaboratorGroup,
    ProgramUnboundFromCollaboratorGroup,
)
from siren_core.groups.capabilities import check_capabilities
from siren_core.groups.rosters import group_row
from siren_core.groups.values import GroupBinding
from siren_core.plugins import PluginRegistry
from siren_core.store import Connection, Engine, queries, unit_of_work
from siren_core.store import group_queries as gq


def group_binding(row: gq.GroupRow | None) -> GroupBinding | None:
    """A bound group's row as the binding the API reports."""
    return None if row is None else GroupBinding(row.id, deleted=row.status != "active")


def owner_key(conn: Connection, kind: str, owner: str) -> int:
    """The store id of distributor or program ``owner`` (locked), or :class:`NotFound`."""
    if kind == "distributor":
        key = gq.distributor_key(conn, owner, lock=True) if isinstance(owner, str) else None
    else:
        found = gq.find_program(conn, owner, lock=True) if isinstance(owner, str) else None
        key = found[0] if found else None
    if key is None:
        raise NotFound(kind, owner)
    return key


def _binding_events(kind: str, owner: str, previous: gq.GroupRow | None,
                    target: gq.GroupRow | None) -> list[Event]:
    """Unbound from ``previous`` (if any), then bound to ``target`` (if any)."""
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
    return events


class BindingService:
    """Binding distributors and programs to collaborator groups."""

    def __init__(self, engine: Engine, registry: PluginRegistry, converter: cattrs.Converter,
                 bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._registry = registry
        self._converter = converter
        self._bus = bus
        self._clock = clock

    def bind(self, kind: str, owner: str, group: str | None) -> None:
        """Bind a distributor or program to ``group`` (``None``: unbind).

        Fires unbind(previous) only when a binding existed, then bind(new); binding to the
        group already bound fires nothing.
        """
        with unit_of_work(self._engine) as conn:
            key = owner_key(conn, kind, owner)
            previous = gq.bound_group(conn, kind, key)
            target = group_row(conn, group) if group is not None else None
            if (previous is None and target is None) or (
                    previous is not None and target is not None and previous.key == target.key):
                return
            if kind == "distributor" and target is not None:
                config = queries.distributor_rows(conn, external_id=owner)[0][3]
                spec = structure_value(self._converter, config, DistributorSpec)
                check_capabilities(spec, self._registry, target, binding=True)
            gq.set_binding(conn, kind, key, target.key if target else None, self._clock())
            events = _binding_events(kind, owner, previous, target)
            outbox.record(conn, events)
        self._bus.dispatch_all(events)

    def binding(self, kind: str, owner: str) -> GroupBinding | None:
        """The group a distributor or program is bound to, even a deleted one."""
        with unit_of_work(self._engine, write=False) as conn:
            return group_binding(gq.bound_group(conn, kind, owner_key(conn, kind, owner)))

    def bound_group(self, kind: str, owner: str) -> str | None:
        """The id of the live group a distributor or program is bound to (``None``:
        unbound, or the bound group was deleted)."""
        found = self.binding(kind, owner)
        return found.group if found is not None and not found.deleted else None

    def check_distributor(self, conn: Connection, spec: DistributorSpec) -> None:
        """Refuse a configuration whose cascade cannot walk the distributor's bound group."""
        key = gq.distributor_key(conn, spec.id)
        if key is not None:
            check_capabilities(spec, self._registry, gq.bound_group(conn, "distributor", key),
                               binding=False)
