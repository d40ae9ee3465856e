"""The distribution runner's statements, tuned for large periods: a period's scores and
revenue (``GROUP BY``, exact past 64 bits), its allocations and obligations, the due list.

Allocations are written in one driver-level bulk operation of plain tuples (``COPY`` on
PostgreSQL, multi-row ``INSERT`` on SQLite: no per-row dictionaries or SQLAlchemy parameter
processing), inside the unit of work's transaction; obligations and their audit entries
are written set-based inside the database. Nothing is read back unless a listener wants
the allocation ids. The statements that run for every period are built once.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siren_core import domain
from siren_core.store import queries
from siren_core.store.engine import is_sqlite
from siren_core.store.queries import (
    allocation,
    collaborator,
    distribution,
    distributor,
    score_credit,
    sqlite_overflowed,
    sums_by,
)
from siren_core.store.tables import UTCDateTime

ScoreRow = tuple[int, str, int, int]
"""(collaborator store id, external id, active: 1 or 0, points): a row of the scores'
statement. The status comes as a flag: a small int is shared, a status text is not."""


@attrs.frozen
class PeriodScores:
    """A period's positive scores, held compactly: the calculator's mapping itself and the
    store ids beside it in an ``array``, no row tuples (a row of four is 88 bytes more per
    collaborator than its name and points; a store id in the array, 8 bytes, not 32)."""

    eligible: dict[str, int]
    """The active collaborators' points by external id, in the store's order of ids."""
    keys: array[int]
    """Their collaborator store ids, in the same order."""
    scored: int
    """How many collaborators scored above zero, active or not."""
    beyond: tuple[str, int] | None
    """The first collaborator whose score the store cannot keep (past 2**63 - 1) and it."""

    @classmethod
    def of(cls, rows: Iterable[ScoreRow]) -> PeriodScores:
        """The scores of ``rows``, each dropped as soon as it is read."""
        eligible: dict[str, int] = {}
        keys = array("q")
        append, scored, beyond = keys.append, 0, None
        for key, name, active, points in rows:
            scored += 1
            if points > domain.STORABLE_MAX and beyond is None:
                beyond = (name, points)
            if active:
                eligible[name] = points
                append(key)
        return cls(eligible, keys, scored, beyond)


def _window(distributor_key: int, start: datetime, end: datetime
            ) -> list[sa.ColumnElement[bool]]:
    c = score_credit
    return [c.c.distributor_id == distributor_key, c.c.effective_at >= start,
            c.c.effective_at < end]


_SCORES = (
    "SELECT c.id, c.external_id, CASE WHEN c.status = 'active' THEN 1 ELSE 0 END,"
    " t.points FROM collaborator c JOIN ("
    "SELECT collaborator_id, sum(points) AS points FROM score_credit"
    " WHERE distributor_id = ? AND effective_at >= ? AND effective_at < ?"
    " AND collaborator_id IS NOT NULL GROUP BY collaborator_id HAVING sum(points) > 0"
    ") t ON t.collaborator_id = c.id ORDER BY c.external_id")


def period_scores(conn: Connection, distributor_key: int, start: datetime,
                  end: datetime) -> PeriodScores:
    """Every collaborator's net points in ``[start, end)``, above zero only: one
    statement, read from the covering ``ix_score_credit_window``, straight through the
    driver, row by row into :class:`PeriodScores` (no list of the rows beside it).

    A total may exceed 2**63 - 1 (the caller refuses to store it)."""
    parameters = (distributor_key, queries.store_time(conn, start),
                  queries.store_time(conn, end))
    try:
        with queries.driver_cursor(conn, queries.marks(conn, _SCORES), parameters,
                                   whole_numerics=True) as rows:
            if is_sqlite(conn):
                scores = PeriodScores.of(rows)
            elif queries.reads_whole_numerics(conn):  # ints already
                return PeriodScores.of(rows)
            else:  # NUMERIC: exact past 64 bits
                return PeriodScores.of((r[0], r[1], r[2], int(r[3])) for r in rows)
    except sa.exc.OperationalError as exc:
        if not sqlite_overflowed(exc):
            raise
        return PeriodScores.of(_period_scores_in_python(conn, distributor_key, start, end))
    # The pages the aggregate read are not needed for the split, the period's peak: SQLite
    # gives its page cache back (the writes after it read what they need again).
    conn.connection.cursor().execute("PRAGMA shrink_memory").close()
    return scores


def _period_scores_in_python(conn: Connection, distributor_key: int, start: datetime,
                             end: datetime) -> list[ScoreRow]:
    c = score_credit
    where = sa.and_(*_window(distributor_key, start, end), c.c.collaborator_id.is_not(None))
    totals = {key: points for key, points
              in sums_by(conn, c.c.collaborator_id, c.c.points, where).items() if points > 0}
    query = (sa.select(collaborator.c.id, collaborator.c.external_id, collaborator.c.status)
             .where(collaborator.c.id.in_(sa.bindparam("keys", expanding=True))))
    rows: list[ScoreRow] = []
    keys = sorted(totals)
    for first in range(0, len(keys), 500):
        rows.extend((r[0], r[1], int(r[2] == "active"), totals[r[0]])
                    for r in conn.execute(query, {"keys": keys[first:first + 500]}))
    return sorted(rows, key=lambda row: row[1])


def period_revenue(conn: Connection, distributor_key: int, start: datetime,
                   end: datetime) -> int:
    """The net qualifying revenue in ``[start, end)``; it may lie outside 64 bits."""
    c = score_credit
    where = sa.and_(*_window(distributor_key, start, end))
    query = sa.select(sa.func.coalesce(sa.func.sum(c.c.revenue), 0)).where(where)
    try:
        return int(conn.execute(query).scalar_one())
    except sa.exc.OperationalError as exc:
        if not sqlite_overflowed(exc):
            raise
    return sum(amount or 0 for (amount,) in conn.execute(sa.select(c.c.revenue).where(where)))


def late_credits(conn: Connection, distributor_key: int, start: datetime,
                 end: datetime) -> int:
    """The ``score_credit`` rows in ``[start, end)`` marked late: counted here because
    the period of their event was already distributed."""
    c = score_credit
    query = sa.select(sa.func.count()).where(*_window(distributor_key, start, end),
                                             c.c.late.is_(True))
    return int(conn.execute(query).scalar_one())


_ISSUE = (
    "INSERT INTO obligation (collaborator_id, amount, units, status, award_type, source,"
    " source_id, created_at, updated_at) SELECT collaborator_id, amount, ?, 'pending',"
    " 'distribution', 'allocation', id, ?, ? FROM allocation WHERE distribution_id = ?")
_AUDIT = ("INSERT INTO obligation_audit (obligation_id, from_status, to_status, actor, reason,"
          " at) SELECT {id}, NULL, 'pending', ?, 'issued for an allocation', ? FROM {source}")
# One statement: the audit rows come straight from the inserted obligations (no join back
# to the allocations, which PostgreSQL planned as a nested loop over the whole obligation
# table when its statistics said "empty").
_ISSUE_POSTGRESQL = (f"WITH issued AS ({_ISSUE} RETURNING id) "
                     + _AUDIT.format(id="id", source="issued"))
_AUDIT_SQLITE = _AUDIT.format(id="o.id", source=(
    # CROSS JOIN fixes the loop order: this distribution's allocations, then each one's
    # obligation by the unique (source, source_id) index.
    "allocation a CROSS JOIN obligation o ON o.source = 'allocation'"
    " AND o.source_id = a.id WHERE a.distribution_id = ?"))


def issue_obligations_for(conn: Connection, distribution_id: int, units: str,
                          now: datetime) -> None:
    """One pending obligation per allocation of the distribution and its ``issued`` audit
    entry, set-based inside the database, straight through the driver (nothing comes back
    to Python)."""
    at, actor = queries.store_time(conn, now), f"distribution #{distribution_id}"
    if is_sqlite(conn):
        queries.driver_rows(conn, _ISSUE, (units, at, at, distribution_id))
        queries.driver_rows(conn, _AUDIT_SQLITE, (actor, at, distribution_id))
    else:
        queries.driver_rows(conn, queries.marks(conn, _ISSUE_POSTGRESQL),
                            (units, at, at, distribution_id, actor, at))


def list_allocations(conn: Connection, distribution_id: int | None = None
                     ) -> list[domain.Allocation]:
    a, d = allocation, distribution
    query = (sa.select(a.c.id, a.c.distribution_id, distributor.c.external_id,
                       collaborator.c.external_id, a.c.score, a.c.amount, d.c.units,
                       d.c.pool, d.c.calculator, d.c.config_version)
             .join(d, d.c.id == a.c.distribution_id)
             .join(distributor, distributor.c.id == d.c.distributor_id)
             .join(collaborator, collaborator.c.id == a.c.collaborator_id)
             .order_by(a.c.distribution_id, collaborator.c.external_id))
    if distribution_id is not None:
        query = query.where(a.c.distribution_id == distribution_id)
    return [domain.Allocation(
        id=r[0], distribution_id=r[1], distributor=r[2], collaborator=r[3], score=r[4],
        amount=r[5], units=r[6], pool=r[7], calculator=r[8], config_version=r[9])
        for r in conn.execute(query)]


def insert_allocations(conn: Connection, distribution_id: int,
                       rows: Sequence[tuple[int, Any, int, int]]) -> None:
    """Allocations from ``rows`` of (collaborator store id, …, score, amount), in one
    bulk operation (``COPY`` on PostgreSQL, multi-row ``INSERT`` on SQLite) whose rows are
    built as they are written: no list of every allocation's values beside ``rows``."""
    if not rows:
        return
    columns = ("distribution_id", "collaborator_id", "score", "amount")
    if not is_sqlite(conn):
        tuples = ((distribution_id, key, score, amount) for key, _name, score, amount in rows)
        if conn.dialect.driver == "psycopg":
            queries.copy_rows(conn, "allocation", columns, tuples)
        else:
            queries.driver_many(conn, f"INSERT INTO allocation ({', '.join(columns)})"
                                " VALUES (%s, %s, %s, %s)", tuples)
        return
    per = _ALLOCATIONS_PER_STATEMENT
    into = f"INSERT INTO allocation ({', '.join(columns)}) VALUES "
    whole = len(rows) - len(rows) % per

    def values(first: int, last: int) -> list[Any]:
        flat: list[Any] = []
        for key, _name, score, amount in rows[first:last]:
            flat += (distribution_id, key, score, amount)
        return flat
    if whole:
        queries.driver_many(conn, into + ", ".join(["(?, ?, ?, ?)"] * per),
                            (values(first, first + per) for first in range(0, whole, per)))
    if whole < len(rows):
        queries.driver_rows(conn, into + ", ".join(["(?, ?, ?, ?)"] * (len(rows) - whole)),
                            values(whole, len(rows)))


