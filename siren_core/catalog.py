"""Distributors as the pipeline uses them: spec + the plugins and typed configs they name.

``configure`` validates a :class:`~siren_core.domain.DistributorSpec` against the loaded
plugins (every id known, every plugin config structured into its class) and is used both
when a distributor is written (so a bad configuration is refused with a clear error) and
when the pipeline loads it. ``Catalog`` caches the active distributors of one store and
reloads them when any configuration version changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
import cattrs

from siren_core import schedule
from siren_core.config.converter import structure
from siren_core.domain import (
    DESCRIPTION_LENGTH,
    DISTRIBUTOR_STATUSES,
    ELIGIBILITIES,
    METRIC_TYPE_LENGTH,
    NAME_LENGTH,
    DistributorSpec,
    MetricTypeSpec,
    check_identifier,
    check_text,
)
from siren_core.errors import (
    DistributorUnavailable,
    InvalidInput,
    NotFound,
    PluginError,
    SirenError,
)
from siren_core.money import Currency, currency
from siren_core.plugins import PluginRegistry
from siren_core.records import (
    AllocationCalculator,
    CompilerContext,
    CreditRule,
    PoolResolver,
    TransactionCompiler,
)
from siren_core.store import Connection, distribution_queries, queries

METRIC_VALUES = ("points", "amount")


@attrs.frozen
class ConfiguredMetric:
    spec: MetricTypeSpec
    rule: CreditRule
    rule_config: Any


@attrs.frozen
class ConfiguredDistributor:
    key: int
    spec: DistributorSpec
    version: int
    currency: Currency
    pool_resolver: PoolResolver
    pool_config: Any
    calculator: AllocationCalculator
    calculator_config: Any
    metrics: Mapping[str, tuple[ConfiguredMetric, ...]]
    """metric type → its configured entries (a type may be tracked twice)."""
    first_start: datetime
    """The start of the distributor's first period: an event before it belongs to none
    (worked out once here, not for every event)."""
    compilers: tuple[TransactionCompiler, ...] = ()
    """The enabled transaction compilers (qualifying revenue, see ``spec.revenue``)."""
    compiler_context: CompilerContext | None = None


def _plugin_config(converter: cattrs.Converter, config_type: type[Any] | None,
                   config: Mapping[str, Any], path: str) -> Any:
    if config_type is None:
        if config:
            key = sorted(config)[0]
            raise InvalidInput(f"{path}.{key}", config[key], "is not a known key")
        return None
    return structure(converter, dict(config), config_type, prefix=path)


def _known(kind: str, value: str, registry: Mapping[str, Any], field: str) -> Any:
    if value not in registry:
        known = ", ".join(sorted(registry)) or "none installed"
        raise InvalidInput(field, value, f"is not a known {kind} (known: {known})")
    return registry[value]


def configure(spec: DistributorSpec, registry: PluginRegistry, converter: cattrs.Converter,
              *, key: int = 0, version: int = 0) -> ConfiguredDistributor:
    """Check ``spec`` against the plugins and structure every plugin configuration."""
    check_identifier("id", spec.id)
    check_text("name", spec.name, NAME_LENGTH)
    check_text("description", spec.description, DESCRIPTION_LENGTH)
    if spec.status not in DISTRIBUTOR_STATUSES:
        raise InvalidInput("status", spec.status, f"is not one of {DISTRIBUTOR_STATUSES}")
    if spec.eligibility not in ELIGIBILITIES:
        raise InvalidInput("eligibility", spec.eligibility, f"is not one of {ELIGIBILITIES}")
    for index, name in enumerate(spec.collaborators):
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"collaborators[{index}]", name, "is not a collaborator id")
    if spec.catch_up_limit is not None and spec.catch_up_limit < 1:
        raise InvalidInput("catch_up_limit", spec.catch_up_limit, "must be at least 1")
    units = currency(spec.units, field="units")
    resolver = _known("pool resolver", spec.pool.resolver, registry.pool_resolvers,
                      "pool.resolver")
    calculator = _known("allocation calculator", spec.calculator.id,
                        registry.allocation_calculators, "calculator.id")
    metrics: dict[str, list[ConfiguredMetric]] = {}
    for index, metric in enumerate(spec.metrics):
        path = f"metrics[{index}]"
        check_text(f"{path}.type", metric.type, METRIC_TYPE_LENGTH, required=True)
        if metric.value not in METRIC_VALUES:
            raise InvalidInput(f"{path}.value", metric.value, f"is not one of {METRIC_VALUES}")
        if metric.points < 0:
            raise InvalidInput(f"{path}.points", metric.points, "must not be negative")
        rule = _known("credit rule", metric.credit.rule, registry.credit_rules,
                      f"{path}.credit.rule")
        rule_config = _plugin_config(converter, rule.config_type, metric.credit.config,
                                     f"{path}.credit")
        metrics.setdefault(metric.type, []).append(ConfiguredMetric(metric, rule, rule_config))
    pool_config = _plugin_config(converter, resolver.config_type, spec.pool.config, "pool")
    compilers = _compilers(spec, registry)
    if resolver.check is not None:
        resolver.check(pool_config, units)
    return ConfiguredDistributor(
        key=key, spec=spec, version=version, currency=units, pool_resolver=resolver,
        pool_config=pool_config,
        calculator=calculator,
        calculator_config=_plugin_config(converter, calculator.config_type,
                                         spec.calculator.config, "calculator"),
        metrics={name: tuple(entries) for name, entries in metrics.items()},
        first_start=schedule.boundary(spec.schedule, 0),
        compilers=compilers, compiler_context=CompilerContext(
            distributor=spec.id, skus=frozenset(spec.revenue.skus),
            categories=frozenset(spec.revenue.categories), types=frozenset(spec.revenue.types)))


def check_metric_types(spec: DistributorSpec, registry: PluginRegistry) -> None:
    """Refuse a metric type that no installed trigger strategy produces (a typo such as
    ``"sales"`` would score nothing, leaving the other types to decide the pool).

    Checked when a distributor is written, not when a stored one is loaded: a strategy
    disabled later leaves its distributors running (``siren doctor`` flags them).
    """
    produced = registry.metric_types
    for index, metric in enumerate(spec.metrics):
        if metric.type not in produced:
            known = ", ".join(sorted(produced)) or "none installed"
            raise InvalidInput(f"metrics[{index}].type", metric.type,
                               f"is not a metric type any installed trigger strategy "
                               f"produces (known: {known})")


def _compilers(spec: DistributorSpec, registry: PluginRegistry) -> tuple[TransactionCompiler, ...]:
    """The distributor's transaction compilers; line-item filters need ``line_items``."""
    found = []
    for index, compiler_id in enumerate(spec.revenue.compilers):
        found.append(_known("transaction compiler", compiler_id, registry.transaction_compilers,
                            f"revenue.compilers[{index}]"))
    if "line_items" not in spec.revenue.compilers:
        for name in ("skus", "categories", "types"):
            value = getattr(spec.revenue, name)
            if value:
                raise InvalidInput(f"revenue.{name}", list(value),
                                   "is a line-item filter: enable the 'line_items' compiler")
    return tuple(found)


