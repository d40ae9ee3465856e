"""``siren apply``: make the store match a configuration file, in one transaction.

``plan`` compares the file with the store and lists what would change; ``apply`` carries
the plan out inside ``Kernel.transaction()``, through the same kernel operations an
application calls, so the same events fire (after the commit) and any failure leaves the
store as it was.
"""

from __future__ import annotations

from typing import Any

import attrs

from siren_core.config.converter import unstructure_distributor
from siren_core.config.files import CollaboratorEntry, GroupEntry, SirenConfig
from siren_core.domain import DistributorSpec
from siren_core.errors import NotFound
from siren_core.kernel import Kernel


@attrs.frozen
class Change:
    """One step of a plan: ``verb`` is create, update or unchanged."""

    kind: str
    id: str
    verb: str
    detail: str = ""


def _collaborator_change(kernel: Kernel, entry: CollaboratorEntry,
                         existing: dict[str, Any]) -> Change:
    current = existing.get(entry.id)
    if current is None:
        return Change("collaborator", entry.id, "create")
    wanted = (entry.name or entry.id, entry.status, entry.email)
    have = (current.name, current.status, current.email)
    if wanted == have:
        return Change("collaborator", entry.id, "unchanged")
    fields = [name for name, a, b in zip(("name", "status", "email"), wanted, have, strict=True)
              if a != b]
    return Change("collaborator", entry.id, "update", ", ".join(fields))


def _distributor_change(kernel: Kernel, spec: DistributorSpec) -> Change:
    try:
        current = kernel.distributor(spec.id)
    except NotFound:
        return Change("distributor", spec.id, "create")
    if unstructure_distributor(current.spec) == unstructure_distributor(spec):
        return Change("distributor", spec.id, "unchanged")
    return Change("distributor", spec.id, "update",
                  f"configuration version {current.config_version + 1}")


def _members(entry: GroupEntry) -> list[dict[str, Any]]:
    return [{"collaborator": m.collaborator, **m.all_metadata()} for m in entry.members]


def _group_change(kernel: Kernel, entry: GroupEntry, existing: set[str],
                  new_collaborators: set[str]) -> Change:
    if entry.id not in existing:
        return Change("group", entry.id, "create", f"{len(entry.members)} members")
    current = kernel.group(entry.id)
    fields = [name for name, wanted, have in (
        ("name", entry.name or entry.id, current.name),
        ("description", entry.description, current.description),
        ("structure", entry.structure, current.structure)) if wanted != have]
    roster = {m.collaborator: dict(m.metadata) for m in kernel.group_members(entry.id)}
    wanted_roster = {m.collaborator: m.all_metadata() for m in entry.members}
    if roster != wanted_roster or new_collaborators & wanted_roster.keys():
        fields.append("members")
    return Change("group", entry.id, "update" if fields else "unchanged", ", ".join(fields))


def _binding_change(kernel: Kernel, distributor: str, group: str | None,
                    exists: bool) -> Change | None:
    current = kernel.distributor_group(distributor) if exists else None
    if current == group:
        return None
    if group is None:
        return Change("binding", distributor, "unbind", f"from {current}")
    return Change("binding", distributor, "bind", f"to {group}"
                  + (f" (was {current})" if current else ""))


def plan(kernel: Kernel, config: SirenConfig) -> list[Change]:
    """What applying ``config`` would change (nothing is written)."""
    existing = {c.id: c for c in kernel.collaborators()}
    changes = [_collaborator_change(kernel, c, existing) for c in config.collaborators]
    new = {c.id for c in changes if c.verb == "create"}
    groups = {g.id for g in kernel.groups()}
    changes += [_group_change(kernel, g, groups, new) for g in config.groups]
    distributors = [_distributor_change(kernel, d) for d in config.distributors]
    changes += distributors
    bound = dict(config.bindings)
    for change in distributors:
        binding = _binding_change(kernel, change.id, bound.get(change.id),
                                  exists=change.verb != "create")
        if binding is not None:
            changes.append(binding)
    return changes


def apply(kernel: Kernel, config: SirenConfig) -> list[Change]:
    """Carry out the plan in one transaction; returns it."""
    changes = plan(kernel, config)
    by_key = {(c.kind, c.id): c for c in changes}
    with kernel.transaction():
        for entry in config.collaborators:
            change = by_key[("collaborator", entry.id)]
            if change.verb == "create":
                kernel.create_collaborator(entry.id, name=entry.name, status=entry.status,
                                           email=entry.email)
            elif change.verb == "update":
                kernel.update_collaborator(entry.id, name=entry.name or entry.id,
                                           status=entry.status, email=entry.email)
        _apply_groups(kernel, config, by_key)
        for spec in config.distributors:
            verb = by_key[("distributor", spec.id)].verb
            if verb == "create":
                kernel.create_distributor(spec)
            elif verb == "update":
                kernel.update_distributor(spec)
        for change in changes:
            if change.kind == "binding":
                kernel.bind_distributor(change.id, dict(config.bindings).get(change.id))
    return changes


def _apply_groups(kernel: Kernel, config: SirenConfig,
                  by_key: dict[tuple[str, str], Change]) -> None:
    for entry in config.groups:
        verb = by_key[("group", entry.id)].verb
        if verb == "create":
            kernel.create_group(entry.id, name=entry.name, description=entry.description,
                                structure=entry.structure, members=_members(entry))
        elif verb == "update":
            kernel.update_group(entry.id, name=entry.name or entry.id,
                                description=entry.description, structure=entry.structure)
            kernel.set_group_members(entry.id, _members(entry))