_ALLOCATIONS_PER_STATEMENT = 200  # 800 parameters a statement: SQLite allows 32,766


def allocation_ids(conn: Connection, distribution_id: int) -> dict[int, int]:
    """collaborator store id → allocation id, for one distribution."""
    a = allocation
    query = sa.select(a.c.collaborator_id, a.c.id).where(a.c.distribution_id == distribution_id)
    return {row[0]: row[1] for row in conn.execute(query)}


def _due_statement() -> sa.Select[Any]:
    d, r = distribution, distributor
    return (sa.select(d.c.id, d.c.distributor_id)
            .join(r, r.c.id == d.c.distributor_id)
            .where(d.c.status == "open", d.c.period_end <= sa.bindparam("now", type_=UTCDateTime),
                   r.c.status == "active")
            .order_by(d.c.period_end, d.c.id))


_DUE = _due_statement()


def due_distributions(conn: Connection, now: datetime) -> list[tuple[int, int]]:
    """(id, distributor store id) of the open periods of active distributors that ended at
    or before ``now``, oldest first: one indexed query, built once (an idle heartbeat runs
    nothing else)."""
    return [(int(row[0]), int(row[1])) for row in conn.execute(_DUE, {"now": now})]


def _claim_statements() -> dict[tuple[bool, bool], sa.Select[Any]]:
    """The claim, built once: (with excluded distributors, locking rows) → statement."""
    d, r = distribution, distributor
    query = (sa.select(*queries.claimed_columns())
             .join(r, r.c.id == d.c.distributor_id)
             .where(d.c.status == "open",
                    d.c.period_end <= sa.bindparam("now", type_=UTCDateTime),
                    r.c.status == "active")
             .order_by(d.c.period_end, d.c.id).limit(1))
    without = query.where(d.c.distributor_id.not_in(sa.bindparam("excluded", expanding=True)))
    return {(excluding, locking): (statement.with_for_update(of=d, skip_locked=True)
                                   if locking else statement)
            for excluding, statement in ((False, query), (True, without))
            for locking in (False, True)}


