"""Field-level differences between two configuration shapes (what ``apply --dry-run``
prints: ``pool.amount: 500.00 → 750.00``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class FieldChange:
    """One field that changes: its dotted path, the value now (``None``: absent) and the
    value the file asks for."""

    field: str
    old: Any
    new: Any

    def text(self) -> str:
        return f"{self.field}: {_shown(self.old)} → {_shown(self.new)}"


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return repr(value) if not isinstance(value, list | dict) else _compact(value)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, inner in value.items():
        path = f"{prefix}{key}"
        if isinstance(inner, Mapping) and inner:
            found.update(_flat(inner, f"{path}."))
        elif isinstance(inner, list) and inner and all(isinstance(i, Mapping) for i in inner):
            for index, item in enumerate(inner):
                found.update(_flat(item, f"{path}[{index}]."))
        else:
            found[path] = inner
    return found


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Every leaf that differs between ``old`` and ``new``: nested tables by dotted paths,
    lists of tables by index (``metrics[0].points``), other lists whole; in the order of
    ``new``, then the fields only ``old`` has."""
    before, after = _flat(old), _flat(new)
    keys = [*after, *(k for k in before if k not in after)]
    return [FieldChange(k, before.get(k), after.get(k)) for k in keys
            if before.get(k) != after.get(k)]