def change_units(conn: Connection, distributor_key: int, units: Currency) -> None:
    """Give a distributor new units, refused while its open period holds any credit.

    Amounts already stored keep the units they were stored in: past periods, their
    allocations and obligations. The open period follows the change only while nothing
    counts in it (nor after it): a pool or revenue in the old units must not be paid in
    the new ones. Call inside the transaction that stores the new configuration.
    """
    current = distribution_queries.distributor_units(conn, distributor_key)
    if current == units.code:
        return
    opened = distribution_queries.open_period_for_update(conn, distributor_key)
    if opened is not None and distribution_queries.holds_credits_from(
            conn, distributor_key, opened[1]):
        raise InvalidInput("units", units.code, (
            f"cannot replace {current!r} while the open period (from "
            f"{opened[1].isoformat()}) holds credits or revenue in {current!r}: let that "
            "period close first (heartbeat), then change the units before the next event"))
    if opened is not None and (carried := distribution_queries.carried_in(conn, opened[0])):
        raise InvalidInput("units", units.code, (
            f"cannot replace {current!r} while the open period carries {carried} minor "
            f"units of {current!r} forward from earlier periods (unallocated = "
            "\"carry_forward\"), which are never converted: let a period pay them out "
            "first"))
    distribution_queries.change_units(conn, distributor_key,
                                      opened[0] if opened else None, units.code)


