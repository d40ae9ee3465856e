"""Distributors as the pipeline uses them: spec + the plugins and typed configs they name.

``configure`` validates a :class:`~siren_core.domain.DistributorSpec` against the loaded
plugins (every id known, every plugin config structured into its class) and is used both
when a distributor is written (so a bad configuration is refused with a clear error) and
when the pipeline loads it. ``Catalog`` caches the active distributors of one store and
reloads them when any configuration version changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
from sqlalchemy.engine import Connection

from siren_core.config import structure
from siren_core.domain import DISTRIBUTOR_STATUSES, ELIGIBILITIES, DistributorSpec, MetricTypeSpec
from siren_core.errors import InvalidInput
from siren_core.money import Currency, currency
from siren_core.plugins import PluginRegistry
from siren_core.records import AllocationCalculator, CreditRule, PoolResolver
from siren_core.store import queries

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
    if not spec.id:
        raise InvalidInput("id", spec.id, "must not be empty")
    if spec.status not in DISTRIBUTOR_STATUSES:
        raise InvalidInput("status", spec.status, f"is not one of {DISTRIBUTOR_STATUSES}")
    if spec.eligibility not in ELIGIBILITIES:
        raise InvalidInput("eligibility", spec.eligibility, f"is not one of {ELIGIBILITIES}")
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
    if resolver.check is not None:
        resolver.check(pool_config, units)
    return ConfiguredDistributor(
        key=key, spec=spec, version=version, currency=units, pool_resolver=resolver,
        pool_config=pool_config,
        calculator=calculator,
        calculator_config=_plugin_config(converter, calculator.config_type,
                                         spec.calculator.config, "calculator"),
        metrics={name: tuple(entries) for name, entries in metrics.items()})


class Catalog:
    """The configured distributors of one store, reloaded when a version changes."""

    def __init__(self, registry: PluginRegistry, converter: cattrs.Converter) -> None:
        self._registry = registry
        self._converter = converter
        self._versions: dict[int, tuple[int, str]] | None = None
        self._by_key: dict[int, ConfiguredDistributor] = {}
        self._status: dict[int, str] = {}

    def _refresh(self, conn: Connection) -> None:
        versions = queries.distributor_versions(conn)
        if versions == self._versions:
            return
        self._by_key, self._status = {}, {}
        for key, _external, status, config, version in queries.distributor_rows(conn):
            spec = structure(self._converter, config, DistributorSpec)
            spec = attrs.evolve(spec, status=status)
            self._by_key[key] = configure(spec, self._registry, self._converter,
                                          key=key, version=version)
            self._status[key] = status
        self._versions = versions

    def active(self, conn: Connection) -> list[ConfiguredDistributor]:
        self._refresh(conn)
        return [d for key, d in self._by_key.items() if self._status[key] == "active"]

    def get(self, conn: Connection, key: int) -> ConfiguredDistributor:
        self._refresh(conn)
        return self._by_key[key]
