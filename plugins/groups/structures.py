"""The built-in collaborator group structures: ``flat``, ``linear_chain``, ``parent_child``.

A structure turns a group's roster (collaborator id → member metadata) into a walkable,
read-only :class:`~siren_core.records.GroupView`. Walkers are iterative generators (no
recursion: a chain 1,000 deep or a group of 100,000 members walks in constant stack) and
yield ``(layer, collaborator)`` pairs in non-decreasing layer order, nearest first, so a
cascade stops reading as soon as it runs out of layers.

``counts`` (optional) says whether a member uses up a layer. A member for which it is
false is still yielded, at the layer of the next member that counts (it is "compressed"
away): in a chain the next member takes its layer, in a tree its children move up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from siren_core.errors import InvalidInput
from siren_core.records import CollaboratorId, GroupStructure

HAS_LAYER = "has_layer"
Counts = Callable[[CollaboratorId], bool] | None
Roster = Mapping[CollaboratorId, Mapping[str, Any]]


def _always(_member: CollaboratorId) -> bool:
    return True


class FlatGroup:
    """Peers without order: no upline, no downline (eligibility only)."""

    capabilities: frozenset[str] = frozenset()

    def __init__(self, group_id: str, members: Roster) -> None:
        self._id = group_id
        self._members = frozenset(members)

    @property
    def id(self) -> str:
        return self._id

    @property
    def members(self) -> frozenset[CollaboratorId]:
        return self._members

    def upline(self, collaborator: CollaboratorId,
               counts: Counts = None) -> Iterator[tuple[int, CollaboratorId]]:
        return iter(())

    def downline(self, collaborator: CollaboratorId,
                 counts: Counts = None) -> Iterator[tuple[int, CollaboratorId]]:
        return iter(())


def _position(metadata: Mapping[str, Any]) -> int:
    value = metadata.get("position", 0)
    return 0 if value is None else int(value)


class LinearChain(FlatGroup):
    """Members ordered by ``position`` (missing: 0), ties by collaborator id.

    Layers count by rank, never by numeric gap: positions 1, 5, 9 act as 1, 2, 3.
    Upline walks toward the head (lower positions), downline toward the tail.
    """

    capabilities = frozenset({HAS_LAYER})

    def __init__(self, group_id: str, members: Roster) -> None:
        super().__init__(group_id, members)
        self._order = sorted(members, key=lambda name: (_position(members[name]), name))
        self._rank = {name: rank for rank, name in enumerate(self._order)}

    @property
    def order(self) -> list[CollaboratorId]:
        """Members head first."""
        return list(self._order)

    def _walk(self, collaborator: CollaboratorId, step: int,
              counts: Counts) -> Iterator[tuple[int, CollaboratorId]]:
        rank = self._rank.get(collaborator)
        if rank is None:
            return
        uses_layer = counts or _always
        layer, index = 1, rank + step
        while 0 <= index < len(self._order):
            member = self._order[index]
            yield layer, member
            if uses_layer(member):
                layer += 1
            index += step

    def upline(self, collaborator: CollaboratorId,
               counts: Counts = None) -> Iterator[tuple[int, CollaboratorId]]:
        return self._walk(collaborator, -1, counts)

    def downline(self, collaborator: CollaboratorId,
                 counts: Counts = None) -> Iterator[tuple[int, CollaboratorId]]:
        return self._walk(collaborator, 1, counts)


def _parent(name: CollaboratorId, members: Roster) -> CollaboratorId | None:
    """The member's parent if it is another member of the group; else it is a root."""
    parent = members[name].get("parent")
    return parent if isinstance(parent, str) and parent != name and parent in members else None


