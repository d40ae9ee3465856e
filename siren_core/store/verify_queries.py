"""The invariant checks behind ``siren doctor --verify``: each query returns the rows that
break one invariant (an empty result means it holds)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core.store import tables
from siren_core.store.metrics_queries import sale_refund
from siren_core.store.obligation_queries import payout, payout_item
from siren_core.store.queries import (
    allocation,
    credit_skip,
    distribution,
    distributor,
    distributor_config,
    obligation,
    score_credit,
    source_event,
    sqlite_overflowed,
    sums_by,
)

store_setting = tables.table(tables.StoreSetting)
Rows = list[tuple[Any, ...]]


def _rows(conn: Connection, query: sa.Select[Any]) -> Rows:
    return [tuple(row) for row in conn.execute(query)]


def allocations_not_summing_to_pool(conn: Connection) -> Rows:
    """Completed periods whose allocations do not sum to their pool (or that allocated
    something while recording a reason for allocating nothing)."""
    total = (sa.select(sa.func.coalesce(sa.func.sum(allocation.c.amount), 0))
             .where(allocation.c.distribution_id == distribution.c.id).scalar_subquery())
    d = distribution.c
    return _rows(conn, sa.select(d.id, d.pool, d.reason, total).where(
        d.status == "completed",
        sa.or_(sa.and_(d.reason.is_(None), total != d.pool),
               sa.and_(d.reason.is_not(None), total != 0))))


def carried_pools_not_explained(conn: Connection) -> Rows:
    """Periods whose carried amounts do not add up (``unallocated = "carry_forward"``):
    a period carries in exactly what the distributor's period before carried out (0 for
    the first); an open period carries nothing out yet; a skipped one passes on what it
    carried in; a completed one carries out 0, or its whole pool if it allocated nothing;
    and a pool holds at least what was carried into it."""
    d, before = distribution.c, distribution.alias("period_before").c
    previous = (sa.select(before.carried_out)
                .where(before.distributor_id == d.distributor_id,
                       before.period_index < d.period_index)
                .order_by(before.period_index.desc()).limit(1).scalar_subquery())
    completed = sa.and_(d.status == "completed", sa.or_(
        d.pool < d.carried_in,
        sa.and_(d.carried_out != 0, sa.or_(d.reason.is_(None), d.carried_out != d.pool))))
    return _rows(conn, sa.select(d.id, d.status, d.pool, d.carried_in, d.carried_out,
                                 previous).where(sa.or_(
        sa.func.coalesce(previous, 0) != d.carried_in,
        sa.and_(d.status == "open", d.carried_out != 0),
        sa.and_(d.status == "skipped", d.carried_out != d.carried_in),
        completed)))


def non_positive_allocations(conn: Connection) -> Rows:
    a = allocation.c
    return _rows(conn, sa.select(a.id, a.amount).where(a.amount <= 0))


def allocations_without_one_matching_obligation(conn: Connection) -> Rows:
    """Allocations without exactly one obligation of the same collaborator and amount."""
    o, a = obligation.c, allocation.c
    matching = (sa.select(sa.func.count()).where(
        o.source == "allocation", o.source_id == a.id, o.collaborator_id == a.collaborator_id,
        o.amount == a.amount).scalar_subquery())
    return _rows(conn, sa.select(a.id, matching).where(matching != 1))


def obligations_without_allocation(conn: Connection) -> Rows:
    o = obligation.c
    exists = sa.exists().where(allocation.c.id == o.source_id)
    return _rows(conn, sa.select(o.id, o.source_id).where(o.source == "allocation", ~exists))


def broken_period_chains(conn: Connection) -> Rows:
    """Periods of one distributor that are not contiguous, or that follow an open one."""
    nxt = distribution.alias("next_period")
    d = distribution.c
    return _rows(conn, sa.select(d.distributor_id, d.period_index, d.period_end, d.status,
                                 nxt.c.period_start, nxt.c.status)
                 .join(nxt, sa.and_(nxt.c.distributor_id == d.distributor_id,
                                    nxt.c.period_index == d.period_index + 1))
                 .where(sa.or_(nxt.c.period_start != d.period_end, d.status == "open")))


def distributors_without_one_open_period(conn: Connection) -> Rows:
    open_count = (sa.select(sa.func.count()).where(
        distribution.c.distributor_id == distributor.c.id,
        distribution.c.status == "open").scalar_subquery())
    return _rows(conn, sa.select(distributor.c.external_id, open_count).where(
        distributor.c.status != "deleted", open_count != 1))


def allocation_scores_not_matching_credits(conn: Connection) -> Rows:
    """Allocations whose score differs from the credits in their period's window: scores
    were reset exactly at the period's bounds, no more, no less."""
    a, d, c = allocation.c, distribution.c, score_credit.c
    credited = (sa.select(sa.func.coalesce(sa.func.sum(c.points), 0)).where(
        c.distributor_id == d.distributor_id, c.collaborator_id == a.collaborator_id,
        c.effective_at >= d.period_start, c.effective_at < d.period_end).scalar_subquery())
    try:
        return _rows(conn, sa.select(a.id, a.score, credited)
                     .join(distribution, distribution.c.id == a.distribution_id)
                     .where(credited != a.score))
    except sa.exc.OperationalError as exc:  # SQLite's SUM past 64 bits: sum exactly instead
        if not sqlite_overflowed(exc):
            raise
    found: Rows = []
    periods = conn.execute(sa.select(d.id, d.distributor_id, d.period_start, d.period_end)
                           .where(d.status == "completed"))
    for key, distributor_key, start, end in periods.all():
        totals = sums_by(conn, c.collaborator_id, c.points, sa.and_(
            c.distributor_id == distributor_key, c.effective_at >= start,
            c.effective_at < end))
        for allocation_id, collaborator_id, score in conn.execute(
                sa.select(a.id, a.collaborator_id, a.score).where(a.distribution_id == key)):
            if totals.get(collaborator_id, 0) != score:
                found.append((allocation_id, score, totals.get(collaborator_id, 0)))
    return found


