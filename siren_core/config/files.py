"""Configuration files: what ``siren apply`` and ``siren simulate`` read.

TOML, or the same structure in JSON::

    [[collaborators]]
    id = "alice"
    name = "Alice"
    status = "active"             # default active

    [[groups]]
    id = "sales-team"
    structure = "parent_child"    # flat | linear_chain | parent_child
    members = [ { collaborator = "alice" }, { collaborator = "bob", parent = "alice" } ]

    [[programs]]
    id = "referrals"
    status = "active"             # default active
    collaborators = ["alice"]
    group = "sales-team"          # optional binding

    [[distributors]]
    id = "monthly-bonus"
    ...                           # the distributor shape of siren_core.config.converter
    group = "sales-team"          # optional binding

    [[exchange_rates]]            # see siren_core.config.rates
    base = "EUR"
    quote = "USD"
    rate = "1.0850"
    from = "2026-01-01"

``siren export`` writes this shape from a store (:mod:`siren_core.config.export`).

Every table is structured by the kernel's converter; unknown keys are errors, and every
error names its path and value (``distributors[0].pool.percent: '12,5' is not a decimal``).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import attrs
import cattrs

from siren_core.catalog import configure
from siren_core.config.converter import SIREN_STRUCTURES, canonical, structure
from siren_core.config.rates import parse_rates
from siren_core.domain import COLLABORATOR_STATUSES, DistributorSpec, check_spec_bounds
from siren_core.errors import InvalidInput
from siren_core.jsontext import DuplicateKey, json_problem, load_json
from siren_core.plugins import PluginRegistry
from siren_core.records import ExchangeRate


@attrs.frozen
class CollaboratorEntry:
    id: str
    name: str | None = None
    status: str = "active"
    email: str | None = None


@attrs.frozen
class MemberEntry:
    """A group member; ``parent`` (parent_child) and ``position`` (linear_chain) become
    member metadata, with any other ``metadata`` keys."""

    collaborator: str
    parent: str | None = None
    position: int | None = None
    metadata: dict[str, Any] = attrs.Factory(dict)

    def all_metadata(self) -> dict[str, Any]:
        found = dict(self.metadata)
        if self.parent is not None:
            found["parent"] = self.parent
        if self.position is not None:
            found["position"] = self.position
        return found


@attrs.frozen
class GroupEntry:
    id: str
    structure: str
    name: str | None = None
    description: str = ""
    members: list[MemberEntry] = attrs.Factory(list)


@attrs.frozen
class ProgramEntry:
    id: str
    name: str | None = None
    status: str = "active"
    collaborators: list[str] = attrs.Factory(list)
    group: str | None = None


@attrs.frozen
class SirenConfig:
    """A whole configuration file: collaborators, groups, programs, distributors and
    bindings."""

    collaborators: tuple[CollaboratorEntry, ...] = ()
    groups: tuple[GroupEntry, ...] = ()
    distributors: tuple[DistributorSpec, ...] = ()
    bindings: tuple[tuple[str, str], ...] = ()
    """(distributor id, group id) from each distributor's ``group`` key."""
    programs: tuple[ProgramEntry, ...] = ()
    program_bindings: tuple[tuple[str, str], ...] = ()
    """(program id, group id) from each program's ``group`` key."""
    exchange_rates: tuple[ExchangeRate, ...] = ()


@attrs.frozen
class _File:
    collaborators: list[CollaboratorEntry] = attrs.Factory(list)
    groups: list[GroupEntry] = attrs.Factory(list)
    programs: list[ProgramEntry] = attrs.Factory(list)
    distributors: list[Any] = attrs.Factory(list)
    exchange_rates: list[Any] = attrs.Factory(list)


def read_config_text(text: str, *, name: str = "config") -> dict[str, Any]:
    """Parse TOML, or JSON when the text starts with ``{``."""
    try:
        data = load_json(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(name, None, f"is not valid TOML or JSON: {exc}") from None
    except DuplicateKey as exc:
        raise InvalidInput(name, exc.key, "is a key given more than once in one object "
                           "(JSON keeps only the last)") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(name, None, json_problem(exc)) from None
    if not isinstance(data, dict):
        raise InvalidInput(name, data, "is not a table")
    return data


def load_config(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput("config", str(path), f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput("config", str(path), f"is not UTF-8 text (byte {exc.start})") from None
    return read_config_text(text, name=str(path))


def parse_config(data: dict[str, Any], converter: cattrs.Converter,
                 registry: PluginRegistry) -> SirenConfig:
    """Structure and validate a configuration (plugins included); nothing is written."""
    parsed = structure(converter, data, _File)
    for index, entry in enumerate(parsed.collaborators):
        if entry.status not in COLLABORATOR_STATUSES:
            raise InvalidInput(f"collaborators[{index}].status", entry.status,
                               f"is not one of {COLLABORATOR_STATUSES}")
    distributors, bindings = [], []
    for index, raw in enumerate(parsed.distributors):
        prefix = f"distributors[{index}]"
        if not isinstance(raw, dict):
            raise InvalidInput(prefix, raw, "is not a table")
        raw = dict(raw)
        group = raw.pop("group", None)
        spec = structure(converter, raw, DistributorSpec, prefix=prefix)
        try:
            configure(check_spec_bounds(spec), registry, converter)
        except InvalidInput as exc:
            raise InvalidInput(f"{prefix}.{exc.field}", exc.value, exc.problem) from None
        distributors.append(spec)
        if group is not None:
            if not isinstance(group, str):
                raise InvalidInput(f"{prefix}.group", group, "is not a group id")
            bindings.append((spec.id, group))
    _check_unique("collaborators", [c.id for c in parsed.collaborators])
    _check_unique("groups", [g.id for g in parsed.groups])
    _check_unique("distributors", [d.id for d in distributors])
    groups = tuple(_canonical_group(entry, registry) for entry in parsed.groups)
    _check_unique("programs", [p.id for p in parsed.programs])
    return SirenConfig(tuple(parsed.collaborators), groups, tuple(distributors),
                       tuple(bindings), tuple(parsed.programs),
                       tuple((p.id, p.group) for p in parsed.programs if p.group is not None),
                       parse_rates(parsed.exchange_rates))


def _canonical_group(entry: GroupEntry, registry: PluginRegistry) -> GroupEntry:
    """Siren's spellings in our own (``linearChain``, ``parentCollaboratorId``), so that
    the file compares equal to the store, which keeps them canonical."""
    structure = canonical(SIREN_STRUCTURES, entry.structure)
    shape = registry.group_structures.get(structure)
    aliases = shape.metadata_aliases if shape is not None else {}
    members = [attrs.evolve(member, metadata={aliases.get(key, key): value
                                              for key, value in member.metadata.items()})
               for member in entry.members]
    return attrs.evolve(entry, structure=structure, members=members)


def _check_unique(section: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for index, key in enumerate(ids):
        if key in seen:
            raise InvalidInput(f"{section}[{index}].id", key, "is declared twice")
        seen.add(key)
