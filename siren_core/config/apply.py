"""``siren apply``: make the store match a configuration file, in one transaction.

``plan`` compares the file with the store and lists what would change, field by field;
``apply`` carries the plan out inside ``Kernel.transaction()``, through the same kernel
operations an application calls, so the same events fire (after the commit) and any
failure leaves the store as it was.

The steps are ordered so that every state the API can reach, a file can say:

* an inactive (or pending, or rejected) collaborator listed in a group joins it as the
  API lets one do: active while it joins, then set back to its status (its status
  changes are events as usual);
* a distributor whose binding changes is unbound first, then its configuration is
  stored, then it is bound to its new group, so a switch to a cascade and a move from a
  flat to a layered group in one file pass the capability checks of each step.
"""

from __future__ import annotations

from typing import Any

import attrs

from siren_core.config.converter import unstructure_distributor
from siren_core.config.diff import FieldChange, field_changes
from siren_core.config.files import CollaboratorEntry, GroupEntry, ProgramEntry, SirenConfig
from siren_core.config.rates import rate_entry, rate_label
from siren_core.domain import DistributorSpec
from siren_core.errors import InvalidInput, NotFound
from siren_core.kernel import Kernel
from siren_core.records import ExchangeRate


@attrs.frozen
class Change:
    """One step of a plan: ``verb`` is create, update, unchanged, bind or unbind;
    ``fields`` says what changes (``field: old → new``)."""

    kind: str
    id: str
    verb: str
    detail: str = ""
    fields: tuple[FieldChange, ...] = ()
    owner: str = ""
    """For a binding: whose it is (``distributor`` or ``program``)."""


def _change(kind: str, id: str, fields: list[FieldChange], detail: str = "") -> Change:
    if not fields:
        return Change(kind, id, "unchanged")
    return Change(kind, id, "update", detail or ", ".join(f.field for f in fields),
                  tuple(fields))


def _collaborator_change(entry: CollaboratorEntry, existing: dict[str, Any]) -> Change:
    current = existing.get(entry.id)
    wanted = {"name": entry.name or entry.id, "status": entry.status, "email": entry.email}
    if current is None:
        return Change("collaborator", entry.id, "create", fields=tuple(
            FieldChange(k, None, v) for k, v in wanted.items() if v is not None))
    have = {"name": current.name, "status": current.status, "email": current.email}
    return _change("collaborator", entry.id, field_changes(have, wanted))


_POLICY_DEFAULTS = {"late_events": "next_period", "unallocated": "forfeit"}
"""Keys the stored shape leaves out at their default: a change shows the default by name
(``unallocated: forfeit → carry_forward``), not as ``(none)``."""


def _distributor_change(kernel: Kernel, spec: DistributorSpec) -> Change:
    wanted = unstructure_distributor(spec)
    try:
        current = kernel.distributor(spec.id)
    except NotFound:
        return Change("distributor", spec.id, "create",
                      fields=tuple(field_changes({}, wanted)))
    fields = field_changes({**_POLICY_DEFAULTS, **unstructure_distributor(current.spec)},
                           {**_POLICY_DEFAULTS, **wanted})
    return _change("distributor", spec.id, fields,
                   f"configuration version {current.config_version + 1}")


def _members(entry: GroupEntry) -> list[dict[str, Any]]:
    return [{"collaborator": m.collaborator, **m.all_metadata()} for m in entry.members]


def _roster_fields(have: dict[str, Any], wanted: dict[str, Any]) -> list[FieldChange]:
    return [FieldChange(f"members.{name}", have.get(name), wanted.get(name))
            for name in sorted(have.keys() | wanted.keys()) if have.get(name) != wanted.get(name)]


def _group_change(kernel: Kernel, entry: GroupEntry, existing: set[str]) -> Change:
    wanted_roster = {m.collaborator: m.all_metadata() for m in entry.members}
    wanted = {"name": entry.name or entry.id, "description": entry.description,
              "structure": entry.structure}
    if entry.id not in existing:
        return Change("group", entry.id, "create", f"{len(entry.members)} members",
                      tuple([*field_changes({}, wanted), *_roster_fields({}, wanted_roster)]))
    current = kernel.group(entry.id)
    have = {"name": current.name, "description": current.description,
            "structure": current.structure}
    roster = {m.collaborator: dict(m.metadata) for m in kernel.group_members(entry.id)}
    return _change("group", entry.id,
                   [*field_changes(have, wanted), *_roster_fields(roster, wanted_roster)])


