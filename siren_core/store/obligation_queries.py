"""Every statement of the obligation lifecycle: obligations, their audit log, fulfillments,
payouts and payout items.

Rows that a status change depends on are read ``FOR UPDATE`` on PostgreSQL (in id order, so
two transactions never wait on each other in a cycle); SQLite write transactions already
hold the database's write lock (``BEGIN IMMEDIATE``). The partial unique index on
``payout_item(obligation_id) WHERE is_open`` is the last line of defence: an obligation is
never in two open payouts, whatever the code above it does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core import domain
from siren_core.store import tables
from siren_core.store.engine import is_sqlite
from siren_core.store.queries import (
    allocation,
    collaborator,
    distribution,
    distributor,
    obligation,
    sums_by,
)

_CHUNK = 500


fulfillment = tables.table(tables.Fulfillment)
payout = tables.table(tables.Payout)
payout_item = tables.table(tables.PayoutItem)
audit = tables.table(tables.ObligationAudit)

OPEN_PAYOUT_STATUSES = ("unpaid", "processing")


def _locked(conn: Connection, query: sa.Select[Any], *of: sa.Table) -> sa.Select[Any]:
    return query if is_sqlite(conn) else query.with_for_update(of=list(of) or None)


def _inserted_key(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start:start + _CHUNK])


# -- obligations -----------------------------------------------------------------------

def insert_obligation(conn: Connection, *, collaborator_key: int, amount: int, units: str,
                      source: str, source_id: int, award_type: str, now: datetime) -> int:
    result = conn.execute(obligation.insert().values(
        collaborator_id=collaborator_key, amount=amount, units=units, status="pending",
        award_type=award_type, source=source, source_id=source_id, created_at=now,
        updated_at=now))
    return _inserted_key(result)


def obligation_by_source(conn: Connection, source: str, source_id: int) -> int | None:
    query = sa.select(obligation.c.id).where(obligation.c.source == source,
                                             obligation.c.source_id == source_id)
    return cast(int | None, conn.execute(query).scalar_one_or_none())


def _obligation_query() -> sa.Select[Any]:
    o = obligation
    return (sa.select(o.c.id, collaborator.c.external_id, o.c.amount, o.c.units, o.c.status,
                      o.c.source, o.c.source_id, o.c.award_type, o.c.created_at, o.c.payout_id)
            .join(collaborator, collaborator.c.id == o.c.collaborator_id).order_by(o.c.id))


def _to_obligation(r: Sequence[Any]) -> domain.Obligation:
    return domain.Obligation(
        id=r[0], collaborator=r[1], amount=r[2], units=r[3], status=r[4], source=r[5],
        source_id=r[6], award_type=r[7], created_at=r[8], payout_id=r[9])


def list_obligations(conn: Connection, *, ids: Sequence[int] | None = None,
                     collaborator_id: str | None = None, status: str | None = None,
                     award_type: str | None = None, payout_id: int | None = None,
                     source: str | None = None) -> list[domain.Obligation]:
    """Obligations matching every filter given, by id."""
    o = obligation
    query = _obligation_query()
    filters = [(collaborator.c.external_id, collaborator_id), (o.c.status, status),
               (o.c.award_type, award_type), (o.c.payout_id, payout_id), (o.c.source, source)]
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    if ids is None:
        return [_to_obligation(row) for row in conn.execute(query)]
    found: list[domain.Obligation] = []
    for chunk in _chunks(sorted(set(ids))):
        found.extend(_to_obligation(row) for row in conn.execute(query.where(o.c.id.in_(chunk))))
    return found


def distribution_obligations(conn: Connection, distribution_id: int) -> list[domain.Obligation]:
    """The obligations issued for the allocations of one distribution."""
    query = _obligation_query().join(
        allocation, sa.and_(obligation.c.source == "allocation",
                            obligation.c.source_id == allocation.c.id)
    ).where(allocation.c.distribution_id == distribution_id)
    return [_to_obligation(row) for row in conn.execute(query)]


StateRow = tuple[str, int | None]
"""(status, payout id)"""


def lock_obligations(conn: Connection, ids: Sequence[int]) -> dict[int, StateRow]:
    """Status and payout of the obligations that exist among ``ids``, locked for update."""
    states: dict[int, StateRow] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = _locked(conn, sa.select(obligation.c.id, obligation.c.status,
                                        obligation.c.payout_id)
                        .where(obligation.c.id.in_(chunk)).order_by(obligation.c.id))
        states.update({row[0]: (row[1], row[2]) for row in conn.execute(query)})
    return states


def hold_periods(conn: Connection) -> dict[int, int]:
    """store id → hold days of every distributor that has a hold period (whatever its
    status): one indexed query, however many distributors have none."""
    query = sa.select(distributor.c.id, distributor.c.hold_days).where(
        distributor.c.hold_days.is_not(None))
    return {row[0]: row[1] for row in conn.execute(query)}


def held_obligations(conn: Connection, distributor_key: int, cutoff: datetime) -> list[int]:
    """Pending obligations of a distributor's distributions issued at or before ``cutoff``
    (not locked: the caller locks those of every distributor in one ascending pass)."""
    o = obligation
    query = (sa.select(o.c.id)
             .join(allocation, sa.and_(o.c.source == "allocation",
                                       o.c.source_id == allocation.c.id))
             .join(distribution, distribution.c.id == allocation.c.distribution_id)
             .where(distribution.c.distributor_id == distributor_key, o.c.status == "pending",
                    o.c.created_at <= cutoff)
             .order_by(o.c.id))
    return [row[0] for row in conn.execute(query)]


# -- audit log -------------------------------------------------------------------------

AuditRow = tuple[int, str | None, str, str | None, int | None]
"""(obligation id, from status, to status, reason, payout id)"""


def insert_audit(conn: Connection, rows: Sequence[AuditRow], actor: str,
                 now: datetime) -> None:
    if rows:
        conn.execute(audit.insert(), [
            {"obligation_id": key, "from_status": before, "to_status": after, "actor": actor,
             "reason": reason, "payout_id": payout_key, "at": now}
            for key, before, after, reason, payout_key in rows])


def move_obligations(conn: Connection, ids: Sequence[int], before: str, after: str,
                     actor: str, reason: str | None, now: datetime) -> None:
    """``before`` → ``after`` for obligations already locked in ``before``: the audit rows
    (``INSERT … SELECT``) and the update, two statements per chunk of ids."""
    o = obligation
    for chunk in _chunks(sorted(ids)):
        chosen = sa.and_(o.c.id.in_(chunk), o.c.status == before)
        select = sa.select(o.c.id, sa.literal(before), sa.literal(after), sa.literal(actor),
                           sa.literal(reason, sa.String), sa.literal(now, tables.UTCDateTime)
                           ).where(chosen)
        conn.execute(audit.insert().from_select(
            ["obligation_id", "from_status", "to_status", "actor", "reason", "at"], select))
        conn.execute(o.update().where(chosen).values(status=after, updated_at=now))


def history(conn: Connection, obligation_id: int) -> list[domain.ObligationChange]:
    a = audit
    query = (sa.select(a.c.id, a.c.obligation_id, a.c.from_status, a.c.to_status, a.c.actor,
                       a.c.reason, a.c.at, a.c.payout_id)
             .where(a.c.obligation_id == obligation_id).order_by(a.c.id))
    return [domain.ObligationChange(id=r[0], obligation_id=r[1], from_status=r[2],
                                    to_status=r[3], actor=r[4], reason=r[5], at=r[6],
                                    payout_id=r[7]) for r in conn.execute(query)]


# -- fulfillment -----------------------------------------------------------------------

CandidateRow = tuple[int, int, str, str, int, str]
"""(obligation id, collaborator store id, collaborator id, units, amount, status)"""


def fulfillable(conn: Connection, ids: Sequence[int] | None, *,
                statuses: Sequence[str] = ("approved",)) -> list[CandidateRow]:
    """Obligations in one of ``statuses`` (default: approved) and in no open payout (all,
    or those among ``ids``), locked, by id.

    On PostgreSQL a transaction that waits for a row locked by a concurrent generation
    re-checks ``payout_id IS NULL`` against the committed row, so it skips obligations the
    other generation took.
    """
    o = obligation
    query = (sa.select(o.c.id, o.c.collaborator_id, collaborator.c.external_id, o.c.units,
                       o.c.amount, o.c.status)
             .join(collaborator, collaborator.c.id == o.c.collaborator_id)
             .where(o.c.status.in_(list(statuses)), o.c.payout_id.is_(None)).order_by(o.c.id))
    if ids is None:
        return [(r[0], r[1], r[2], r[3], r[4], r[5])
                for r in conn.execute(_locked(conn, query, o))]
    rows: list[CandidateRow] = []
    for chunk in _chunks(sorted(set(ids))):
        chosen = _locked(conn, query.where(o.c.id.in_(chunk)), o)
        rows.extend((r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(chosen))
    return rows


def insert_fulfillment(conn: Connection, actor: str, now: datetime) -> int:
    return _inserted_key(conn.execute(fulfillment.insert().values(
        status="pending", actor=actor, created_at=now, updated_at=now)))


PayoutPlan = tuple[int, str, Sequence[tuple[int, int]]]
"""(collaborator store id, units, [(obligation id, amount)])"""


def insert_payouts(conn: Connection, fulfillment_id: int, plans: Sequence[PayoutPlan],
                   now: datetime) -> list[int]:
    """One unpaid payout per plan, its items, and its obligations pointing at it; returns
    the payout ids in plan order. A handful of set-based statements for any batch size."""
    result = conn.execute(
        payout.insert().returning(payout.c.id, sort_by_parameter_order=True),
        [{"fulfillment_id": fulfillment_id, "collaborator_id": collaborator_key,
          "units": units, "amount": sum(amount for _id, amount in items), "status": "unpaid",
          "created_at": now, "updated_at": now}
         for collaborator_key, units, items in plans])
    keys = [row[0] for row in result]
    pairs = [(key, item, amount) for key, (_c, _u, items) in zip(keys, plans, strict=True)
             for item, amount in items]
    conn.execute(payout_item.insert(), [
        {"payout_id": key, "obligation_id": item, "amount": amount, "is_open": True}
        for key, item, amount in pairs])
    holder = (sa.select(payout_item.c.payout_id)
              .where(payout_item.c.obligation_id == obligation.c.id,
                     payout_item.c.is_open).scalar_subquery())
    taken = 0
    for chunk in _chunks(sorted(item for _key, item, _amount in pairs)):
        taken += conn.execute(obligation.update().where(
            obligation.c.id.in_(chunk), obligation.c.payout_id.is_(None)
        ).values(payout_id=holder, updated_at=now)).rowcount
    if taken != len(pairs):
        raise RuntimeError(f"fulfillment {fulfillment_id}: an obligation was taken by "
                           "another payout")
    return keys


def audit_payout_items(conn: Connection, payout_ids: Sequence[int], before: str, after: str,
                       actor: str, now: datetime, *, prefix: str, suffix: str,
                       with_fulfillment: bool = False) -> None:
    """One audit row per item of the payouts (``INSERT … SELECT``), with the reason
    ``prefix + payout id + suffix`` (`` of fulfillment F`` appended if asked)."""
    i = payout_item
    for chunk in _chunks(sorted(payout_ids)):
        note = sa.literal(prefix) + sa.cast(i.c.payout_id, sa.String) + sa.literal(suffix)
        if with_fulfillment:
            note = (note + sa.literal(" of fulfillment ")
                    + sa.cast(payout.c.fulfillment_id, sa.String))
        select = (sa.select(i.c.obligation_id, sa.literal(before), sa.literal(after),
                            sa.literal(actor), note, i.c.payout_id,
                            sa.literal(now, tables.UTCDateTime))
                  .join(payout, payout.c.id == i.c.payout_id).where(i.c.payout_id.in_(chunk)))
        conn.execute(audit.insert().from_select(
            ["obligation_id", "from_status", "to_status", "actor", "reason", "payout_id", "at"],
            select))


PayoutState = tuple[int, str, int]
"""(payout id, status, fulfillment id)"""


def lock_payout(conn: Connection, payout_id: int) -> PayoutState | None:
    query = _locked(conn, sa.select(payout.c.id, payout.c.status, payout.c.fulfillment_id)
                    .where(payout.c.id == payout_id))
    row = conn.execute(query).first()
    return None if row is None else (row[0], row[1], row[2])


def payout_fulfillment(conn: Connection, payout_id: int) -> int | None:
    query = sa.select(payout.c.fulfillment_id).where(payout.c.id == payout_id)
    return cast(int | None, conn.execute(query).scalar_one_or_none())


def lock_fulfillment(conn: Connection, fulfillment_id: int) -> str | None:
    query = _locked(conn, sa.select(fulfillment.c.status)
                    .where(fulfillment.c.id == fulfillment_id))
    return cast(str | None, conn.execute(query).scalar_one_or_none())


def open_payouts_of(conn: Connection, fulfillment_id: int) -> list[PayoutState]:
    query = _locked(conn, sa.select(payout.c.id, payout.c.status, payout.c.fulfillment_id)
                    .where(payout.c.fulfillment_id == fulfillment_id,
                           payout.c.status.in_(OPEN_PAYOUT_STATUSES))
                    .order_by(payout.c.id))
    return [(r[0], r[1], r[2]) for r in conn.execute(query)]


def open_items(conn: Connection, payout_ids: Sequence[int]) -> dict[int, list[int]]:
    """payout id → obligation ids of its open items, by obligation id."""
    found: dict[int, list[int]] = {key: [] for key in payout_ids}
    for chunk in _chunks(sorted(payout_ids)):
        query = (sa.select(payout_item.c.payout_id, payout_item.c.obligation_id)
                 .where(payout_item.c.payout_id.in_(chunk), payout_item.c.is_open)
                 .order_by(payout_item.c.obligation_id))
        for key, item in conn.execute(query):
            found[key].append(item)
    return found


def set_payout_status(conn: Connection, payout_ids: Sequence[int], status: str,
                      now: datetime, *, reference: str | None = None,
                      reason: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if reference is not None:
        values["reference"] = reference
    if reason is not None:
        values["reason"] = reason
    for chunk in _chunks(sorted(payout_ids)):
        conn.execute(payout.update().where(payout.c.id.in_(chunk)).values(**values))


def settle_payout_items(conn: Connection, payout_ids: Sequence[int], expected: int, *,
                        paid: bool, now: datetime) -> None:
    """Close the payouts' items; paid → their obligations are fulfilled, else released.

    ``expected`` is the number of open items: if fewer obligations are still approved and
    in these payouts, something changed them under the lock and the transaction fails.
    """
    values: dict[str, Any] = ({"status": "fulfilled", "updated_at": now} if paid
                              else {"payout_id": None, "updated_at": now})
    changed = 0
    for chunk in _chunks(sorted(payout_ids)):
        conn.execute(payout_item.update().where(payout_item.c.payout_id.in_(chunk))
                     .values(is_open=False))
        result = conn.execute(obligation.update().where(
            obligation.c.payout_id.in_(chunk), obligation.c.status == "approved"
        ).values(**values))
        changed += result.rowcount
    if changed != expected:
        raise RuntimeError(f"payouts {list(payout_ids)}: their obligations changed under them")


def payout_statuses(conn: Connection, fulfillment_id: int) -> list[str]:
    query = sa.select(payout.c.status).where(payout.c.fulfillment_id == fulfillment_id)
    return [row[0] for row in conn.execute(query)]


def set_fulfillment_status(conn: Connection, fulfillment_id: int, status: str,
                           now: datetime) -> None:
    conn.execute(fulfillment.update().where(fulfillment.c.id == fulfillment_id)
                 .values(status=status, updated_at=now))


def _payouts(conn: Connection, where: Any) -> list[domain.Payout]:
    p = payout
    query = (sa.select(p.c.id, p.c.fulfillment_id, collaborator.c.external_id, p.c.amount,
                       p.c.units, p.c.status, p.c.created_at, p.c.updated_at, p.c.reference,
                       p.c.reason, collaborator.c.email)
             .join(collaborator, collaborator.c.id == p.c.collaborator_id).where(where)
             .order_by(p.c.id))
    rows = list(conn.execute(query))
    items: dict[int, list[int]] = {row[0]: [] for row in rows}
    for chunk in _chunks(list(items)):
        item_query = (sa.select(payout_item.c.payout_id, payout_item.c.obligation_id)
                      .where(payout_item.c.payout_id.in_(chunk))
                      .order_by(payout_item.c.obligation_id))
        for payout_key, obligation_key in conn.execute(item_query):
            items[payout_key].append(obligation_key)
    return [domain.Payout(id=r[0], fulfillment_id=r[1], collaborator=r[2], amount=r[3],
                          units=r[4], status=r[5], obligation_ids=tuple(items[r[0]]),
                          created_at=r[6], updated_at=r[7], reference=r[8], reason=r[9],
                          collaborator_email=r[10]) for r in rows]


def get_payout(conn: Connection, payout_id: int) -> domain.Payout | None:
    found = _payouts(conn, payout.c.id == payout_id)
    return found[0] if found else None


def payouts_by_id(conn: Connection, payout_ids: Sequence[int]) -> list[domain.Payout]:
    found: list[domain.Payout] = []
    for chunk in _chunks(sorted(set(payout_ids))):
        found.extend(_payouts(conn, payout.c.id.in_(chunk)))
    return found


def list_payouts(conn: Connection, *, fulfillment_id: int | None = None,
                 status: str | None = None) -> list[domain.Payout]:
    where: Any = sa.true()
    if fulfillment_id is not None:
        where = sa.and_(where, payout.c.fulfillment_id == fulfillment_id)
    if status is not None:
        where = sa.and_(where, payout.c.status == status)
    return _payouts(conn, where)


def _fulfillments(conn: Connection, where: Any, *, with_payouts: bool
                  ) -> list[domain.Fulfillment]:
    f = fulfillment
    query = (sa.select(f.c.id, f.c.status, f.c.actor, f.c.created_at, f.c.updated_at)
             .where(where).order_by(f.c.id))
    rows = list(conn.execute(query))
    by_fulfillment: dict[int, list[domain.Payout]] = {row[0]: [] for row in rows}
    if with_payouts and rows:
        for chunk in _chunks(list(by_fulfillment)):
            for value in _payouts(conn, payout.c.fulfillment_id.in_(chunk)):
                by_fulfillment[value.fulfillment_id].append(value)
    return [domain.Fulfillment(id=r[0], status=r[1], actor=r[2], created_at=r[3],
                               updated_at=r[4], payouts=tuple(by_fulfillment[r[0]]))
            for r in rows]


def get_fulfillment(conn: Connection, fulfillment_id: int) -> domain.Fulfillment | None:
    found = _fulfillments(conn, fulfillment.c.id == fulfillment_id, with_payouts=True)
    return found[0] if found else None


def list_fulfillments(conn: Connection, *, status: str | None = None
                      ) -> list[domain.Fulfillment]:
    where: Any = sa.true() if status is None else fulfillment.c.status == status
    return _fulfillments(conn, where, with_payouts=True)


# -- reconciliation --------------------------------------------------------------------

def fulfilled_totals(conn: Connection) -> dict[str, int]:
    """Sum of fulfilled obligations per currency."""
    return sums_by(conn, obligation.c.units, obligation.c.amount,
                   obligation.c.status == "fulfilled")


def paid_totals(conn: Connection) -> dict[str, int]:
    """Sum of paid payouts per currency."""
    return sums_by(conn, payout.c.units, payout.c.amount, payout.c.status == "paid")


def collaborator_key(conn: Connection, external_id: str) -> int | None:
    query = sa.select(collaborator.c.id).where(collaborator.c.external_id == external_id)
    return cast(int | None, conn.execute(query).scalar_one_or_none())
