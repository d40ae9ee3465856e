"""The doctor's findings about groups and eligibility: every active distributor that
would pay no one (or credit no one in part), and why; and who may earn on a distributor or
a program."""

from __future__ import annotations

import cattrs

from siren_core.catalog import ConfiguredDistributor, configure
from siren_core.config.converter import structure as structure_value
from siren_core.domain import DistributorSpec
from siren_core.errors import InvalidInput, NotFound, SirenError
from siren_core.groups.capabilities import cascade_problem, group_rules
from siren_core.groups.eligibility import eligible_names
from siren_core.groups.values import DoctorFinding
from siren_core.plugins import PluginRegistry
from siren_core.store import Connection, Engine, queries, unit_of_work
from siren_core.store import group_queries as gq


def eligible_collaborators(engine: Engine, converter: cattrs.Converter, *,
                       distributor: str | None = None,
                       program: str | None = None) -> list[str]:
    """Active collaborators who may earn on a distributor or program, by id.

    Distributor with eligibility ``members``, and programs: the direct collaborators
    plus the members of the bound group. Distributor with ``all_active``: the bound
    group's members if a group is bound (even a deleted one: then no one), else every
    active collaborator.
    """
    if (distributor is None) == (program is None):
        raise InvalidInput("distributor", distributor, "give exactly one of distributor "
                           "or program")
    with unit_of_work(engine, write=False) as conn:
        if distributor is not None:
            rows = queries.distributor_rows(conn, external_id=distributor)
            if not rows:
                raise NotFound("distributor", distributor)
            spec = structure_value(converter, rows[0][3], DistributorSpec)
            direct = spec.direct_collaborators
            return eligible_names(conn, direct, gq.bound_group(conn, "distributor",
                                                               rows[0][0]))
        row = gq.find_program(conn, program) if isinstance(program, str) else None
        if row is None:
            raise NotFound("program", program)
        return eligible_names(conn, gq.program_collaborators(conn, row[0]),
                              gq.bound_group(conn, "program", row[0]))


def missing_plugins(conn: Connection, key: int, spec: DistributorSpec,
                    registry: PluginRegistry) -> list[DoctorFinding]:
    """A ``missing_plugin`` finding for each plugin the distributor names that is not
    loaded (disabled or not installed), naming its kind and id.

    A missing pool resolver, calculator or credit rule stops the distributor's periods;
    a metric type no strategy produces only scores nothing (the others still pay), unless
    no tracked type is produced at all.
    """
    found: list[DoctorFinding] = []

    def missing(kind: str, record_id: str, what: str, pays_no_one: bool = True) -> None:
        found.append(DoctorFinding(spec.id, "missing_plugin",
                                   f"{kind} {record_id!r} ({what}) is not loaded: disabled "
                                   "or not installed", pays_no_one))

    if spec.pool.resolver not in registry.pool_resolvers:
        missing("pool resolver", spec.pool.resolver, "pool.resolver")
    if spec.calculator.id not in registry.allocation_calculators:
        missing("allocation calculator", spec.calculator.id, "calculator.id")
    produced = registry.metric_types
    unproduced = {m.type for m in spec.metrics} - produced.keys()
    for index, metric in enumerate(spec.metrics):
        if metric.type in unproduced:
            missing("trigger strategy for metric type", metric.type,
                    f"metrics[{index}].type", len(unproduced) == len(
                        {m.type for m in spec.metrics}))
        if metric.credit.rule not in registry.credit_rules:
            missing("credit rule", metric.credit.rule, f"metrics[{index}].credit.rule")
    bound = gq.bound_group(conn, "distributor", key)
    if bound is not None and bound.status == "active" \
            and bound.structure not in registry.group_structures:
        missing("group structure", bound.structure, f"of the bound group {bound.id!r}")
    return found


class GroupDoctor:
    """Diagnoses distributors' eligibility and cascades on one store."""

    def __init__(self, engine: Engine, registry: PluginRegistry,
                 converter: cattrs.Converter) -> None:
        self._engine = engine
        self._registry = registry
        self._converter = converter

    def findings(self) -> list[DoctorFinding]:
        """Every active distributor that would pay no one (or credit no one in part), and why."""
        findings: list[DoctorFinding] = []
        with unit_of_work(self._engine, write=False) as conn:
            for key, name, status, config, _version in queries.distributor_rows(conn):
                if status == "deleted":
                    continue
                try:
                    spec = structure_value(self._converter, config, DistributorSpec)
                    missing = missing_plugins(conn, key, spec, self._registry)
                    findings += missing
                    if status != "active" or any(f.pays_no_one for f in missing):
                        continue
                    configured = configure(spec, self._registry, self._converter, key=key)
                except SirenError as exc:
                    findings.append(DoctorFinding(name, "invalid_configuration", str(exc)))
                    continue
                findings += self._diagnose(conn, configured)
        return findings

    def _diagnose(self, conn: Connection, distributor: ConfiguredDistributor
                  ) -> list[DoctorFinding]:
        spec, found = distributor.spec, []
        if not spec.metrics:
            found.append(DoctorFinding(spec.id, "no_metrics", "tracks no metric type"))
        problem = cascade_problem(conn, distributor, self._registry)
        if problem is not None:
            only_cascades = len(group_rules(spec, self._registry)) == len(spec.metrics)
            found.append(DoctorFinding(spec.id, problem[0], problem[1], only_cascades))
        bound = gq.bound_group(conn, "distributor", distributor.key)
        direct = spec.direct_collaborators
        if not eligible_names(conn, direct, bound):
            found.append(DoctorFinding(spec.id, "no_eligible_collaborators",
                                       self._eligibility_detail(conn, spec, bound)))
        if direct is None and bound is not None:
            found += self._payees_changed(conn, spec, bound)
        return found

    @staticmethod
    def _payees_changed(conn: Connection, spec: DistributorSpec,
                        bound: gq.GroupRow) -> list[DoctorFinding]:
        """Eligibility ``all_active`` with a group bound: since the bound group decides
        who earns (as in Siren), the active collaborators outside it no longer earn."""
        outside = gq.active_outside(conn, bound.key)  # a deleted group has no members
        if not outside:
            return []
        group = f"group {bound.id!r}" + (" (deleted)" if bound.status != "active" else "")
        return [DoctorFinding(
            spec.id, "payees_changed_by_bound_group",
            f"eligibility 'all_active' with {group} bound: only its members earn; "
            f"{outside} active collaborator(s) outside it no longer earn (set eligibility "
            "'members' to confirm)", pays_no_one=False)]

    @staticmethod
    def _eligibility_detail(conn: Connection, spec: DistributorSpec,
                            bound: gq.GroupRow | None) -> str:
        if spec.eligibility != "members" and bound is None:
            return "eligibility 'all_active' and no collaborator is active"
        parts = []
        if spec.eligibility == "members":
            statuses = gq.collaborator_statuses(conn, spec.collaborators)
            parts.append(f"{len(spec.collaborators)} direct collaborator(s), "
                         f"{sum(1 for s in statuses.values() if s == 'active')} active")
        if bound is None:
            parts.append("no group bound")
        elif bound.status != "active":
            parts.append(f"bound group {bound.id!r} was deleted")
        else:
            total, active = gq.member_counts(conn, bound.key)
            parts.append(f"group {bound.id!r} has {total} member(s), {active} active")
        return f"eligibility {spec.eligibility!r}: " + "; ".join(parts)
