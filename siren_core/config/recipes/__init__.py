"""Recipes: ready-made configurations for Siren's documented programs.

Each recipe is a TOML configuration (``<name>.toml``) with a sample event log
(``<name>.events.jsonl``) that ``siren simulate`` can replay.
"""

from __future__ import annotations

from importlib.resources import files

from siren_core.errors import NotFound


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
