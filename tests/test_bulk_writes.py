"""The bulk write path of the store: what it stores, and how SQLite runs its look-ups.

``insert_many`` bypasses SQLAlchemy's per-row parameter processing (multi-row ``VALUES``
on SQLite, ``COPY`` on PostgreSQL) and the look-ups go straight through the driver: the
rows must still come out exactly as SQLAlchemy's own ``INSERT`` stores them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core import store
from siren_core.store import metrics_queries as mq
from siren_core.store import queries
from siren_core.store.queries import collaborator, distributor, score_credit, source_event
from siren_core.store.tables import UTCDateTime

ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]


def _sources(count: int) -> list[dict[str, Any]]:
    first = datetime(2026, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    return [{"id": n + 1, "kind": "sale", "key": f"o-{n}", "recorded_at": first,
             "occurred_at": (first + timedelta(seconds=n * 7919, microseconds=n)
                             ).astimezone(ZONES[n % 3]),
             "collaborator_id": None, "amount": n * 1001 if n % 4 else None,
             "currency": "USD" if n % 4 else None, "digest": f"{n:064x}",
             "payload": f'{{"id":"o-{n}","note":"é \\u0000 \'"}}'} for n in range(count)]


def _stored(conn: sa.Connection, table: sa.Table) -> list[tuple[Any, ...]]:
    """The rows as the driver reads them back (on SQLite: the stored text)."""
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    return [tuple(row) for row in
            conn.exec_driver_sql(f"SELECT {columns} FROM {table.name} ORDER BY id")]


@pytest.mark.parametrize("count", [1, 199, 200, 401, 1000])
def test_insert_many_stores_what_sqlalchemy_stores(database_url: str, count: int) -> None:
    engine = store.open_engine(database_url)
    store.create_schema(engine)
    rows = _sources(count)
    with store.unit_of_work(engine) as conn:
        conn.execute(source_event.insert(), rows)
        expected = _stored(conn, source_event)
        conn.execute(source_event.delete())
        mq.insert_many(conn, source_event, rows)
        assert _stored(conn, source_event) == expected
    engine.dispose()


def test_a_duplicate_key_is_sqlalchemys_integrity_error(database_url: str) -> None:
    engine = store.open_engine(database_url)
    store.create_schema(engine)
    rows = _sources(3)
    with pytest.raises(sa.exc.IntegrityError), store.unit_of_work(engine) as conn:
        mq.insert_many(conn, source_event, [*rows, {**rows[0], "id": 99}])
    with store.unit_of_work(engine) as conn:  # nothing of the failed batch stayed
        assert _stored(conn, source_event) == []
    engine.dispose()


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                           timezones=st.sampled_from(ZONES)))
def test_the_sqlite_time_shortcut_is_the_processor_chain(moment: datetime) -> None:
    dialect = sa.create_engine("sqlite://").dialect
    chain = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert chain is not None
    assert mq._sqlite_utc_text(chain)(moment) == chain(moment)


def test_the_sqlite_time_shortcut_still_refuses_naive_times() -> None:
    dialect = sa.create_engine("sqlite://").dialect
    chain = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert chain is not None
    with pytest.raises(ValueError, match="naive datetime"):
        mq._sqlite_utc_text(chain)(datetime(2026, 1, 5))


def test_sqlite_look_ups_probe_the_index_for_each_value(tmp_path: Any) -> None:
    """The values drive the loop: a plan scanning the table by ``kind`` instead made
    every batch read every recorded event (seen once: 20x slower ingestion)."""
    engine = store.open_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    store.create_schema(engine)
    statements: list[str] = []
    with store.unit_of_work(engine) as conn:
        conn.connection.driver_connection.set_trace_callback(statements.append)
        mq.existing_events(conn, "sale", ["o-1", "o-2"])
        queries.collaborator_keys(conn, ["alice", "bob"])
        queries.collaborator_keys(conn, ["alice"])  # a single recording's: one probe
        conn.connection.driver_connection.set_trace_callback(None)
        plans = [" / ".join(row[3] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}")) for statement in statements]
    assert len(plans) == 3
    assert plans[0].startswith("SCAN wanted") and "(kind=? AND key=?)" in plans[0]
    assert plans[1].startswith("SCAN wanted") and "(external_id=?)" in plans[1]
    assert plans[2].startswith("SEARCH collaborator USING INDEX") and "(external_id=?)" in plans[2]
    engine.dispose()


def test_look_ups_find_exactly_the_given_values(database_url: str) -> None:
    engine = store.open_engine(database_url)
    store.create_schema(engine)
    now = datetime(2026, 1, 5, tzinfo=UTC)
    names = ["alice", "bob", 'o"hara', "zoë", "x" * 255]
    with store.unit_of_work(engine) as conn:
        conn.execute(collaborator.insert(), [
            {"external_id": name, "name": name, "status": "active" if n else "inactive",
             "created_at": now, "updated_at": now} for n, name in enumerate(names)])
        found = queries.collaborator_keys(conn, [*names[1:], "nobody", "bob", "ALICE"])
        assert sorted(found) == sorted(names[1:])
        assert {status for _key, status in found.values()} == {"active"}
        assert queries.collaborator_keys(conn, []) == {}
        assert mq.existing_events(conn, "sale", []) == {}
    engine.dispose()


def test_look_ups_of_many_values_are_planned_every_time(database_url: str) -> None:
    """PostgreSQL: a batch's look-ups are never server-side prepared statements (psycopg
    prepares a statement on its sixth run, and PostgreSQL may then reuse a generic plan
    that compares every row with every value of the array), while other statements are."""
    engine = store.open_engine(database_url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        pytest.skip("server-side prepared statements are PostgreSQL's")
    store.create_schema(engine)
    with store.unit_of_work(engine) as conn:
        for run in range(8):
            queries.collaborator_keys(conn, ["alice", f"bob-{run}"])
            mq.existing_events(conn, "sale", ["o-1", f"o-{run}"])
            queries.driver_rows(conn, "SELECT count(*) FROM collaborator", ())
        prepared = [row[0] for row in conn.exec_driver_sql(
            "SELECT statement FROM pg_prepared_statements")]
    assert prepared == ["SELECT count(*) FROM collaborator"]
    engine.dispose()


def test_reserved_ids_are_fresh_and_never_handed_out_twice(database_url: str) -> None:
    """PostgreSQL: two open transactions reserving at once get distinct ids, each in
    ascending order, and an insert left to the database afterwards a later one. SQLite
    (whose writers take turns): the ids after the current maximum."""
    engine = store.open_engine(database_url)
    store.create_schema(engine)
    if engine.dialect.name == "sqlite":
        with store.unit_of_work(engine) as conn:
            mq.insert_many(conn, source_event, _sources(3))  # ids 1-3
            assert mq.reserve_source_event_ids(conn, 0) == []
            assert mq.reserve_source_event_ids(conn, 5) == [4, 5, 6, 7, 8]
        engine.dispose()
        return
    with engine.connect() as first, engine.connect() as second:
        one = mq.reserve_source_event_ids(first, 1000)
        other = mq.reserve_source_event_ids(second, 1000)
        first.commit()
        second.commit()
    assert one is not None and other is not None
    assert len(set(one) | set(other)) == 2000
    assert one == sorted(one) and other == sorted(other)
    with store.unit_of_work(engine) as conn:
        row = {key: value for key, value in _sources(4)[3].items() if key != "id"}
        made = conn.execute(source_event.insert().returning(source_event.c.id), row).scalar()
    assert made is not None and made > max(one + other)
    engine.dispose()


def test_credit_rows_keep_their_values(database_url: str) -> None:
    engine = store.open_engine(database_url)
    store.create_schema(engine)
    sources = _sources(2)
    when = datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=2)))
    credits = [{"distributor_id": 1, "source_event_id": 1, "collaborator_id": None,
                "metric_type": "sale", "rule": "fixed", "layer": layer, "points": 10 * layer,
                "revenue": 2 ** 62, "effective_at": when, "late": bool(layer % 2)}
               for layer in range(3)]
    with store.unit_of_work(engine) as conn:
        conn.execute(distributor.insert(), {
            "id": 1, "external_id": "d", "name": "D", "units": "USD", "config": {},
            "created_at": when, "updated_at": when})
        mq.insert_many(conn, source_event, sources)
        conn.execute(score_credit.insert(), credits)
        expected = _stored(conn, score_credit)
        conn.execute(score_credit.delete())
        mq.insert_many(conn, score_credit, credits)
        assert [row[1:] for row in _stored(conn, score_credit)] == \
            [row[1:] for row in expected]
    engine.dispose()


def test_bulk_writes_use_the_binary_format_only_where_every_value_fits() -> None:
    """A binary ``COPY`` for plain columns whose ``integer`` values fit 32 bits; the text
    format otherwise (a JSON column, or an int psycopg would wrap where the server
    refuses it)."""
    row = (1, 2, None, "sale", "fixed", 0, 2 ** 62, 5, datetime(2026, 1, 5), False)
    columns = ["distributor_id", "source_event_id", "collaborator_id", "metric_type", "rule",
               "layer", "points", "revenue", "effective_at", "late"]
    assert queries.binary_copy_types(score_credit, columns, [row, row]) == [
        "int4", "int4", "int4", "text", "text", "int4", "int8", "int8", "timestamp", "bool"]
    for layer in (2 ** 31, -(2 ** 31) - 1):
        wide = (*row[:5], layer, *row[6:])
        assert queries.binary_copy_types(score_credit, columns, [row, wide]) is None
    assert queries.binary_copy_types(distributor, ["id", "config"], [(1, "{}")]) is None


def test_an_int_too_large_for_its_column_is_refused_not_wrapped(database_url: str) -> None:
    engine = store.open_engine(database_url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        pytest.skip("SQLite's integer columns hold 64 bits")
    store.create_schema(engine)
    when = datetime(2026, 1, 5, tzinfo=UTC)
    with store.unit_of_work(engine) as conn:
        conn.execute(distributor.insert(), {
            "id": 1, "external_id": "d", "name": "D", "units": "USD", "config": {},
            "created_at": when, "updated_at": when})
        mq.insert_many(conn, source_event, _sources(1))
    credit = {"distributor_id": 1, "source_event_id": 1, "collaborator_id": None,
              "metric_type": "sale", "rule": "fixed", "layer": 2 ** 31, "points": 1,
              "revenue": 0, "effective_at": when, "late": False}
    with pytest.raises(sa.exc.DataError, match="out of range"), \
            store.unit_of_work(engine) as conn:
        mq.insert_many(conn, score_credit, [{**credit, "layer": 0}, credit])
    engine.dispose()
