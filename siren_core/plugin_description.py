"""What ``siren plugins --json`` and ``siren plugins schema ID`` say about the plugins.

Each plugin is described with what it provides, kind by kind: its trigger strategies (the
metric types they produce, the JSON Schema of their event), credit rules (the group
capabilities they need, their config's schema), pool resolvers and calculators (their
config's schema), group structures (the capabilities they provide, their metadata keys)
and transaction compilers. Every plugin's hooks are called one at a time, so that two
plugins claiming one id, or one plugin whose hook raises, still leave every other plugin
described (the problem is listed with the plugin).

A configuration schema describes the table as a distributor writes it, its plugin key
included: ``calculator = { id = "top_score", ties = "lowest_id" }`` is checked by the
schema of ``calculator:top_score``, whose ``id`` takes ``top_score`` or Siren's
``topScoreWins`` (see :mod:`siren_core.config.schema` for how types are described).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from siren_core.config.converter import SIREN_CALCULATORS, SIREN_STRUCTURES
from siren_core.config.schema import class_schema
from siren_core.errors import InvalidInput, PluginError
from siren_core.plugins import (
    DEFINITION_HOOKS,
    LoadReport,
    PluginInfo,
    call_definition,
    canonical_capabilities,
)

QUALIFIERS = {"trigger": "trigger_strategies", "credit": "credit_rules",
              "pool": "pool_resolvers", "calculator": "allocation_calculators",
              "structure": "group_structures", "compiler": "transaction_compilers",
              "rates": "exchange_rate_providers"}
"""The kind an id may be qualified with in ``siren plugins schema KIND:ID`` → the kind."""
QUALIFIER_OF = {kind: short for short, kind in QUALIFIERS.items()}
KIND_NAMES = {"trigger_strategies": "trigger strategy", "credit_rules": "credit rule",
              "pool_resolvers": "pool resolver", "allocation_calculators": "calculator",
              "group_structures": "group structure",
              "transaction_compilers": "transaction compiler",
              "exchange_rate_providers": "exchange-rate provider"}
_CHOOSER = {"credit_rules": "rule", "pool_resolvers": "resolver",
            "allocation_calculators": "id"}
"""The key of a distributor's table that names the plugin (``credit = { rule = ... }``)."""
_ALIASES = {"allocation_calculators": SIREN_CALCULATORS, "group_structures": SIREN_STRUCTURES}
_SCHEMA_KEY = {"trigger_strategies": "event_schema", "credit_rules": "config_schema",
               "pool_resolvers": "config_schema", "allocation_calculators": "config_schema"}
"""Where a kind's description holds its schema (kinds not listed take no configuration)."""


def describe_plugins(pm: pluggy.PluginManager, report: LoadReport) -> list[dict[str, Any]]:
    """One row per plugin, registered (``enabled``) or skipped (disabled, or outside the
    allow-list), by name."""
    infos = {info.name: info for info in report.loaded}
    rows = [_registered(pm, name, plugin, infos.get(name))
            for name, plugin in pm.list_name_plugin() if plugin is not None]
    rows += [_row(info.name, info, enabled=False) for info in report.disabled]
    return sorted(rows, key=lambda row: (row["name"], not row["enabled"]))


def _row(name: str, info: PluginInfo | None, *, enabled: bool) -> dict[str, Any]:
    return {"name": name, "module": info.module if info else "",
            "distribution": info.distribution if info else "<registered directly>",
            "version": info.version if info else "", "enabled": enabled, "hooks": [],
            "provides": {}, "problems": []}


def _registered(pm: pluggy.PluginManager, name: str, plugin: object,
                info: PluginInfo | None) -> dict[str, Any]:
    row = _row(name, info, enabled=True)
    if info is None:
        row["module"] = getattr(plugin, "__name__", None) or type(plugin).__module__
    callers = pm.get_hookcallers(plugin) or []
    row["hooks"] = sorted(caller.name for caller in callers)
    impls = {caller.name: impl for caller in callers for impl in caller.get_hookimpls()
             if impl.plugin is plugin}
    for kind, hook_name, record_type in DEFINITION_HOOKS:
        if hook_name in impls:
            _describe_records(row, kind, hook_name, record_type, impls[hook_name])
    return row