class Catalog:
    """The configured distributors of one store.

    Each is configured once per (config version, status) and kept; a cheap check decides
    what to reload: for the lists, the distributor stamp (one primary-key row that every
    distributor write raises), then all versions only when it moved; one primary-key
    look-up for ``get`` (so distributing a period never re-reads every distributor).

    A stored distributor that the loaded plugins cannot configure (a plugin uninstalled or
    disabled since) is kept as a :class:`~siren_core.errors.DistributorUnavailable`:
    ``get`` raises it, so that distributor's periods fail alone; ``all`` raises it too
    (an event is refused rather than left uncredited there); ``specs`` lists it.
    """

    def __init__(self, registry: PluginRegistry, converter: cattrs.Converter) -> None:
        self._registry = registry
        self._converter = converter
        self._versions: dict[int, tuple[int, str]] = {}
        self._by_key: dict[int, ConfiguredDistributor] = {}
        self._broken: dict[int, tuple[DistributorSpec | None, str, SirenError]] = {}
        """store id → (spec if it structures, external id, why it cannot be configured)"""
        self._stamp: int | None = None
        """The distributor stamp the versions were read at (``None``: never read)."""
        self._generation = 0
        """Raised whenever a distributor is loaded or dropped."""
        self._listed: tuple[int, tuple[ConfiguredDistributor, ...]] = (-1, ())
        """(generation, its distributors) of the last :meth:`cached`."""

    def _load(self, conn: Connection, keys: list[int]) -> None:
        try:
            self._configure(queries.distributor_rows(conn, keys=keys))
        finally:  # after the changes: a listing taken while they were made is not kept
            self._generation += 1

    def _configure(self, rows: list[queries.DistributorRow]) -> None:
        for key, external, status, config, version in rows:
            self._versions[key] = (version, status)
            spec: DistributorSpec | None = None
            try:
                spec = attrs.evolve(structure(self._converter, config, DistributorSpec),
                                    status=status)
                self._by_key[key] = configure(spec, self._registry, self._converter,
                                              key=key, version=version)
            except Exception as exc:  # a plugin's config class or check may raise anything
                cause = exc if isinstance(exc, SirenError) else PluginError(
                    f"a plugin failed while configuring it: {exc!r}")
                self._by_key.pop(key, None)
                self._broken[key] = (spec, external, cause)
            else:
                self._broken.pop(key, None)

    def _refresh(self, conn: Connection, stamp: int | None = None) -> None:
        # The stamp first: a write committed between the two reads shows in the versions
        # and raises the stamp again, so the next refresh reads them again (never less).
        if stamp is None:
            stamp = queries.distributor_stamp_value(conn)
        if stamp == self._stamp:
            return
        versions = queries.distributor_versions(conn)
        self._stamp = stamp
        if versions == self._versions:
            return
        for key in set(self._versions) - versions.keys():
            del self._versions[key]
            self._by_key.pop(key, None)
            self._broken.pop(key, None)
            self._generation += 1
        changed = [key for key, seen in versions.items() if self._versions.get(key) != seen]
        for start in range(0, len(changed), 500):
            self._load(conn, changed[start:start + 500])

    def _usable(self, conn: Connection, stamp: int | None = None
                ) -> Sequence[ConfiguredDistributor]:
        self._refresh(conn, stamp)
        for _spec, external, cause in self._broken.values():
            raise DistributorUnavailable(external, cause)
        return self.cached()

    def cached(self) -> Sequence[ConfiguredDistributor]:
        """The distributors as last read, without asking the store (possibly stale or
        empty: a guess, for a caller that checks the stamp in the same statement). The
        same tuple until a distributor is loaded or dropped: what a caller works out from
        it holds while it is the same object."""
        generation, found = self._listed
        if generation != self._generation:
            found = tuple(self._by_key.values())
            self._listed = (self._generation, found)
        return found

    def active(self, conn: Connection) -> list[ConfiguredDistributor]:
        return [d for d in self._usable(conn) if d.spec.status == "active"]

    def all(self, conn: Connection, *, stamp: int | None = None
            ) -> Sequence[ConfiguredDistributor]:
        """Every distributor, whatever its status (raises ``DistributorUnavailable``
        when one cannot be configured), as :meth:`cached`. ``stamp``: the distributor
        stamp, if the caller read it already in this transaction
        (:func:`~siren_core.store.queries.recording_prelude`)."""
        return self._usable(conn, stamp)

    def get(self, conn: Connection, key: int,
            version: tuple[int, str] | None = None) -> ConfiguredDistributor:
        """The distributor as configured now; ``version``: its (config version, status)
        if the caller read them in ``conn``'s transaction already (a claim does)."""
        if not self._versions:  # first use: load every distributor at once
            self._refresh(conn)
        current = queries.distributor_version(conn, key) if version is None else version
        if current is None:
            raise NotFound("distributor", key)
        if self._versions.get(key) != current:
            self._load(conn, [key])
        if key in self._broken:
            _spec, external, cause = self._broken[key]
            raise DistributorUnavailable(external, cause)
        return self._by_key[key]
