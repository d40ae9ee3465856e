"""Recipes: ready-made configurations for Siren's documented programs.

Each recipe is a TOML configuration (``<name>.toml``) with a sample event log
(``<name>.events.jsonl``) that ``siren simulate`` can replay.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from importlib.resources import files

from siren_core.config.converter import make_converter
from siren_core.domain import DistributorSpec
from siren_core.errors import NotFound
from siren_core.schedule import Schedule, boundary, period_index_at


def recipe_names() -> list[str]:
    return sorted(item.name.removesuffix(".toml") for item in files(__name__).iterdir()
                  if item.name.endswith(".toml"))


def recipe_text(name: str) -> str:
    if name not in recipe_names():
        raise NotFound("recipe", name)
    return files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def recipe_events(name: str) -> str:
    if name not in recipe_names():
        raise NotFound("recipe", name)
    return files(__name__).joinpath(f"{name}.events.jsonl").read_text(encoding="utf-8")


def recipe_summary(name: str) -> str:
    """The recipe's first comment line."""
    first = recipe_text(name).splitlines()[0]
    return first.lstrip("# ").strip()


_START_LINE = re.compile(r'^start = "[^"]*"$', re.MULTILINE)


def recipe_starting(name: str, now: datetime, start: date | None = None) -> str:
    """Recipe ``name`` with each distributor's ``start`` moved to ``start``, or (without
    it) to the first day of the period holding ``now`` in the distributor's own schedule
    and timezone, so that the first heartbeat closes no empty months. A recipe whose
    start is later than ``now`` starts at ``now``'s local date.
    """
    text = recipe_text(name)
    converter = make_converter()
    specs = [converter.structure(entry, DistributorSpec)
             for entry in tomllib.loads(text).get("distributors", [])]
    starts = iter([start or current_period_start(spec.schedule, now) for spec in specs])
    moved = _START_LINE.sub(lambda _line: f'start = "{next(starts).isoformat()}"', text)
    assert next(starts, None) is None, f"recipe {name!r}: one start line per distributor"
    return moved


def current_period_start(schedule: Schedule, now: datetime) -> date:
    """The local date on which the period of ``schedule`` holding ``now`` starts."""
    index = period_index_at(schedule, now)
    if index < 0:
        return now.astimezone(schedule.tzinfo).date()
    return boundary(schedule, index).astimezone(schedule.tzinfo).date()
