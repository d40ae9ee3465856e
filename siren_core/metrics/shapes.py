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

``FastShape.canonical`` is the matching shortcut the other way: the canonical JSON text of
``converter.unstructure(instance)`` (what idempotency digests), written directly with the
JSON encoder's own string escaping instead of through cattrs' dispatch and the encoder.
:class:`Shapes` puts both in front of a converter.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from hashlib import sha256
from json.encoder import encode_basestring_ascii
from types import NoneType, UnionType
from typing import Any, TypeVar, cast

import attrs
import cattrs

from siren_core.config.converter import parse_datetime, parse_decimal, structure
from siren_core.frozen import slot_setters
from siren_core.money import PLAIN_DECIMAL

T = TypeVar("T")

_KINDS = (str, int, Decimal, datetime)


def _kind(annotation: Any) -> tuple[type, bool] | None:
    """``(kind, optional)`` of a flat annotation (``str``, ``int | None``, …), else ``None``."""
    if annotation in _KINDS:
        return annotation, False
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not NoneType]
        if len(members) == 1 and len(typing.get_args(annotation)) == 2 and \
                members[0] in _KINDS:
            return members[0], True
    return None


class FastShape:
    """Structures plain dictionaries into one flat attrs class, or answers ``None``.

    Both directions are generated once per class as straight-line Python (as cattrs does
    for its own hooks): one look-up and one check per field, no loop, no dispatch.
    """

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        kinds: dict[str, tuple[type, bool]] = {}
        for field in attrs.fields(cls):
            kind = _kind(hints[field.name])
            if kind is not None and field.init:
                kinds[field.name] = kind
            elif field.default is attrs.NOTHING or not field.init:
                raise TypeError(f"{cls.__name__}.{field.name} is not a flat field")
        complex_fields = [f.name for f in attrs.fields(cls) if f.name not in kinds]
        self.structure: Callable[[Mapping[str, Any]], Any | None] = _structurer(cls, kinds)
        self.canonical: Callable[[Any], str | None] = _canonical_writer(
            cls, complex_fields, {name: kind for name, (kind, _) in kinds.items()})

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


def _structurer(cls: type[Any], kinds: dict[str, tuple[type, bool]]
                ) -> Callable[[Mapping[str, Any]], Any | None]:
    """``structure(data)``: the instance, or ``None`` when cattrs must decide.

    Each value is checked as the converter's hooks check it, inline for the common exact
    types (a plain ``str`` without NUL or lone surrogate, an ``int``, a decimal or aware
    ISO 8601 text) and through the very hook otherwise. A missing required key raises
    ``KeyError``, a value that does not convert ``ValueError``/``TypeError``/
    ``ArithmeticError``; a complex field given, or a key no field has, makes the count of
    known keys differ from ``len(data)``.
    """
    scope: dict[str, Any] = {"cls": cls, "Decimal": Decimal, "parse_decimal": parse_decimal,
                             "plain_decimal": PLAIN_DECIMAL.fullmatch,
                             "fromisoformat": datetime.fromisoformat,
                             "parse_datetime": parse_datetime}
    lines = ["def structure(data):", "    try:", "        found = 0"]
    arguments = []
    for index, field in enumerate(attrs.fields(cls)):
        if field.name not in kinds:
            continue
        kind, optional = kinds[field.name]
        name, key = f"v{index}", repr(field.name)
        check = _CHECKS[kind].replace("{v}", name)
        if optional:
            check = f"if {name} is not None:\n" + _indent(check)
        fetch = f"{name} = data[{key}]\nfound += 1\n{check}"
        if field.default is not attrs.NOTHING:
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                scope[f"default{index}"] = default.factory
                fallback = f"default{index}()"
            else:
                scope[f"default{index}"] = default
                fallback = f"default{index}"
            fetch = f"if {key} in data:\n{_indent(fetch)}\nelse:\n    {name} = {fallback}"
        lines.append(_indent(fetch, 8))
        arguments.append(f"{field.alias}={name}")
    lines += ["        if found != len(data):", "            return None",
              *_construction(cls, kinds, arguments, scope),
              "    except (KeyError, ValueError, TypeError, ArithmeticError):",
              "        return None"]
    return cast(Callable[[Mapping[str, Any]], Any | None],
                _compile("\n".join(lines), "structure", scope))


def _construction(cls: type[Any], kinds: dict[str, tuple[type, bool]], arguments: list[str],
                  scope: dict[str, Any]) -> list[str]:
    """The structurer's last lines: ``cls(...)``, or for a plain class (see
    :mod:`siren_core.frozen`) the instance built slot by slot, every field set as that
    call sets it (a field the event cannot give gets its default)."""
    setters = slot_setters(cls)
    if setters is None:
        return [f"        return cls({', '.join(arguments)})"]
    scope["new"] = object.__new__
    lines = ["        instance = new(cls)"]
    for index, field in enumerate(attrs.fields(cls)):
        scope[f"set{index}"] = setters[index]
        if field.name in kinds:
            value = f"v{index}"
        else:  # a complex field: only its default gets here
            scope[f"default{index}"] = field.default
            value = f"default{index}.factory()" if isinstance(
                field.default, attrs.Factory) else f"default{index}"  # type: ignore[arg-type]
        lines.append(f"        set{index}(instance, {value})")
    return [*lines, "        return instance"]


