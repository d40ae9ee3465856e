"""Building a plugin manager and collecting what the plugins provide.

``make_plugin_manager`` loads every module of the ``siren`` entry-point group (built-ins
come in this way too, from ``siren-core``'s own ``pyproject.toml``), then checks that every
implementation matches a hook. ``PluginRegistry`` calls the definition hooks once and
indexes the records they return by id, refusing wrong types and duplicate ids.

Environment switches (read by ``PluginSettings.from_environment``):

* ``SIREN_DISABLE_PLUGINS`` — comma-separated entry-point names not to load;
* ``SIREN_LOAD_PLUGINS`` — if set, an allow-list of third-party entry-point names
  (empty = built-ins only);
* ``SIREN_TRACE_PLUGINS`` — if set to a true value, log every hook call;
* ``SIREN_STRICT_PLUGINS`` — if set to a true value, a broken entry point raises instead
  of being reported and skipped.

A name in ``SIREN_DISABLE_PLUGINS`` or ``SIREN_LOAD_PLUGINS`` that no installed entry
point carries is refused (a typo would otherwise leave on the plugin it meant to disable);
names given in code through ``PluginSettings(...)`` are not checked.
"""

from __future__ import annotations

import logging
import os
import reprlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

import attrs
import pluggy

from siren_core import hookspecs
from siren_core.errors import InvalidInput, PluginError
from siren_core.records import (
    AllocationCalculator,
    CreditRule,
    ExchangeRateProvider,
    GroupStructure,
    PoolResolver,
    TransactionCompiler,
    TriggerStrategy,
)

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "siren"
CORE_DISTRIBUTION = "siren-core"
_TRUE = {"1", "true", "yes", "on"}


def _names(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())


@attrs.frozen
class PluginSettings:
    """Which entry points to load and how to treat broken ones."""

    disabled: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None
    trace: bool = False
    strict: bool = False
    from_environment_variables: bool = attrs.field(default=False, eq=False)
    """Read from the environment: an unknown name is then an error naming its variable
    (names passed in code, e.g. a test disabling a plugin that may be installed, are not
    checked)."""

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> PluginSettings:
        env = os.environ if environ is None else environ
        return cls(
            disabled=_names(env.get("SIREN_DISABLE_PLUGINS")) or frozenset(),
            allowed=_names(env.get("SIREN_LOAD_PLUGINS")),
            trace=env.get("SIREN_TRACE_PLUGINS", "").lower() in _TRUE,
            strict=env.get("SIREN_STRICT_PLUGINS", "").lower() in _TRUE,
            from_environment_variables=True,
        )


@attrs.frozen
class PluginInfo:
    """Where a registered plugin came from."""

    name: str
    distribution: str
    version: str
    module: str


@attrs.define
class LoadReport:
    """What ``make_plugin_manager`` loaded, skipped and failed to load."""

    loaded: tuple[PluginInfo, ...] = ()
    skipped: tuple[str, ...] = ()
    """The names of the entry points not loaded (disabled, or not in the allow-list)."""
    broken: tuple[tuple[str, str], ...] = ()
    disabled: tuple[PluginInfo, ...] = ()
    """Where each skipped entry point comes from."""


def _distribution_of(entry_point: EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "<unknown>", ""
    return dist.metadata["Name"], dist.version


def _wanted(name: str, distribution: str, settings: PluginSettings) -> bool:
    if name in settings.disabled:
        return False
    if settings.allowed is None or distribution == CORE_DISTRIBUTION:
        return True
    return name in settings.allowed


def make_plugin_manager(
    settings: PluginSettings | None = None,
    *,
    extra_plugins: Iterable[object] = (),
    load_entry_points: bool = True,
) -> tuple[pluggy.PluginManager, LoadReport]:
    """Build a plugin manager with the ``siren`` hooks and the installed plugins.

    ``extra_plugins`` are registered after the entry points (an embedding application's
    own plugin objects, or test plugins).
    """
    settings = settings or PluginSettings.from_environment()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    report = LoadReport()
    checked = settings.from_environment_variables
    installed = (sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
                 if load_entry_points or checked else [])
    if checked:
        check_plugin_names(settings, {ep.name for ep in installed})
    if load_entry_points:
        for ep in installed:
            _load_entry_point(pm, ep, settings, report)
    for plugin in extra_plugins:
        pm.register(plugin, name=_plugin_name(pm, plugin))
    pm.check_pending()
    if settings.trace:
        trace_hook_calls(pm)
    return pm, report


def check_plugin_names(settings: PluginSettings, installed: set[str]) -> None:
    """Refuse a name in ``SIREN_DISABLE_PLUGINS`` or ``SIREN_LOAD_PLUGINS`` that is not the
    name of an installed entry point (listing the names that are)."""
    for variable, names in (("SIREN_DISABLE_PLUGINS", settings.disabled),
                            ("SIREN_LOAD_PLUGINS", settings.allowed or frozenset())):
        unknown = sorted(names - installed)
        if unknown:
            known = ", ".join(sorted(installed)) or "none installed"
            raise InvalidInput(variable, unknown[0],
                               f"is not the name of an installed plugin (known: {known})")


trace_log = logging.getLogger("siren_core.plugins.trace")


def trace_hook_calls(pm: pluggy.PluginManager) -> None:
    """Log every call of every hook implementation (``SIREN_TRACE_PLUGINS``).

    The kernel calls definition hooks and ``siren_on_event`` one implementation at a time
    (to know which plugin returned what), bypassing pluggy's own tracing; wrapping each
    implementation's function covers those calls and the ones made through ``pm.hook``
    (which are also logged once per call, with the implementations they reach). Lines go
    to the ``siren_core.plugins.trace`` logger at INFO level.
    """
    for hook_name, caller in sorted(vars(pm.hook).items()):
        for impl in caller.get_hookimpls():
            if not getattr(impl.function, "_siren_traced", False):
                setattr(impl, "function",  # noqa: B010 - HookImpl.function is Final
                        _traced(impl.function, hook_name, impl.plugin_name))

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], _kwargs: object) -> None:
        names = ", ".join(repr(impl.plugin_name) for impl in impls) or "none"
        trace_log.info("hook %s called (implementations: %s)", hook_name, names)

    pm.add_hookcall_monitoring(before, lambda *_args: None)