def _program_change(kernel: Kernel, entry: ProgramEntry, index: int,
                    existing: set[str]) -> Change:
    wanted = {"name": entry.name or entry.id, "status": entry.status}
    if entry.id not in existing:
        return Change("program", entry.id, "create", fields=tuple(field_changes(
            {}, {**wanted, "collaborators": sorted(entry.collaborators)})))
    current = kernel.program(entry.id)
    if sorted(entry.collaborators) != sorted(current.collaborators):
        raise InvalidInput(f"programs[{index}].collaborators", list(entry.collaborators),
                           f"differs from program {entry.id!r}'s "
                           f"{list(current.collaborators)}: a program's collaborators are "
                           "set when it is created")
    if (entry.name or entry.id) != current.name:
        raise InvalidInput(f"programs[{index}].name", entry.name,
                           f"differs from program {entry.id!r}'s {current.name!r}: a "
                           "program's name is set when it is created")
    return _change("program", entry.id, field_changes({"status": current.status},
                                                      {"status": entry.status}))


def _binding_change(kind: str, owner: str, current: str | None,
                    group: str | None) -> Change | None:
    if current == group:
        return None
    if group is None:
        return Change("binding", owner, "unbind", f"from {current}",
                      (FieldChange("group", current, None),), kind)
    return Change("binding", owner, "bind", f"to {group}"
                  + (f" (was {current})" if current else ""),
                  (FieldChange("group", current, group),), kind)


def _bindings(kernel: Kernel, config: SirenConfig, changes: list[Change]) -> list[Change]:
    found = []
    bound = dict(config.bindings)
    programs = dict(config.program_bindings)
    for change in changes:
        if change.kind not in ("distributor", "program"):
            continue
        if change.kind == "distributor":
            wanted = bound.get(change.id)
            current = kernel.distributor_group(change.id) if change.verb != "create" else None
        else:
            wanted = programs.get(change.id)
            current = kernel.program(change.id).group if change.verb != "create" else None
        binding = _binding_change(change.kind, change.id, current, wanted)
        if binding is not None:
            found.append(binding)
    return found


def _rate_changes(kernel: Kernel, rates: tuple[ExchangeRate, ...]) -> list[Change]:
    """Each rate of the file against the stored rate of its pair from its date (rates the
    file does not list stay as they are)."""
    if not rates:
        return []
    stored = {rate_label(r): rate_entry(r)["rate"] for r in kernel.exchange_rates()}
    changes = []
    for rate in rates:
        label, text = rate_label(rate), rate_entry(rate)["rate"]
        if label not in stored:
            changes.append(Change("exchange_rate", label, "create",
                                  fields=(FieldChange("rate", None, text),)))
        else:
            changes.append(_change("exchange_rate", label,
                                   field_changes({"rate": stored[label]}, {"rate": text})))
    return changes


def plan(kernel: Kernel, config: SirenConfig) -> list[Change]:
    """What applying ``config`` would change (nothing is written)."""
    existing = {c.id: c for c in kernel.collaborators()}
    changes = [_collaborator_change(c, existing) for c in config.collaborators]
    groups = {g.id for g in kernel.groups()}
    changes += [_group_change(kernel, g, groups) for g in config.groups]
    programs = {p.id for p in kernel.programs()}
    changes += [_program_change(kernel, p, index, programs)
                for index, p in enumerate(config.programs)]
    changes += [_distributor_change(kernel, d) for d in config.distributors]
    changes += _rate_changes(kernel, config.exchange_rates)
    return changes + _bindings(kernel, config, changes)


def _joining(kernel: Kernel, config: SirenConfig) -> set[str]:
    """Collaborators that join a group in this apply."""
    groups = {g.id for g in kernel.groups()}
    found: set[str] = set()
    for entry in config.groups:
        current = ({m.collaborator for m in kernel.group_members(entry.id)}
                   if entry.id in groups else set())
        found |= {m.collaborator for m in entry.members} - current
    return found


_HELD = ("pending", "inactive", "rejected")
"""Statuses a member can have but not join with: held active while it joins."""


