"""The admin API's records as JSON (camelCase, money in integer minor units beside its
currency), shared by the API and the dashboard's pages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from siren_core.domain import Allocation, Distribution, Distributor, Fulfillment, Obligation
from siren_core.groups.values import CollaboratorGroup, DoctorFinding, GroupMember
from siren_core.store.operations_queries import CreditLine
from siren_core.times import iso_utc


def distributor_json(d: Distributor, group: str | None) -> dict[str, Any]:
    spec = d.spec
    return {"id": spec.id, "name": spec.name, "description": spec.description,
            "status": spec.status, "units": spec.units,
            "distributionResolver": spec.calculator.id,
            "distributionPoolResolver": spec.pool.resolver,
            "schedule": {"frequency": spec.schedule.frequency,
                         "interval": spec.schedule.interval,
                         "start": spec.schedule.start.isoformat(),
                         "timezone": spec.schedule.timezone},
            "metrics": [{"type": m.type, "rule": m.credit.rule, "points": m.points}
                        for m in spec.metrics],
            "eligibility": spec.eligibility, "collaboratorGroupId": group,
            "configVersion": d.config_version}


def distribution_json(d: Distribution) -> dict[str, Any]:
    return {"id": d.id, "distributorId": d.distributor, "status": d.status,
            "periodStart": iso_utc(d.period_start), "periodEnd": iso_utc(d.period_end),
            "triggerDate": iso_utc(d.period_end), "currency": d.units, "pool": d.pool,
            "revenue": d.revenue, "reason": d.reason, "calculator": d.calculator,
            "configVersion": d.config_version, "dateCompleted": iso_utc(d.completed_at)}


def credit_json(c: CreditLine) -> dict[str, Any]:
    return {"id": c.id, "metricType": c.metric_type, "rule": c.rule, "layer": c.layer,
            "points": c.points, "revenue": c.revenue, "currency": c.units,
            "effectiveAt": iso_utc(c.effective_at), "late": c.late,
            "eventType": c.event_type, "eventId": c.event_id}


def explanation(credits: Iterable[CreditLine]) -> dict[str, Any]:
    """The score behind an allocation: points by metric type, and the credits."""
    lines = list(credits)
    by_metric: dict[str, int] = {}
    for c in lines:
        by_metric[c.metric_type] = by_metric.get(c.metric_type, 0) + c.points
    return {"scoreByMetric": by_metric, "credits": [credit_json(c) for c in lines]}


def allocations_json(allocations: Sequence[Allocation],
                     credits: Iterable[CreditLine]) -> list[dict[str, Any]]:
    """Each allocation with its explanation."""
    behind: dict[str, list[CreditLine]] = {}
    for c in credits:
        behind.setdefault(c.collaborator, []).append(c)
    return [{"id": a.id, "distributionId": a.distribution_id,
             "distributorId": a.distributor, "collaboratorExternalId": a.collaborator,
             "score": a.score, "amount": a.amount, "currency": a.units, "pool": a.pool,
             "calculator": a.calculator, "configVersion": a.config_version,
             "explanation": explanation(behind.get(a.collaborator, ()))}
            for a in allocations]


def obligation_json(o: Obligation) -> dict[str, Any]:
    return {"id": o.id, "collaboratorExternalId": o.collaborator, "amount": o.amount,
            "currency": o.units, "status": o.status, "awardType": o.award_type,
            "source": o.source, "sourceId": o.source_id, "payoutId": o.payout_id,
            "dateCreated": iso_utc(o.created_at)}


def fulfillment_json(f: Fulfillment) -> dict[str, Any]:
    return {"id": f.id, "status": f.status, "actor": f.actor,
            "dateCreated": iso_utc(f.created_at), "dateModified": iso_utc(f.updated_at),
            "totals": f.totals,
            "payouts": [{"id": p.id, "collaboratorExternalId": p.collaborator,
                         "amount": p.amount, "currency": p.units, "status": p.status,
                         "obligationIds": list(p.obligation_ids), "reference": p.reference}
                        for p in f.payouts]}


def group_json(g: CollaboratorGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "description": g.description,
            "structure": g.structure}


def member_json(m: GroupMember) -> dict[str, Any]:
    return {"collaboratorId": m.collaborator, "status": m.status,
            "metadata": dict(m.metadata)}


def finding_json(f: DoctorFinding) -> dict[str, Any]:
    return {"distributorId": f.distributor, "problem": f.problem, "detail": f.detail,
            "paysNoOne": f.pays_no_one}