_short = reprlib.Repr()
_short.maxother = _short.maxstring = 200


def _traced(function: Callable[..., Any], hook_name: str, plugin: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        shown = ", ".join([*map(_short.repr, args),
                           *(f"{k}={_short.repr(v)}" for k, v in kwargs.items())])
        trace_log.info("call %s(%s) in plugin %r", hook_name, shown, plugin)
        try:
            result = function(*args, **kwargs)
        except Exception as exc:
            trace_log.info("%s in plugin %r raised %r", hook_name, plugin, exc)
            raise
        trace_log.info("%s in plugin %r returned %s", hook_name, plugin, _summary(result))
        return result

    call._siren_traced = True  # type: ignore[attr-defined]
    return call


def _summary(result: Any) -> str:
    """Records by type and id (``[TriggerStrategy('sale')]``), anything else by repr."""
    if isinstance(result, list | tuple) and all(hasattr(item, "id") for item in result):
        return "[" + ", ".join(f"{type(item).__name__}({item.id!r})" for item in result) + "]"
    return _short.repr(result)


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """A readable name for a plugin registered directly: its module or class name."""
    base = getattr(plugin, "__name__", None) or type(plugin).__qualname__
    name, number = base, 1
    while pm.has_plugin(name):
        number += 1
        name = f"{base}#{number}"
    return name


def _load_entry_point(
    pm: pluggy.PluginManager, ep: EntryPoint, settings: PluginSettings, report: LoadReport
) -> None:
    distribution, version = _distribution_of(ep)
    if not _wanted(ep.name, distribution, settings):
        report.skipped += (ep.name,)
        report.disabled += (PluginInfo(ep.name, distribution, version, ep.value),)
        return
    try:
        module = ep.load()
        existing = pm.get_plugin(ep.name)
        if existing is not None:
            raise PluginError(
                f"entry point {ep.name!r} of {distribution} clashes with an already "
                f"registered plugin of the same name ({getattr(existing, '__name__', existing)})"
            )
        pm.register(module, name=ep.name)
    except Exception as exc:
        if settings.strict:
            raise PluginError(f"cannot load entry point {ep.value!r} of {distribution}: {exc}",
                              plugin=ep.name) from exc
        log.warning("skipping broken plugin %s (%s): %s", ep.name, distribution, exc)
        report.broken += ((ep.name, f"{distribution}: {exc}"),)
        return
    report.loaded += (PluginInfo(ep.name, distribution, version, ep.value),)


R = TypeVar("R")

DEFINITION_HOOKS: tuple[tuple[str, str, type[Any]], ...] = (
    ("trigger_strategies", "siren_trigger_strategies", TriggerStrategy),
    ("credit_rules", "siren_credit_rules", CreditRule),
    ("pool_resolvers", "siren_pool_resolvers", PoolResolver),
    ("allocation_calculators", "siren_allocation_calculators", AllocationCalculator),
    ("group_structures", "siren_group_structures", GroupStructure),
    ("transaction_compilers", "siren_transaction_compilers", TransactionCompiler),
    ("exchange_rate_providers", "siren_exchange_rate_providers", ExchangeRateProvider),
)
"""Each kind of definition record: the registry's field, its hook and its record type."""


def definitions(pm: pluggy.PluginManager, hook_name: str, record_type: type[R],
                ) -> Iterator[tuple[str, list[R]]]:
    """Each implementation of a definition hook: its plugin's name and the records it
    returned."""
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        yield impl.plugin_name, call_definition(impl, hook_name, record_type)


def call_definition(impl: pluggy.HookImpl, hook_name: str, record_type: type[R]) -> list[R]:
    """The records one implementation of a definition hook returns (a hook that raises or
    returns a wrong type is a :class:`PluginError` naming the plugin and the hook)."""
    function: Any = impl.function
    try:
        returned = list(function() or ())
    except Exception as exc:
        raise PluginError(f"{hook_name} failed: {exc!r}", plugin=impl.plugin_name,
                          hook=hook_name) from exc
    for record in returned:
        if not isinstance(record, record_type):
            raise PluginError(f"{hook_name} returned {record!r}, not a {record_type.__name__}",
                              plugin=impl.plugin_name, hook=hook_name)
    return returned


@attrs.frozen
class Collision:
    """One id of one kind provided by two plugins (``plugins``: by name)."""

    kind: str
    record_type: str
    id: str
    plugins: tuple[str, str]

    @property
    def message(self) -> str:
        first, second = self.plugins
        return (f"{self.record_type} id {self.id!r} is provided by both plugin {first!r} "
                f"and plugin {second!r}: disable one of them, e.g. "
                f"SIREN_DISABLE_PLUGINS={second}")


def _collect(pm: pluggy.PluginManager, kind: str, hook_name: str, record_type: type[R],
             collisions: list[Collision]) -> tuple[dict[str, R], dict[str, str]]:
    """Every record of one kind by id, with its plugin; an id claimed twice is left out
    and added to ``collisions``."""
    records: dict[str, R] = {}
    owners: dict[str, str] = {}  # the first plugin to claim each id, kept after a collision
    for plugin, returned in definitions(pm, hook_name, record_type):
        for record in returned:
            key = _record_id(record)
            if key in owners:
                records.pop(key, None)
                first, second = sorted((owners[key], plugin))
                collisions.append(Collision(kind, record_type.__name__, key, (first, second)))
                continue
            records[key] = record
            owners[key] = plugin
    return records, {key: owners[key] for key in records}


def _record_id(record: Any) -> str:
    return str(record.id)


@attrs.frozen
class PluginRegistry:
    """Everything the loaded plugins provide, indexed by id, with each id's plugin.

    ``collisions`` lists the ids two plugins provide (only with ``collect(...,
    tolerate_collisions=True)``: those ids are left out, neither plugin's record is used).
    """

    trigger_strategies: dict[str, TriggerStrategy]
    credit_rules: dict[str, CreditRule]
    pool_resolvers: dict[str, PoolResolver]
    allocation_calculators: dict[str, AllocationCalculator]
    group_structures: dict[str, GroupStructure]
    owners: dict[tuple[str, str], str]
    transaction_compilers: dict[str, TransactionCompiler] = attrs.Factory(dict)
    exchange_rate_providers: dict[str, ExchangeRateProvider] = attrs.Factory(dict)
    collisions: tuple[Collision, ...] = ()

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, *,
                tolerate_collisions: bool = False) -> PluginRegistry:
        """Call every definition hook and index the records.

        An id provided by two plugins is a :class:`PluginError` naming both (and how to
        disable one), unless ``tolerate_collisions``: read-only commands then still run,
        without that id.
        """
        owners: dict[tuple[str, str], str] = {}
        found: dict[str, Any] = {}
        collisions: list[Collision] = []
        for field, hook, record_type in DEFINITION_HOOKS:
            records, by_id = _collect(pm, field, hook, record_type, collisions)
            if collisions and not tolerate_collisions:
                raise PluginError(collisions[0].message, hook=hook)
            found[field] = {key: _canonical_capabilities(record)
                            for key, record in records.items()}
            owners.update({(field, key): plugin for key, plugin in by_id.items()})
        return cls(owners=owners, collisions=tuple(collisions), **found)

    def owner(self, kind: str, record_id: str) -> str:
        """The name of the plugin that provided ``record_id`` of ``kind``."""
        return self.owners.get((kind, record_id), "<unknown>")

    @property
    def metric_types(self) -> dict[str, str]:
        """Every metric type an installed trigger strategy produces → that strategy's id
        (the first by id when several produce one)."""
        found: dict[str, str] = {}
        for strategy_id, strategy in sorted(self.trigger_strategies.items()):
            for metric_type in strategy.produces:
                found.setdefault(metric_type, strategy_id)
        return found


SIREN_CAPABILITIES = {"hasLayer": "has_layer"}
"""Siren's spelling of a group capability → ours (a plugin may declare either)."""


def canonical_capabilities(names: Iterable[str]) -> frozenset[str]:
    return frozenset(SIREN_CAPABILITIES.get(name, name) for name in names)


def _canonical_capabilities(record: Any) -> Any:
    """A structure's ``capabilities`` and a credit rule's ``requires`` in our spelling."""
    if isinstance(record, GroupStructure) and isinstance(record.capabilities, Iterable):
        return attrs.evolve(record, capabilities=canonical_capabilities(record.capabilities))
    if isinstance(record, CreditRule) and isinstance(record.requires, Iterable):
        return attrs.evolve(record, requires=canonical_capabilities(record.requires))
    return record