def _apply_collaborators(kernel: Kernel, config: SirenConfig,
                         by_key: dict[tuple[str, str], Change]) -> dict[str, str]:
    """Create and update collaborators; those held active while they join a group, with
    the status each returns to."""
    joining = _joining(kernel, config)
    statuses = {c.id: c.status for c in kernel.collaborators()}
    held = {}
    for entry in config.collaborators:
        verb = by_key[("collaborator", entry.id)].verb
        hold = entry.id in joining and entry.status in _HELD
        status = "active" if hold else entry.status
        if verb == "create":
            kernel.create_collaborator(entry.id, name=entry.name, status=status,
                                       email=entry.email)
        elif verb == "update" or (hold and statuses.get(entry.id) != "active"):
            kernel.update_collaborator(entry.id, name=entry.name or entry.id,
                                       status=status, email=entry.email)
        if hold:
            held[entry.id] = entry.status
    declared = {entry.id for entry in config.collaborators}
    for name in sorted(joining - declared):  # not in the file: it keeps its status
        if statuses.get(name) in _HELD:
            kernel.set_collaborator_status(name, "active")
            held[name] = statuses[name]
    return held


def apply(kernel: Kernel, config: SirenConfig) -> list[Change]:
    """Carry out the plan in one transaction; returns it."""
    changes = plan(kernel, config)
    by_key = {(c.kind, c.id): c for c in changes}
    bindings = [c for c in changes if c.kind == "binding"]
    with kernel.transaction():
        held = _apply_collaborators(kernel, config, by_key)
        _apply_groups(kernel, config, by_key)
        for collaborator, status in held.items():
            kernel.set_collaborator_status(collaborator, status)
        _apply_programs(kernel, config, by_key)
        for change in bindings:  # unbind first: the new configuration meets the new group
            if change.fields[0].old is not None:
                _bind(kernel, change.owner, change.id, None)
        for spec in config.distributors:
            verb = by_key[("distributor", spec.id)].verb
            if verb == "create":
                kernel.create_distributor(spec)
            elif verb == "update":
                kernel.update_distributor(spec)
        for change in bindings:
            if change.verb == "bind":
                _bind(kernel, change.owner, change.id, change.fields[0].new)
        for rate in config.exchange_rates:
            if by_key[("exchange_rate", rate_label(rate))].verb != "unchanged":
                kernel.set_exchange_rate(rate.base, rate.quote, rate.rate,
                                         since=rate.since.date())
    return changes


def _bind(kernel: Kernel, kind: str, owner: str, group: str | None) -> None:
    if kind == "distributor":
        kernel.bind_distributor(owner, group)
    else:
        kernel.bind_program(owner, group)


def _apply_groups(kernel: Kernel, config: SirenConfig,
                  by_key: dict[tuple[str, str], Change]) -> None:
    for entry in config.groups:
        verb = by_key[("group", entry.id)].verb
        if verb == "create":
            kernel.create_group(entry.id, name=entry.name, description=entry.description,
                                structure=entry.structure, members=_members(entry))
        elif verb == "update":
            _update_group(kernel, entry)


def _update_group(kernel: Kernel, entry: GroupEntry) -> None:
    """Structure, then roster. When the roster in the store does not fit the new
    structure, the roster first; when neither order fits (each structure refuses the
    other's metadata), the members without metadata in between. A refused check writes
    nothing, and a refusal in the last order undoes the whole apply."""
    def structure() -> None:
        kernel.update_group(entry.id, name=entry.name or entry.id,
                            description=entry.description, structure=entry.structure)

    members = _members(entry)
    try:
        structure()
    except InvalidInput:
        pass
    else:
        kernel.set_group_members(entry.id, members)
        return
    try:
        kernel.set_group_members(entry.id, members)
    except InvalidInput:
        kernel.set_group_members(entry.id, [{"collaborator": m.collaborator}
                                            for m in entry.members])
        structure()
        kernel.set_group_members(entry.id, members)
        return
    structure()


def _apply_programs(kernel: Kernel, config: SirenConfig,
                    by_key: dict[tuple[str, str], Change]) -> None:
    for entry in config.programs:
        verb = by_key[("program", entry.id)].verb
        if verb == "create":
            kernel.create_program(entry.id, name=entry.name, status=entry.status,
                                  collaborators=entry.collaborators)
        elif verb == "update":
            kernel.set_program_status(entry.id, entry.status)