def _describe_records(row: dict[str, Any], kind: str, hook_name: str, record_type: type[Any],
                      impl: pluggy.HookImpl) -> None:
    try:
        records = call_definition(impl, hook_name, record_type)
    except PluginError as exc:
        row["problems"].append(str(exc))
        return
    try:
        row["provides"][kind] = [describe_record(kind, record) for record in records]
    except Exception as exc:  # a malformed record: `siren plugins check` says what
        row["problems"].append(f"{KIND_NAMES[kind]} cannot be described: {exc!r}")


def describe_record(kind: str, record: Any) -> dict[str, Any]:
    """The JSON description of one definition record of ``kind``."""
    found: dict[str, Any] = {"id": record.id, "description": record.description}
    aliases = sorted(alias for alias, ours in _ALIASES.get(kind, {}).items()
                     if ours == record.id)
    if aliases:
        found["aliases"] = aliases
    if kind == "trigger_strategies":
        found["metric_types"] = list(record.produces)
    elif kind == "credit_rules":
        found["requires"] = sorted(canonical_capabilities(record.requires))
    elif kind == "pool_resolvers":
        found["uses_revenue"] = record.uses_revenue
    elif kind == "group_structures":
        found["capabilities"] = sorted(canonical_capabilities(record.capabilities))
        keys = record.metadata_keys
        found["metadata_keys"] = None if keys is None else sorted(keys)
    if kind == "trigger_strategies":
        found["event_schema"] = class_schema(record.event_type, title=f"{record.id} event")
    elif kind in _CHOOSER:
        found["config_schema"] = class_schema(
            record.config_type, title=f"{KIND_NAMES[kind]} {record.id}",
            discriminator=(_CHOOSER[kind], [record.id, *aliases]))
    return found


def find_schema(rows: Iterable[Mapping[str, Any]], wanted: str) -> dict[str, Any]:
    """The schema of ``wanted`` (an id or an alias, optionally ``KIND:ID``) among the
    enabled plugins' descriptions; :class:`InvalidInput` naming ``ID`` when there is no
    such id, it takes no configuration, or it is ambiguous."""
    qualifier, _, ident = wanted.rpartition(":")
    if qualifier and qualifier not in QUALIFIERS:
        raise InvalidInput("ID", wanted, f"has an unknown kind {qualifier!r} (kinds: "
                           f"{', '.join(QUALIFIERS)})")
    kinds = {QUALIFIERS[qualifier]} if qualifier else set(KIND_NAMES)
    matches = [(kind, row["name"], record)
               for row in rows if row["enabled"]
               for kind, records in row["provides"].items() if kind in kinds
               for record in records if ident in (record["id"], *record.get("aliases", ()))]
    with_schema = [match for match in matches if match[0] in _SCHEMA_KEY]
    if not with_schema:
        raise InvalidInput("ID", wanted, _why_none(matches))
    if len({kind for kind, _plugin, _record in with_schema}) > 1:
        choices = " or ".join(sorted(f"{QUALIFIER_OF[kind]}:{ident}"
                                     for kind, _plugin, _record in with_schema))
        raise InvalidInput("ID", wanted, f"names more than one kind: give {choices}")
    if len(with_schema) > 1:
        plugins = " and ".join(repr(plugin) for _kind, plugin, _record in with_schema)
        raise InvalidInput("ID", wanted, f"is provided by both plugin {plugins}: disable one "
                           "of them with SIREN_DISABLE_PLUGINS")
    kind, _plugin, record = with_schema[0]
    schema: dict[str, Any] = record[_SCHEMA_KEY[kind]]
    return schema


def _why_none(matches: list[tuple[str, str, Any]]) -> str:
    if matches:
        return f"is a {KIND_NAMES[matches[0][0]]}, which takes no configuration"
    return ("is not the id of an installed trigger strategy, credit rule, pool resolver or "
            "calculator (`siren plugins` lists them)")