class ParentChild(FlatGroup):
    """A forest: ``parent`` links (a parent outside the group makes a root).

    Upline follows parent links (one member per layer); downline fans out breadth first,
    layer N being every descendant at depth N. Both walks keep a visited set, so even a
    cycle that reached the store some other way never loops.
    """

    capabilities = frozenset({HAS_LAYER})

    def __init__(self, group_id: str, members: Roster) -> None:
        super().__init__(group_id, members)
        self._parent: dict[CollaboratorId, CollaboratorId] = {}
        self._children: dict[CollaboratorId, list[CollaboratorId]] = {}
        for name in sorted(members):
            parent = _parent(name, members)
            if parent is not None:
                self._parent[name] = parent
                self._children.setdefault(parent, []).append(name)

    def parent_of(self, collaborator: CollaboratorId) -> CollaboratorId | None:
        return self._parent.get(collaborator)

    def upline(self, collaborator: CollaboratorId,
               counts: Counts = None) -> Iterator[tuple[int, CollaboratorId]]:
        if collaborator not in self._members:
            return
        uses_layer = counts or _always
        seen, layer = {collaborator}, 1
        member = self._parent.get(collaborator)
        while member is not None and member not in seen:
            seen.add(member)
            yield layer, member
            if uses_layer(member):
                layer += 1
            member = self._parent.get(member)

    def downline(self, collaborator: CollaboratorId,
                 counts: Counts = None) -> Iterator[tuple[int, CollaboratorId]]:
        if collaborator not in self._members:
            return
        uses_layer = counts or _always
        seen = {collaborator}
        # 0-1 breadth-first walk: a member that does not use up a layer puts its children
        # at its own layer (front of the queue), so layers come out in non-decreasing order.
        queue: deque[tuple[int, CollaboratorId]] = deque(
            (1, child) for child in self._children.get(collaborator, ()))
        while queue:
            layer, member = queue.popleft()
            if member in seen:
                continue
            seen.add(member)
            yield layer, member
            children = self._children.get(member, ())
            if uses_layer(member):
                queue.extend((layer + 1, child) for child in children)
            else:
                queue.extendleft((layer, child) for child in reversed(children))


def check_chain(members: Roster) -> None:
    for name, metadata in members.items():
        value = metadata.get("position")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInput(f"members[{name}].position", value, "is not an integer")


def check_tree(members: Roster) -> None:
    """Refuse a ``parent`` that is not a string, and any cycle of parent links."""
    for name, metadata in members.items():
        value = metadata.get("parent")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"members[{name}].parent", value, "is not a collaborator id")
        if value == name:
            raise InvalidInput(f"members[{name}].parent", value,
                               f"would make a cycle: {name} → {name}")
    state: dict[CollaboratorId, int] = {}  # 1: on the current path, 2: known acyclic
    for start in sorted(members):
        path: list[CollaboratorId] = []
        member: CollaboratorId | None = start
        while member is not None and member not in state:
            state[member] = 1
            path.append(member)
            member = _parent(member, members)
        if member is not None and state[member] == 1:
            cycle = [*path[path.index(member):], member]
            raise InvalidInput(f"members[{cycle[-2]}].parent", cycle[0],
                               "would make a cycle: " + " → ".join(cycle))
        for name in path:
            state[name] = 2


# Member metadata: flat reads none, linear_chain reads ``position``, parent_child reads
# ``parent`` (Siren's ``parentCollaboratorId`` is accepted and stored as ``parent``); any
# other key is refused, so a misspelt key cannot silently make every member a root.
STRUCTURES = [
    GroupStructure(id="flat", description="Peers without order (eligibility only)",
                   capabilities=FlatGroup.capabilities, build=FlatGroup,
                   metadata_keys=frozenset()),
    GroupStructure(id="linear_chain",
                   description="A chain ordered by member metadata 'position' (1 = head)",
                   capabilities=LinearChain.capabilities, build=LinearChain,
                   check=check_chain, metadata_keys=frozenset({"position"})),
    GroupStructure(id="parent_child",
                   description="A forest of 'parent' links (no cycles)",
                   capabilities=ParentChild.capabilities, build=ParentChild, check=check_tree,
                   metadata_keys=frozenset({"parent"}),
                   metadata_aliases={"parentCollaboratorId": "parent"}),
]
