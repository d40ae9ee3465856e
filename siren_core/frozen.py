"""Faster construction of plain frozen attrs classes, with the same result.

attrs' ``__init__`` of a frozen slotted class sets each field through
``object.__setattr__``, bound afresh for every instance; the slot's own descriptor sets
the same slot sooner (a ``Metric`` of six fields: 1.8 → 1.2 µs, ``timeit``). The
records built for every recorded event (:class:`~siren_core.records.Metric`,
``RevenueLine``, ``CreditContext``, ``Credit``, the
:class:`~siren_core.domain.RecordResult` that answers it) and the source events the
kernel's fast shapes structure are built through these setters.

Only for a *plain* class, whose attrs ``__init__`` does nothing but set its fields: no
validator, converter, ``__attrs_pre_init__``/``__attrs_post_init__``, own ``__new__``, or
slot other than its fields' (``cache_hash`` adds one). Anything else is refused, so the
faster path never skips a step attrs would take.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MemberDescriptorType
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

Setter = Callable[[Any, Any], None]


def slot_setters(cls: type[Any]) -> tuple[Setter, ...] | None:
    """The setter of each field of ``cls`` (in attrs' order), or ``None`` if ``cls`` is
    not plain (see the module's docstring)."""
    if not attrs.has(cls) or cls.__new__ is not object.__new__ or any(
            hasattr(cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__")):
        return None
    fields = attrs.fields(cls)
    if any(f.validator is not None or f.converter is not None or not f.init for f in fields):
        return None
    slots = {name for klass in cls.__mro__[:-1] for name in klass.__dict__.get("__slots__", ())}
    if slots - {"__weakref__"} != {f.name for f in fields}:
        return None
    descriptors = [getattr(cls, f.name) for f in fields]
    if not all(type(d) is MemberDescriptorType for d in descriptors):
        return None
    return tuple(d.__set__ for d in descriptors)


def faster_init(cls: type[T]) -> type[T]:
    """Give the plain attrs class ``cls`` an ``__init__`` that sets its slots through their
    descriptors: the same parameters, defaults and resulting instance as attrs' own.

    Use it above ``@attrs.frozen``; a class that is not plain, or has keyword-only or
    factory defaults, raises ``TypeError`` at its definition.
    """
    setters = slot_setters(cls)
    fields = attrs.fields(cls)  # type: ignore[arg-type]
    if setters is None or any(f.kw_only or isinstance(f.default, attrs.Factory)  # type: ignore[arg-type]
                              for f in fields):
        raise TypeError(f"{cls.__name__} is not a plain attrs class")
    scope: dict[str, Any] = {}
    parameters, lines = [], []
    for index, field in enumerate(fields):
        scope[f"set{index}"] = setters[index]
        if field.default is attrs.NOTHING:
            parameters.append(field.alias)
        else:
            scope[f"default{index}"] = field.default
            parameters.append(f"{field.alias}=default{index}")
        lines.append(f"    set{index}(self, {field.alias})")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(lines)
    exec(compile(source, f"<siren faster init {cls.__qualname__}>", "exec"), scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