def obligations_in_other_units_than_their_distribution(conn: Connection) -> Rows:
    """Obligations issued from an allocation whose units differ from the period's."""
    o, a, d = obligation.c, allocation.c, distribution.c
    return _rows(conn, sa.select(o.id, o.units, d.id, d.units)
                 .join(allocation, a.id == o.source_id)
                 .join(distribution, d.id == a.distribution_id)
                 .where(o.source == "allocation", o.units != d.units))


def obligations_in_several_open_payouts(conn: Connection) -> Rows:
    i = payout_item.c
    return _rows(conn, sa.select(i.obligation_id, sa.func.count()).where(i.is_open)
                 .group_by(i.obligation_id).having(sa.func.count() > 1))


def obligations_paid_more_than_once(conn: Connection) -> Rows:
    i, p = payout_item.c, payout.c
    return _rows(conn, sa.select(i.obligation_id, sa.func.count())
                 .join(payout, p.id == i.payout_id).where(p.status == "paid")
                 .group_by(i.obligation_id).having(sa.func.count() > 1))


def payouts_not_matching_their_items(conn: Connection) -> Rows:
    i, p = payout_item.c, payout.c
    total = (sa.select(sa.func.coalesce(sa.func.sum(i.amount), 0))
             .where(i.payout_id == p.id).scalar_subquery())
    return _rows(conn, sa.select(p.id, p.amount, total).where(total != p.amount))


def fulfilled_not_equal_to_paid(conn: Connection) -> Rows:
    """Per currency: the sum of fulfilled obligations against the sum of paid payouts."""
    o, p = obligation.c, payout.c  # summed exactly, even beyond 64 bits
    fulfilled = sums_by(conn, o.units, o.amount, o.status == "fulfilled")
    paid = sums_by(conn, p.units, p.amount, p.status == "paid")
    return [(units, fulfilled.get(units, 0), paid.get(units, 0))
            for units in sorted(fulfilled.keys() | paid.keys())
            if fulfilled.get(units, 0) != paid.get(units, 0)]


def refunds_exceeding_their_sale(conn: Connection) -> Rows:
    """Sales refunded for more than their amount: (sale key, amount, refunded)."""
    r, e = sale_refund.c, source_event.c
    refunded = sa.func.sum(r.amount)
    return _rows(conn, sa.select(e.key, e.amount, refunded)
                 .join(source_event, e.id == r.sale_event_id)
                 .group_by(e.key, e.amount)
                 .having(refunded > sa.func.coalesce(e.amount, 0)).order_by(e.key))