_CLAIMS = _claim_statements()


def claim_next(conn: Connection, now: datetime,
               excluded: set[int]) -> queries.ClaimedRow | None:
    """Claim the oldest due period no other transaction holds (its distributor not in
    ``excluded``), or ``None``; with what distributing it needs (its carried-in pool, its
    distributor's version), read by the same statement.

    On PostgreSQL the row is locked ``FOR UPDATE SKIP LOCKED``: several workers each take
    the next free period, like a job queue, instead of queueing behind each other. On
    SQLite the write transaction already holds the database lock.
    """
    statement = _CLAIMS[bool(excluded), not is_sqlite(conn)]
    row = conn.execute(statement, {"now": now, "excluded": sorted(excluded)}).first()
    return None if row is None else queries.claimed_row(row)


def still_open(conn: Connection, distribution_ids: list[int]) -> list[int]:
    """Those of ``distribution_ids`` that are still open, in the given order."""
    found: set[int] = set()
    for start in range(0, len(distribution_ids), 500):
        chunk = distribution_ids[start:start + 500]
        found.update(conn.execute(sa.select(distribution.c.id).where(
            distribution.c.id.in_(chunk), distribution.c.status == "open")).scalars())
    return [key for key in distribution_ids if key in found]


def open_period_for_update(conn: Connection,
                           distributor_key: int) -> tuple[int, datetime, str] | None:
    """(id, start, units) of the distributor's open period, locked ``FOR UPDATE`` on
    PostgreSQL (a heartbeat claiming it, or an ingestion crediting it, waits)."""
    d = distribution.c
    query = sa.select(d.id, d.period_start, d.units).where(
        d.distributor_id == distributor_key, d.status == "open")
    if not is_sqlite(conn):
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else (row[0], row[1], row[2])


