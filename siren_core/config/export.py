"""``siren export``: the current store as a configuration file.

The file has the shape ``siren apply`` reads (:mod:`siren_core.config.files`):
collaborators, groups with their members and metadata, programs, distributors with
their full configuration, status and binding, and the stored exchange rates. Applying it
to an empty store gives the same state; applying it back to its own store changes nothing.

Not in the file: what the pipeline made (credits, periods, allocations, obligations,
payouts) and a binding to a group that was deleted (the file can only name live groups).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from siren_core.config.converter import unstructure_distributor
from siren_core.config.rates import rate_entry
from siren_core.kernel import Kernel

FORMATS = ("toml", "json")


def _collaborators(kernel: Kernel) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "status": c.status,
             **({"email": c.email} if c.email else {})} for c in kernel.collaborators()]


def _groups(kernel: Kernel) -> list[dict[str, Any]]:
    found = []
    for group in kernel.groups():
        members = [{"collaborator": m.collaborator,
                    **({"metadata": dict(m.metadata)} if m.metadata else {})}
                   for m in kernel.group_members(group.id)]
        found.append({"id": group.id, "name": group.name, "description": group.description,
                      "structure": group.structure, "members": members})
    return found


def _without_none(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


def _distributors(kernel: Kernel, live: set[str]) -> list[dict[str, Any]]:
    found = []
    for distributor in kernel.distributors():
        data = _without_none(unstructure_distributor(distributor.spec))
        if not any(data.get("revenue", {}).values()):
            data.pop("revenue", None)
        group = kernel.distributor_group(distributor.spec.id)
        if group in live:
            data["group"] = group
        found.append(data)
    return found


def _programs(kernel: Kernel, live: set[str]) -> list[dict[str, Any]]:
    return [{"id": p.id, "name": p.name, "status": p.status,
             "collaborators": list(p.collaborators),
             **({"group": p.group} if p.group in live else {})} for p in kernel.programs()]


def export_config(kernel: Kernel) -> dict[str, Any]:
    """The store's configuration as the dictionary ``siren apply`` reads."""
    groups = _groups(kernel)
    live = {g["id"] for g in groups}
    found: dict[str, Any] = {
        "collaborators": _collaborators(kernel), "groups": groups,
        "programs": _programs(kernel, live), "distributors": _distributors(kernel, live)}
    if rates := [rate_entry(rate) for rate in kernel.exchange_rates()]:
        found["exchange_rates"] = rates
    return found


def unsayable_bindings(kernel: Kernel) -> list[str]:
    """What the export leaves out and applying it elsewhere would change: the distributors
    and programs bound to a deleted group (they pay no one through it; unbound, a
    distributor pays every active collaborator)."""
    found = []
    for distributor in kernel.distributors():
        binding = kernel.distributor_binding(distributor.spec.id)
        if binding is not None and binding.deleted:
            found.append(f"distributor {distributor.spec.id!r} is bound to deleted group "
                         f"{binding.group!r}")
    for program in kernel.programs():
        if program.binding is not None and program.binding.deleted:
            found.append(f"program {program.id!r} is bound to deleted group "
                         f"{program.binding.group!r}")
    return found


def export_text(kernel: Kernel, format: str = "toml") -> str:
    """The store's configuration as TOML or JSON text."""
    data = export_config(kernel)
    if format == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return to_toml(data)


def to_toml(data: Mapping[str, list[dict[str, Any]]]) -> str:
    """TOML for a file of arrays of tables whose values are text, numbers, booleans,
    lists and tables (nested ones inline)."""
    lines = ["# siren export: apply it with `siren apply FILE`"]
    for section, tables in data.items():
        for table in tables:
            lines += ["", f"[[{section}]]"]
            lines += [f"{_key(key)} = {_value(value, multiline=True)}"
                      for key, value in table.items()]
    return "\n".join(lines) + "\n"


_BARE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _key(key: str) -> str:
    return key if key and set(key) <= _BARE else json.dumps(key, ensure_ascii=False)


def _value(value: Any, *, multiline: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()
                          if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        items = [_value(v) for v in value]
        if multiline and any(isinstance(v, Mapping) for v in value):
            return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
        return "[" + ", ".join(items) + "]"
    if value is None:
        raise ValueError("TOML has no null")
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
