"""``siren plugins check``: is every installed plugin well formed?

The kernel refuses a broken plugin when it starts; this check says *all* that is wrong at
once, before anything runs, so a plugin author (or an operator after an upgrade) sees
every problem in one list:

* an entry point that cannot be imported (reported with its distribution);
* an implementation of a hook that does not exist (pluggy's ``check_pending``);
* a definition hook returning a record of the wrong type, or two plugins claiming one id;
* a record with an empty ``id`` or ``description``, or a callable field that is not callable;
* a ``config_type`` that is not an attrs class (the converter could not structure it);
* a trigger strategy whose ``event_type`` is not an attrs class with ``id`` and ``at``,
  or whose ``metric_types`` holds something other than metric type names;
* a name in ``SIREN_DISABLE_PLUGINS`` or ``SIREN_LOAD_PLUGINS`` that is not an installed
  plugin's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from siren_core.errors import InvalidInput, PluginError
from siren_core.plugins import (
    LoadReport,
    PluginRegistry,
    PluginSettings,
    make_plugin_manager,
)

_CALLABLES = ("metrics", "credit", "resolve", "allocate", "build", "includes", "check",
              "rate")
_KINDS = ("trigger_strategies", "credit_rules", "pool_resolvers", "allocation_calculators",
          "group_structures", "transaction_compilers", "exchange_rate_providers")


@attrs.frozen
class CheckResult:
    """What ``check_plugins`` found: the plugins it loaded and every problem."""

    plugins: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_plugins(settings: PluginSettings | None = None, *,
                  extra_plugins: Iterable[object] = (),
                  load_entry_points: bool = True) -> CheckResult:
    """Load the plugins as a kernel would and list every problem found."""
    settings = attrs.evolve(settings or PluginSettings.from_environment(), strict=False)
    try:
        pm, report = make_plugin_manager(settings, extra_plugins=extra_plugins,
                                         load_entry_points=load_entry_points)
    except pluggy.PluginValidationError as exc:
        return CheckResult((), (str(exc),))
    except InvalidInput as exc:  # an unknown name in SIREN_DISABLE/LOAD_PLUGINS
        return CheckResult((), (str(exc),))
    problems = _broken(report)
    names = tuple(sorted(name for name, plugin in pm.list_name_plugin() if plugin is not None))
    try:
        registry = PluginRegistry.collect(pm, tolerate_collisions=True)
    except PluginError as exc:
        return CheckResult(names, (*problems, str(exc)))
    problems.extend(collision.message for collision in registry.collisions)
    for kind in _KINDS:
        records: Mapping[str, Any] = getattr(registry, kind)
        for record_id, record in sorted(records.items()):
            owner = registry.owner(kind, record_id)
            problems.extend(f"plugin {owner!r}: {kind} {record_id!r} {problem}"
                            for problem in record_problems(record))
    return CheckResult(names, tuple(problems))


def _broken(report: LoadReport) -> list[str]:
    return [f"entry point {name!r} cannot be loaded: {problem}"
            for name, problem in report.broken]


def record_problems(record: Any) -> list[str]:
    """What is wrong with one definition record (empty when nothing is)."""
    problems = []
    for field in ("id", "description"):
        value = getattr(record, field, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"has an empty {field}")
    for field in _CALLABLES:
        value = getattr(record, field, None)
        if field in attrs.fields_dict(type(record)) and value is not None \
                and not callable(value):
            problems.append(f"has a {field} that is not callable: {value!r}")
    config_type = getattr(record, "config_type", None)
    if config_type is not None and not (isinstance(config_type, type)
                                        and attrs.has(config_type)):
        problems.append(f"has a config_type that is not an attrs class: {config_type!r}")
    event_type = getattr(record, "event_type", None)
    if hasattr(record, "event_type"):
        problems.extend(_event_type_problems(event_type))
    problems.extend(f"has a metric type that is not a name: {name!r}"
                    for name in getattr(record, "metric_types", ())
                    if not isinstance(name, str) or not name.strip())
    return problems


def _event_type_problems(event_type: Any) -> list[str]:
    if not (isinstance(event_type, type) and attrs.has(event_type)):
        return [f"has an event_type that is not an attrs class: {event_type!r}"]
    fields = attrs.fields_dict(event_type)
    return [f"has an event_type without the required field {name!r}"
            for name in ("id", "at") if name not in fields]
