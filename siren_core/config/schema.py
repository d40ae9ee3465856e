"""The JSON Schema (draft 2020-12) of an attrs class, as the configuration converter reads it.

``siren plugins --json`` and ``siren plugins schema ID`` describe every plugin's config
class (and every trigger strategy's event class) with it, so that an editor or another
tool can check a configuration before Siren sees it. The schema follows the converter of
:mod:`siren_core.config.converter`:

* ``int`` is an integer (``true`` is not), ``bool`` a boolean, ``str`` a string;
* ``Decimal`` is a string of plain decimal text (the converter's
  :data:`~siren_core.money.PLAIN_DECIMAL`) or an integer, never a float;
* ``date`` and ``datetime`` are strings (format ``date`` / ``date-time``);
* ``Literal`` and enums are an ``enum``; tuples, lists and sets are arrays; ``X | None``
  also takes ``null``; a nested attrs class is a nested object;
* every object refuses unknown keys (``additionalProperties: false``: the converter
  forbids extra keys); a field without a default is ``required``; defaults are given.

A field may add schema keywords of its own through its metadata, under
:data:`SCHEMA_METADATA` (``attrs.field(metadata={"json_schema": {"minimum": 0}})``):
bounds the class's validators check. A type the generator does not know (a class with a
structure hook of its own) is described as any value, so that the schema is never stricter
than the converter.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Mapping, Sequence, Set
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Union

import attrs

from siren_core.money import PLAIN_DECIMAL, plain_text

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_METADATA = "json_schema"
"""The attrs field metadata key holding extra JSON Schema keywords for that field."""
DECIMAL_PATTERN = f"^{PLAIN_DECIMAL.pattern}$"
"""The converter's decimal text as an anchored pattern (the syntax is also ECMA-262's)."""

_SCALARS: dict[Any, dict[str, Any]] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    str: {"type": "string"},
    Decimal: {"type": ["string", "integer"], "pattern": DECIMAL_PATTERN},
    date: {"type": "string", "format": "date"},
    datetime: {"type": "string", "format": "date-time"},
    Any: {},
}
_ARRAYS = (tuple, list, set, frozenset, Sequence, Set)


def class_schema(cls: type[Any] | None, *, title: str = "",
                 discriminator: tuple[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The schema of ``cls`` (``None``: a class-less config, which takes no keys).

    ``discriminator`` is the key that picks the plugin in a configuration table and the
    ids it may hold (``("id", ["top_score", "topScoreWins"])``): the table as written in
    a file carries it beside the config's own keys, so the schema requires it.
    """
    body = _closed({}, []) if cls is None else type_schema(cls)
    if discriminator is not None and "properties" in body:
        key, ids = discriminator
        body["properties"] = {key: {"enum": list(ids)}, **body["properties"]}
        body["required"] = [key, *body.get("required", [])]
    head: dict[str, Any] = {"$schema": DRAFT}
    if title:
        head["title"] = title
    return {**head, **body}


def object_schema(cls: type[Any]) -> dict[str, Any]:
    """The object schema of one attrs class: its fields, required ones, no other keys."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation naming what its module cannot resolve: any value
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        if not field.init:
            continue
        prop = type_schema(hints.get(field.name, Any))
        extra = field.metadata.get(SCHEMA_METADATA, {})
        prop = {**prop, **{key: ({**prop[key], **value} if isinstance(value, Mapping)
                                 and isinstance(prop.get(key), Mapping) else value)
                           for key, value in extra.items()}}
        if field.default is attrs.NOTHING:
            required.append(field.name)
        else:
            default = _default(field)
            if default is not attrs.NOTHING:
                prop["default"] = default
        properties[field.name] = prop
    schema = _closed(properties, required)
    doc = cls.__doc__
    if doc:
        schema = {"description": inspect.cleandoc(doc), **schema}
    return schema


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def type_schema(hint: Any) -> dict[str, Any]:
    """The schema of one field type."""
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if origin is Union or origin is types.UnionType:
        return _union(args)
    if origin in _ARRAYS:
        return _array(origin, args)
    if origin is dict or origin is Mapping:
        return {"type": "object", "additionalProperties": type_schema(args[1]) if args else {}}
    if isinstance(hint, type) and attrs.has(hint):
        return object_schema(hint)
    return {"$comment": f"{getattr(hint, '__name__', hint)}: not described"}


def _union(args: tuple[Any, ...]) -> dict[str, Any]:
    choices = [type_schema(arg) for arg in args if arg is not type(None)]
    if type(None) in args:
        choices.append({"type": "null"})
    return choices[0] if len(choices) == 1 else {"anyOf": choices}


def _array(origin: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    if origin is tuple and args and args[-1] is not Ellipsis:  # tuple[int, str]: fixed
        return {"type": "array", "prefixItems": [type_schema(arg) for arg in args],
                "minItems": len(args), "maxItems": len(args), "items": False}
    return {"type": "array", "items": type_schema(args[0]) if args else {}}


def _default(field: attrs.Attribute[Any]) -> Any:
    """A field's default as JSON (``NOTHING`` for a default computed from the instance)."""
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            return attrs.NOTHING
        default = default.factory()
    return json_value(default)


def json_value(value: Any) -> Any:
    """A Python default as JSON: decimals as their text, sequences as arrays."""
    if isinstance(value, Decimal):
        return plain_text(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted((json_value(item) for item in value), key=repr)
    if isinstance(value, tuple | list):
        return [json_value(item) for item in value]
    if attrs.has(type(value)):
        return {key: json_value(item) for key, item in attrs.asdict(value).items()}
    return value
