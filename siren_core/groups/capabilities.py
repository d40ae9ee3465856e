"""Capability checks and fail-closed reasons: a cascade needs a bound group whose
structure provides what its credit rule requires (``has_layer``)."""

from __future__ import annotations

from siren_core.catalog import ConfiguredDistributor
from siren_core.domain import DistributorSpec
from siren_core.errors import InvalidInput
from siren_core.plugins import PluginRegistry
from siren_core.store import Connection
from siren_core.store import group_queries as gq


def group_rules(spec: DistributorSpec, registry: PluginRegistry
                 ) -> list[tuple[int, str, frozenset[str]]]:
    """(metric index, credit rule id, capabilities needed) of rules that walk a group."""
    found = []
    for index, metric in enumerate(spec.metrics):
        rule = registry.credit_rules.get(metric.credit.rule)
        if rule is not None and rule.requires:
            found.append((index, rule.id, rule.requires))
    return found


def _provided(registry: PluginRegistry, row: gq.GroupRow) -> frozenset[str]:
    found = registry.group_structures.get(row.structure)
    return found.capabilities if found is not None else frozenset()


def check_capabilities(spec: DistributorSpec, registry: PluginRegistry,
                       row: gq.GroupRow | None, *, binding: bool) -> None:
    """Refuse a cascade on a live group lacking what it needs (e.g. a flat group).

    ``binding``: the error names the group being bound, else the distributor's rule.
    """
    if row is None or row.status != "active":
        return
    provided = _provided(registry, row)
    for index, rule, needs in group_rules(spec, registry):
        missing = ", ".join(sorted(needs - provided))
        if not missing:
            continue
        if binding:
            raise InvalidInput("group", row.id,
                               f"has structure {row.structure!r} without {missing}, which "
                               f"credit rule {rule!r} of distributor {spec.id!r} "
                               f"(metrics[{index}]) needs")
        raise InvalidInput(f"metrics[{index}].credit.rule", rule,
                           f"needs {missing}, which the bound group {row.id!r} "
                           f"(structure {row.structure!r}) lacks")


def cascade_problem(conn: Connection, distributor: ConfiguredDistributor,
                    registry: PluginRegistry) -> tuple[str, str] | None:
    """(reason, detail) when the distributor's cascades cannot walk a group, else None.

    Reasons: ``cascade_without_group`` (nothing bound), ``cascade_group_deleted``,
    ``cascade_group_without_layers`` (the structure lacks a capability the rule needs).
    """
    rules = group_rules(distributor.spec, registry)
    if not rules:
        return None
    names = ", ".join(sorted({rule for _i, rule, _n in rules}))
    row = gq.bound_group(conn, "distributor", distributor.key)
    if row is None:
        return "cascade_without_group", f"credit rule {names} needs a group; none is bound"
    if row.status != "active":
        return "cascade_group_deleted", f"credit rule {names}: bound group {row.id!r} was deleted"
    provided = _provided(registry, row)
    missing = sorted({need for _i, _r, needs in rules for need in needs - provided})
    if missing:
        return ("cascade_group_without_layers",
                f"credit rule {names}: bound group {row.id!r} has structure "
                f"{row.structure!r}, without {', '.join(missing)}")
    return None