def carried_in(conn: Connection, distribution_id: int) -> int:
    """What a period carries in from the periods before it (``unallocated``)."""
    query = sa.select(distribution.c.carried_in).where(distribution.c.id == distribution_id)
    return int(conn.execute(query).scalar_one())


def holds_credits_from(conn: Connection, distributor_key: int, start: datetime) -> bool:
    """Whether any credit (points or revenue) of the distributor counts at or after
    ``start``: in its open period, or in a later one."""
    c = score_credit.c
    query = sa.select(sa.exists().where(c.distributor_id == distributor_key,
                                        c.effective_at >= start))
    return bool(conn.execute(query).scalar())


def distributor_units(conn: Connection, distributor_key: int) -> str:
    query = sa.select(distributor.c.units).where(distributor.c.id == distributor_key)
    return str(conn.execute(query).scalar_one())


def change_units(conn: Connection, distributor_key: int, distribution_id: int | None,
                 units: str) -> None:
    """The distributor's units, and its (empty) open period's."""
    queries.raise_distributor_stamp(conn)
    conn.execute(distributor.update().where(distributor.c.id == distributor_key)
                 .values(units=units))
    if distribution_id is not None:
        conn.execute(distribution.update().where(distribution.c.id == distribution_id)
                     .values(units=units))


# -- what a calculator may read, on demand (records.AllocationContext) -----------------

CreditRow = tuple[datetime, str, str, int, str, str, bool]
"""(counts at, collaborator external id, metric type, points, event kind, event key, late)"""


