"""``siren apply``: make the store match a configuration file, in one transaction.

``plan`` compares the file with the store and lists what would change; ``apply`` carries
the plan out inside ``Kernel.transaction()``, through the same kernel operations an
application calls, so the same events fire (after the commit) and any failure leaves the
store as it was.
"""

from __future__ import annotations

from typing import Any

import attrs

from siren_core.config import unstructure_distributor
from siren_core.config_file import CollaboratorEntry, SirenConfig
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


def plan(kernel: Kernel, config: SirenConfig) -> list[Change]:
    """What applying ``config`` would change (nothing is written)."""
    existing = {c.id: c for c in kernel.collaborators()}
    changes = [_collaborator_change(kernel, c, existing) for c in config.collaborators]
    changes += [_distributor_change(kernel, d) for d in config.distributors]
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
        for spec in config.distributors:
            verb = by_key[("distributor", spec.id)].verb
            if verb == "create":
                kernel.create_distributor(spec)
            elif verb == "update":
                kernel.update_distributor(spec)
    return changes
