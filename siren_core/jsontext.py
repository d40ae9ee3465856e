"""Reading JSON text strictly: a key given twice in one object is an error, not "last wins".

Python's ``json`` keeps the last of two equal keys silently, so ``{"amount": "1.00",
"amount": "900.00"}`` would be recorded as 900.00 by whoever reads it last. Every JSON the
CLI reads (event lines, configuration files) goes through :func:`load_json`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Python refuses to turn longer digit strings into ints (CVE-2020-10735); ``json`` then
# raises a plain ValueError rather than a JSONDecodeError.
INT_DIGITS_LIMIT = sys.get_int_max_str_digits() or 4300


class DuplicateKey(ValueError):
    """An object of the JSON text has ``key`` more than once."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"has the key {key!r} more than once in one object")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return found


# Built once: ``json.loads`` with any option builds a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


def load_json(text: str) -> Any:
    """``json.loads(text)``, refusing duplicate keys at any depth (:class:`DuplicateKey`)."""
    return _DECODER.decode(text)


def json_problem(exc: ValueError | RecursionError) -> str:
    """Why ``load_json`` refused a text, as the end of a sentence naming it."""
    if isinstance(exc, RecursionError):
        return "is nested too deeply"
    if isinstance(exc, DuplicateKey):
        return str(exc)
    if isinstance(exc, json.JSONDecodeError):
        return f"is not valid JSON ({exc.msg})"
    return f"has a number of more than {INT_DIGITS_LIMIT} digits"