def period_credits(conn: Connection, distributor_key: int, start: datetime,
                   end: datetime) -> list[CreditRow]:
    """The credits of active collaborators in ``[start, end)``, oldest first."""
    c, e = score_credit, queries.source_event
    query = (sa.select(c.c.effective_at, collaborator.c.external_id, c.c.metric_type,
                       c.c.points, e.c.kind, e.c.key, c.c.late)
             .join(collaborator, collaborator.c.id == c.c.collaborator_id)
             .join(e, e.c.id == c.c.source_event_id)
             .where(*_window(distributor_key, start, end), collaborator.c.status == "active")
             .order_by(c.c.effective_at, c.c.id))
    return [(r[0], r[1], r[2], int(r[3]), r[4], r[5], bool(r[6])) for r in conn.execute(query)]


def _grouped_sums(conn: Connection, keys: Sequence[sa.ColumnElement[Any]],
                  query: sa.Select[Any], value: sa.ColumnElement[Any]
                  ) -> dict[tuple[Any, ...], int]:
    """``SUM(value)`` of ``query``'s rows grouped by ``keys``, exact at any size."""
    try:
        return {tuple(row[:-1]): int(row[-1]) for row in conn.execute(
            query.add_columns(sa.func.sum(value)).group_by(*keys))}
    except sa.exc.OperationalError as exc:
        if not sqlite_overflowed(exc):
            raise
    totals: dict[tuple[Any, ...], int] = {}
    for row in conn.execute(query.add_columns(value)):
        group = tuple(row[:-1])
        totals[group] = totals.get(group, 0) + int(row[-1])
    return totals


def period_scores_by_metric(conn: Connection, distributor_key: int, start: datetime,
                            end: datetime) -> dict[str, dict[str, int]]:
    """Active collaborator external id → metric type → net points in ``[start, end)``."""
    c = score_credit
    keys = (collaborator.c.external_id, c.c.metric_type)
    query = (sa.select(*keys).join(collaborator, collaborator.c.id == c.c.collaborator_id)
             .where(*_window(distributor_key, start, end), collaborator.c.status == "active"))
    found: dict[str, dict[str, int]] = {}
    for (name, metric_type), points in sorted(_grouped_sums(conn, keys, query, c.c.points)
                                              .items()):
        found.setdefault(name, {})[metric_type] = points
    return found


PastPeriodRow = tuple[int, int, datetime, datetime, int]
"""(distribution id, period index, start, end, pool)"""


def past_periods(conn: Connection, distributor_key: int) -> list[PastPeriodRow]:
    """The distributor's completed periods, oldest first."""
    d = distribution.c
    query = (sa.select(d.id, d.period_index, d.period_start, d.period_end, d.pool)
             .where(d.distributor_id == distributor_key, d.status == "completed")
             .order_by(d.period_index))
    return [(r[0], r[1], r[2], r[3], int(r[4] or 0)) for r in conn.execute(query)]


def past_scores(conn: Connection, distributor_key: int) -> dict[int, dict[str, int]]:
    """distribution id → collaborator external id → net points above zero, for every
    completed period of the distributor (whatever the collaborators' status)."""
    c, d = score_credit, distribution
    keys = (d.c.id, collaborator.c.external_id)
    query = (sa.select(*keys)
             .join(d, sa.and_(d.c.distributor_id == c.c.distributor_id,
                              d.c.status == "completed", c.c.effective_at >= d.c.period_start,
                              c.c.effective_at < d.c.period_end))
             .join(collaborator, collaborator.c.id == c.c.collaborator_id)
             .where(c.c.distributor_id == distributor_key))
    found: dict[int, dict[str, int]] = {}
    for (key, name), points in sorted(_grouped_sums(conn, keys, query, c.c.points).items()):
        if points > 0:
            found.setdefault(key, {})[name] = points
    return found


def past_amounts(conn: Connection, distributor_key: int) -> dict[int, dict[str, int]]:
    """distribution id → collaborator external id → amount allocated, for every completed
    period of the distributor."""
    a, d = allocation, distribution
    query = (sa.select(d.c.id, collaborator.c.external_id, a.c.amount)
             .join(d, d.c.id == a.c.distribution_id)
             .join(collaborator, collaborator.c.id == a.c.collaborator_id)
             .where(d.c.distributor_id == distributor_key, d.c.status == "completed")
             .order_by(d.c.id, collaborator.c.external_id))
    found: dict[int, dict[str, int]] = {}
    for key, name, amount in conn.execute(query):
        found.setdefault(key, {})[name] = int(amount)
    return found
