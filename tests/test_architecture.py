"""The layers of docs/architecture.md are import-linter contracts (``lint-imports`` in
.ci/run); this checks that they name every part of the kernel, so that a new module
cannot slip past them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import siren_core

ROOT = Path(__file__).resolve().parent.parent


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    [found] = [c for c in contracts if c["name"] == name]
    return dict(found)


def _parts() -> set[str]:
    folder = Path(siren_core.__file__).parent
    modules = {p.stem for p in folder.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    packages = {p.parent.name for p in folder.glob("*/__init__.py")}
    return {f"siren_core.{name}" for name in modules | packages}


def test_every_part_of_the_engine_is_held_to_the_faces_contract() -> None:
    contract = _contract("The engine never imports its faces")
    faces = set(contract["forbidden_modules"])  # type: ignore[arg-type]
    assert set(contract["source_modules"]) | faces == _parts()  # type: ignore[arg-type]


def test_every_part_but_the_store_is_held_to_the_sql_contract() -> None:
    contract = _contract("Only the store speaks SQL")
    assert contract["source_modules"] == ["siren_core"]
    ignored = contract["ignore_imports"]
    assert all(line.startswith("siren_core.store") for line in ignored)  # type: ignore[union-attr]
