"""Eligibility: who may be credited on a distributor, as in Siren (siren-spec §5.4), and
walkable views of groups for the cascades.

A union of two sources: the direct list (eligibility ``members``: the distributor's
``collaborators``) and the members of the bound group. With a group bound and no direct
list, only the group's members earn; with both, either qualifies; with neither, every
active collaborator earns. A binding to a deleted group still counts as a group (with no
members): nobody is paid by mistake because a group disappeared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from siren_core.catalog import ConfiguredDistributor
from siren_core.plugins import PluginRegistry
from siren_core.records import CollaboratorId, GroupView
from siren_core.store import Connection, queries
from siren_core.store import group_queries as gq


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
    """The bound group's walkable view (``None``: none bound, or the bound one was deleted)."""
    direct: frozenset[str] | None
    """The direct collaborators (``None``: no direct list)."""
    bound: bool = False
    """Whether a group is bound (even a deleted one)."""

    def allows(self, collaborator: str) -> bool:
        if self.direct is None and not self.bound:
            return True
        if self.direct is not None and collaborator in self.direct:
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

    def __init__(self, conn: Connection, views: GroupViews, *, any_binding: bool = True,
                 unbound: dict[int, Scope] | None = None) -> None:
        """``any_binding=False``: the caller knows, from this transaction, that no
        distributor is bound to a group (the bindings are then not read).
        ``unbound``: the scopes of distributors bound to no group, by store id, kept by
        the caller for as long as the distributors' configurations are unchanged (such a
        scope depends on nothing else), filled further here."""
        self._conn = conn
        self._views = views
        self._bindings: dict[int, gq.GroupRow] | None = None if any_binding else {}
        self._unbound: dict[int, Scope] = {} if unbound is None else unbound

    def scope(self, distributor: ConfiguredDistributor) -> Scope:
        """The distributor's scope (a bound group's view is built on each call: the
        caller keeps what it asked, as the credit planner does)."""
        if self._bindings is None:
            self._bindings = gq.distributor_bindings(self._conn)
        row = self._bindings.get(distributor.key)
        if row is not None:
            return Scope(self._views.view(self._conn, row), _direct(distributor), bound=True)
        found = self._unbound.get(distributor.key)
        if found is None:
            found = self._unbound[distributor.key] = Scope(None, _direct(distributor))
        return found


def _direct(distributor: ConfiguredDistributor) -> frozenset[str] | None:
    listed = distributor.spec.direct_collaborators
    return frozenset(listed) if listed is not None else None


def eligible_names(conn: Connection, direct: Iterable[str] | None,
                   bound: gq.GroupRow | None) -> list[str]:
    """The active collaborators allowed by ``direct`` and the members of the ``bound``
    group (possibly deleted), by id; with neither, every active collaborator."""
    if direct is None and bound is None:
        return [c.id for c in queries.list_collaborators(conn) if c.status == "active"]
    names = set(direct or ())
    if bound is not None and bound.status == "active":
        names.update(name for name, _key, _m, status in gq.members(conn, bound.key)
                     if status == "active")
    statuses = gq.collaborator_statuses(conn, names)
    return sorted(name for name in names if statuses.get(name) == "active")