def sale_credits_below_zero(conn: Connection) -> Rows:
    """Credit groups of a refunded sale (distributor, collaborator, type, rule, layer)
    whose points or revenue, net of the sale's refunds, are below zero."""
    c, r = score_credit.c, sale_refund.c
    group = [c.distributor_id, c.collaborator_id, c.metric_type, c.rule, c.layer]
    own = sa.select(c.source_event_id.label("sale_id"), *group, c.points, c.revenue).where(
        c.source_event_id.in_(sa.select(r.sale_event_id)))
    reversed_ = (sa.select(r.sale_event_id.label("sale_id"), *group, c.points, c.revenue)
                 .join(sale_refund, r.refund_event_id == c.source_event_id))
    both = sa.union_all(own, reversed_).subquery()
    keys = [both.c.sale_id, both.c.distributor_id, both.c.collaborator_id,
            both.c.metric_type, both.c.rule, both.c.layer]
    points, revenue = sa.func.sum(both.c.points), sa.func.sum(both.c.revenue)
    return _rows(conn, sa.select(*keys, points, revenue).group_by(*keys)
                 .having(sa.or_(points < 0, revenue < 0)).order_by(*keys))


# -- accounting: every recorded event credited or skipped (see siren_core.verify) ------

ConfigRow = tuple[int, str, str, Any, Any, dict[str, Any]]
"""(distributor store id, external id, status, updated_at, config created_at, config)"""


def distributor_configs(conn: Connection) -> list[ConfigRow]:
    """Every configuration version of every distributor, oldest first per distributor."""
    d, v = distributor.c, distributor_config.c
    query = (sa.select(d.id, d.external_id, d.status, d.updated_at, v.created_at, v.config)
             .join(distributor_config, v.distributor_id == d.id)
             .order_by(d.id, v.version))
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(query)]


EventRow = tuple[int, str, str, Any, str]
"""(store id, kind, key, recorded_at, payload)"""


def recorded_events(conn: Connection, after: int, limit: int) -> list[EventRow]:
    """The next ``limit`` recorded events other than refunds with an id above ``after``."""
    e = source_event.c
    query = (sa.select(e.id, e.kind, e.key, e.recorded_at, e.payload)
             .where(e.id > after, e.kind != "refund").order_by(e.id).limit(limit))
    return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(query)]


def accounting_horizon(conn: Connection) -> int:
    """The first source event id whose credits are accounted for (0: all of them)."""
    value = conn.execute(sa.select(store_setting.c.value).where(
        store_setting.c.key == "credits_accounted_from_event")).scalar_one_or_none()
    return int(value) if value is not None else 0


def accounted(conn: Connection, first: int, last: int) -> set[tuple[int, int, str]]:
    """(event id, distributor store id, metric type) that credited someone or were
    skipped with a reason, for the events with ids in ``[first, last]``."""
    c, s = score_credit.c, credit_skip.c
    credited = sa.select(c.source_event_id, c.distributor_id, c.metric_type).where(
        c.source_event_id.between(first, last))
    skipped = sa.select(s.source_event_id, s.distributor_id, s.metric_type).where(
        s.source_event_id.between(first, last))
    return {(r[0], r[1], r[2]) for r in conn.execute(sa.union(credited, skipped))}


CHECKS = {
    "allocations_sum_to_pool": allocations_not_summing_to_pool,
    "carried_pools_explained": carried_pools_not_explained,
    "allocations_positive": non_positive_allocations,
    "one_obligation_per_allocation": allocations_without_one_matching_obligation,
    "obligation_has_allocation": obligations_without_allocation,
    "obligation_units_equal_distribution_units":
        obligations_in_other_units_than_their_distribution,
    "periods_contiguous": broken_period_chains,
    "one_open_period_per_distributor": distributors_without_one_open_period,
    "scores_reset_at_period_bounds": allocation_scores_not_matching_credits,
    "obligation_in_one_open_payout": obligations_in_several_open_payouts,
    "obligation_paid_once": obligations_paid_more_than_once,
    "payout_equals_its_items": payouts_not_matching_their_items,
    "fulfilled_equals_paid": fulfilled_not_equal_to_paid,
    "refunds_within_their_sale": refunds_exceeding_their_sale,
    "sale_credits_not_below_zero": sale_credits_below_zero,
}