# The inline checks, on a value ``{v}`` (a variable per field); each accepts exactly what the
# converter's hook (``strict_str``, ``parse_decimal``, ``parse_datetime``, strict ints)
# accepts, giving the same value, and fails otherwise.
_CHECKS = {
    str: "if type({v}) is not str or '\\x00' in {v}:\n    return None\n"
         "if not {v}.isascii():\n    {v}.encode()",
    int: "if type({v}) is not int:\n    return None",
    Decimal: "if type({v}) is str:\n    if plain_decimal({v}) is None:\n        return None\n"
             "    {v} = Decimal({v})\nelse:\n    {v} = parse_decimal({v})",
    # Years 1 and 9999 may not convert to UTC: parse_datetime decides.
    datetime: "if type({v}) is str:\n    {v} = fromisoformat({v})\n"
              "    if {v}.tzinfo is None or {v}.utcoffset() is None or {v}.year == 1 "
              "or {v}.year == 9999:\n        return None\n"
              "else:\n    {v} = parse_datetime({v})",
}


def _indent(code: str, by: int = 4) -> str:
    return "\n".join(" " * by + line for line in code.split("\n"))


def _canonical_writer(cls: type[Any], complex_fields: list[str],
                      kinds: dict[str, type]) -> Callable[[Any], str | None]:
    """``canonical(event)``: ``_SORTED.encode(converter.unstructure(event))`` when every
    complex field is empty (else ``None``), written by one f-string.

    The pieces are what ``json.JSONEncoder`` writes for each value: its own C function for
    strings (``ensure_ascii``), ``int.__repr__`` for the exact ints the fast path admits,
    ``null``, ``[]``, and ``str(value)`` quoted for decimals and datetimes (``default=str``);
    keys in sorted order.
    """
    scope: dict[str, Any] = {"quote": encode_basestring_ascii, "integer": int.__repr__,
                             "datetime": datetime}
    lines = ["def canonical(event):"]
    lines += [f"    if event.{name}:\n        return None" for name in complex_fields]
    template = []  # the text, each value's piece a placeholder (one f-string: no concatenation)
    for index, field in enumerate(sorted(attrs.fields(cls), key=lambda field: field.name)):
        name, key = field.name, _literal(encode_basestring_ascii(field.name))
        if name in complex_fields:
            template.append(f"{key}:[]")
            continue
        if kinds[name] is datetime:  # str(value), sooner for a plain datetime
            text = (f"quote({name}.isoformat(' ') if type({name}) is datetime "
                    f"else str({name}))")
        elif kinds[name] is Decimal:
            text = f"quote(str({name}))"
        elif kinds[name] is int:
            text = f"integer({name})"
        else:
            text = f"quote({name})"
        lines.append(f"    {name} = event.{name}")
        lines.append(f"    piece{index} = 'null' if {name} is None else {text}")
        template.append(f"{key}:{{piece{index}}}")
    lines.append(f"    return f{'{{' + ','.join(template) + '}}'!r}")
    return cast(Callable[[Any], str | None],
                _compile("\n".join(lines), "canonical", scope))


def _literal(text: str) -> str:
    """``text`` as it stands in an f-string's template (its braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


class Shapes:
    """Structure source events and write their canonical text: the fast path first, then
    the converter."""

    def __init__(self, converter: cattrs.Converter) -> None:
        self._converter = converter
        self._fast: dict[type[Any], FastShape | None] = {}

    def _shape(self, cls: type[Any]) -> FastShape | None:
        try:
            return self._fast[cls]
        except KeyError:
            found = self._fast[cls] = FastShape.of(cls)
            return found

    def structure(self, data: Mapping[str, Any] | T, cls: type[T], prefix: str) -> T:
        """``data`` as a checked ``cls``; an instance given is checked the same way (attrs
        does not check types: a naive datetime or an int id must not slip in that way)."""
        shape = self._shape(cls)
        if type(data) is dict and shape is not None:
            found = shape.structure(data)
            if found is not None:
                return cast(T, found)
        if isinstance(data, cls):
            data = self._converter.unstructure(data)
        return structure(self._converter, dict(cast(Mapping[str, Any], data)), cls,
                         prefix=prefix)

    def parse(self, data: Mapping[str, Any] | T, cls: type[T], prefix: str
              ) -> tuple[T, str, str]:
        """:meth:`structure` and :meth:`digest` at once (a source event is always both):
        the event, the SHA-256 of its canonical text, the text."""
        shape = self._fast.get(cls, _UNKNOWN)  # (a look-up, not a call: once per event)
        if shape is _UNKNOWN:
            shape = self._shape(cls)
        found: Any = shape.structure(data) if shape is not None and type(data) is dict else None
        event: T = self.structure(data, cls, prefix) if found is None else found
        text = shape.canonical(event) if shape is not None else None
        if text is None:
            text = _SORTED.encode(self._converter.unstructure(event))
        return event, sha256(text.encode()).hexdigest(), text

    def canonical(self, event: Any) -> str:
        """The JSON text idempotency compares: keys sorted, compact, decimals and
        datetimes as ``str(value)``."""
        shape = self._shape(type(event))
        found = shape.canonical(event) if shape is not None else None
        return _SORTED.encode(self._converter.unstructure(event)) if found is None else found

    def digest(self, event: Any) -> tuple[str, str]:
        """(SHA-256 of the canonical text, the text) of a structured source event: what
        idempotency stores and compares."""
        text = self.canonical(event)
        return sha256(text.encode()).hexdigest(), text


_UNKNOWN: Any = object()
"""A class :class:`Shapes` has not looked at yet."""

# Built once: ``json.dumps`` with any option builds a new encoder on every call.
_SORTED = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))
