"""Settings read from the environment: a value that does not parse, or is too small, is
refused naming the variable and the value (``InvalidInput``), never silently replaced."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from siren_core.errors import InvalidInput

N = TypeVar("N", int, float)


def integer(name: str, minimum: int) -> int | None:
    """The variable ``name`` as an integer of at least ``minimum``; None when unset."""
    return _read(name, int, "an integer", minimum)


def number(name: str, minimum: float) -> float | None:
    """The variable ``name`` as a number of at least ``minimum``; None when unset."""
    return _read(name, float, "a number", minimum)


def _read(name: str, parse: Callable[[str], N], kind: str, minimum: N) -> N | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = parse(text)
    except ValueError:
        raise InvalidInput(name, text, f"is not {kind}") from None
    if value < minimum:
        raise InvalidInput(name, text, f"must be at least {minimum:g}")
    return value
