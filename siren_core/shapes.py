"""A fast path for structuring flat event shapes, with cattrs as the authority.

Source events arrive as dictionaries of plain values (``{"id": "o-1", "at": "...Z",
"amount": "120.00", ...}``). For an attrs class whose fields are strings, ints, decimals,
datetimes (or those ``| None``), :class:`FastShape` checks and converts such a dictionary
with the very functions the kernel's converter uses (``parse_decimal``, ``parse_datetime``,
strict ``str``/``int``) and builds the instance directly. Whenever anything is unusual (a
missing or extra key, a value that does not convert, a field of another type given
explicitly) it answers ``None`` and the caller falls back to the converter, which then
produces the error naming the field. So the fast path accepts exactly what the converter
accepts, only sooner.

``FastShape.unstructure`` is the matching shortcut for ``converter.unstructure`` of such an
instance (the same dictionary, without cattrs' dispatch). :class:`Shapes` puts both in
front of a converter.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Any, TypeVar, cast

import attrs
import cattrs

from siren_core.config import parse_datetime, parse_decimal, strict_str, structure

T = TypeVar("T")

Check = Callable[[Any], Any]


def _exact(kind: type) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise ValueError
        return value
    return check


def _optional(inner: Check) -> Check:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)
    return check


_SIMPLE: dict[Any, Check] = {str: strict_str, int: _exact(int), Decimal: parse_decimal,
                             datetime: parse_datetime}


def _checker(annotation: Any) -> Check | None:
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not NoneType]
        if len(members) == 1 and len(typing.get_args(annotation)) == 2:
            inner = _checker(members[0])
            return None if inner is None else _optional(inner)
    return None


class FastShape:
    """Structures plain dictionaries into one flat attrs class, or answers ``None``.

    Both directions are generated once per class as straight-line Python (as cattrs does
    for its own hooks): one look-up and one check per field, no loop, no dispatch.
    """

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        checks: dict[str, Check] = {}
        complex_fields: list[str] = []
        for field in attrs.fields(cls):
            check = _checker(hints[field.name])
            if check is not None:
                checks[field.name] = check
            elif field.default is attrs.NOTHING:
                raise TypeError(f"{cls.__name__}.{field.name} is not a flat field")
            else:
                complex_fields.append(field.name)
        as_text = [name for name, check in checks.items()
                   if check in (parse_decimal, parse_datetime)
                   or hints[name] in (Decimal | None, datetime | None)]
        self.structure: Callable[[Mapping[str, Any]], Any | None] = _structurer(
            cls, checks, complex_fields)
        self.unstructure: Callable[[Any], dict[str, Any] | None] = _unstructurer(
            cls, complex_fields, as_text)

    @classmethod
    def of(cls, shape: type[Any]) -> FastShape | None:
        """A fast shape for ``shape``, or ``None`` if it has required non-flat fields."""
        if not attrs.has(shape):
            return None
        try:
            return cls(shape)
        except (TypeError, NameError):
            return None


def _compile(source: str, name: str, scope: dict[str, Any]) -> Any:
    exec(compile(source, f"<siren fast shape {name}>", "exec"), scope)
    return scope[name]


def _structurer(cls: type[Any], checks: dict[str, Check],
                complex_fields: list[str]) -> Callable[[Mapping[str, Any]], Any | None]:
    """``structure(data)``: the instance, or ``None`` when cattrs must decide.

    A missing required key raises ``KeyError``, a value that does not convert
    ``ValueError``/``TypeError``; a complex field given, or a key no field has, makes the
    count of known keys differ from ``len(data)``.
    """
    scope: dict[str, Any] = {"cls": cls}
    lines = ["def structure(data):", "    try:", "        found = 0", "        values = {}"]
    for index, field in enumerate(attrs.fields(cls)):
        if field.name in complex_fields:
            continue
        scope[f"check{index}"] = checks[field.name]
        key = repr(field.name)
        fetch = [f"values[{key}] = check{index}(data[{key}])", "found += 1"]
        if field.default is attrs.NOTHING:
            lines += [f"        {line}" for line in fetch]
        else:
            lines += [f"        if {key} in data:"] + [f"            {line}" for line in fetch]
    lines += ["        if found != len(data):", "            return None",
              "        return cls(**values)",
              "    except (KeyError, ValueError, TypeError, ArithmeticError):",
              "        return None"]
    return cast(Callable[[Mapping[str, Any]], Any | None],
                _compile("\n".join(lines), "structure", scope))


def _unstructurer(cls: type[Any], complex_fields: list[str],
                  as_text: list[str]) -> Callable[[Any], dict[str, Any] | None]:
    """``unstructure(event)``: ``converter.unstructure(event)`` when every complex field is
    empty (else ``None``), with decimals and datetimes as ``str(value)``: the same text once
    dumped as JSON with ``default=str`` (how source events are digested)."""
    lines = ["def unstructure(event):"]
    lines += [f"    if event.{name}:\n        return None" for name in complex_fields]
    items = []
    for field in sorted(attrs.fields(cls), key=lambda field: field.name):
        name = field.name
        if name in complex_fields:
            items.append(f"{name!r}: []")
        elif name in as_text:
            lines.append(f"    {name} = event.{name}")
            items.append(f"{name!r}: None if {name} is None else str({name})")
        else:
            items.append(f"{name!r}: event.{name}")
    lines.append("    return {" + ", ".join(items) + "}")
    return cast(Callable[[Any], dict[str, Any] | None],
                _compile("\n".join(lines), "unstructure", {}))


class Shapes:
    """Structure and unstructure source events: the fast path first, then the converter."""

    def __init__(self, converter: cattrs.Converter) -> None:
        self._converter = converter
        self._fast: dict[type[Any], FastShape | None] = {}

    def _shape(self, cls: type[Any]) -> FastShape | None:
        if cls not in self._fast:
            self._fast[cls] = FastShape.of(cls)
        return self._fast[cls]

    def structure(self, data: Mapping[str, Any], cls: type[T], prefix: str) -> T:
        shape = self._shape(cls)
        found = shape.structure(data) if shape is not None and isinstance(data, dict) else None
        if found is not None:
            return cast(T, found)
        return structure(self._converter, dict(data), cls, prefix=prefix)

    def unstructure(self, event: Any) -> Any:
        shape = self._shape(type(event))
        found = shape.unstructure(event) if shape is not None else None
        return self._converter.unstructure(event) if found is None else found

    def canonical(self, event: Any) -> str:
        """The JSON text idempotency compares: keys sorted, compact, decimals and
        datetimes as ``str(value)``. (The fast dictionary already has sorted keys and
        only JSON values, so it is dumped without sorting or a ``default``: same text.)"""
        shape = self._shape(type(event))
        found = shape.unstructure(event) if shape is not None else None
        if found is not None:
            return _COMPACT.encode(found)
        return _SORTED.encode(self._converter.unstructure(event))


# Built once: ``json.dumps`` with any option builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_SORTED = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))
