"""Schema migrations: from nothing, and from the previous schema, with data kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from siren_core import Kernel, store
from siren_core.cli import cli
from siren_core.store import migrate
from siren_core.store.tables import metadata
from siren_core.verify import verify


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return [d for d in compare_metadata(context, metadata)
                if not (isinstance(d, tuple) and d[0] in {"add_fk", "remove_fk"})]


def test_the_revisions_from_nothing_give_exactly_the_models(database_url: str) -> None:
    engine = store.open_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "head")
    assert _differences(engine) == []
    assert migrate.current(engine) == migrate.head()
    engine.dispose()


def test_a_new_store_is_created_from_the_models_and_stamped(database_url: str) -> None:
    with Kernel(database_url) as kernel:
        assert migrate.current(kernel.engine) == migrate.head()
        assert _differences(kernel.engine) == []


PARTIAL = {("payout_item", "ux_payout_item_open_obligation"): "is_open",
           ("collaborator_group", "ux_collaborator_group_live_id"): "active"}


def _partial_clauses(engine: sa.Engine) -> dict[tuple[str, str], str]:
    """The reflected ``WHERE`` of each of the store's partial indexes."""
    option = f"{engine.dialect.name}_where"
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        return {(table, index["name"]): str(index.get("dialect_options", {}).get(option))
                for table, _name in PARTIAL for index in inspector.get_indexes(table)
                if (table, index["name"]) in PARTIAL}


@pytest.mark.parametrize("made_by", ["models", "revisions"])
def test_the_partial_indexes_are_partial_on_each_store(database_url: str,
                                                       made_by: str) -> None:
    """The models name a partial index's clause for no dialect in particular (a SQLite
    process does not load PostgreSQL's dialect): each store's DDL still makes it partial."""
    engine = store.open_engine(database_url)
    if made_by == "models":
        migrate.upgrade(engine)
    else:
        with engine.begin() as connection:
            command.upgrade(migrate.alembic_config(connection), "head")
    clauses = _partial_clauses(engine)
    engine.dispose()
    assert clauses.keys() == PARTIAL.keys()
    assert all(word in clauses[key] for key, word in PARTIAL.items()), clauses


def _old_store(engine: sa.Engine) -> None:
    """A store at the first revision, with what the first release would have written."""
    now = datetime(2026, 1, 20, tzinfo=UTC).replace(tzinfo=None)
    config = {"id": "bonus", "name": "Bonus", "units": "USD", "timezone": "UTC",
              "start": "2026-01-01", "schedule": "monthly",
              "pool": {"resolver": "fixed", "amount": "10.00"},
              "calculator": {"id": "proportional"},
              "metrics": [{"type": "sale", "points": 1, "value": "points",
                           "credit": {"rule": "fixed"}}],
              "description": "", "status": "active", "eligibility": "all_active",
              "catch_up_limit": None}
    with engine.begin() as connection:
        command.upgrade(migrate.alembic_config(connection), "0001_initial")
        run = connection.execute
        run(sa.text("INSERT INTO collaborator (id, external_id, name, status, created_at, "
                    "updated_at) VALUES (1, 'ann', 'Ann', 'active', :t, :t)"), {"t": now})
        run(sa.text("INSERT INTO distributor (id, external_id, name, units, status, config, "
                    "config_version, created_at, updated_at) VALUES (1, 'bonus', 'Bonus', "
                    "'USD', 'active', :c, 1, :t, :t)"), {"c": json.dumps(config), "t": now})
        run(sa.text("INSERT INTO distributor_config (distributor_id, version, config, "
                    "created_at) VALUES (1, 1, :c, :t)"), {"c": json.dumps(config), "t": now})
        run(sa.text("INSERT INTO distribution (distributor_id, period_index, period_start, "
                    "period_end, status) VALUES (1, 0, :s, :e, 'open')"),
            {"s": datetime(2026, 1, 1), "e": datetime(2026, 2, 1)})
        run(sa.text("INSERT INTO source_event (id, kind, key, occurred_at, recorded_at, "
                    "collaborator_id, amount, currency, digest, payload) VALUES (1, 'sale', "
                    "'o-1', :t, :t, 1, 500, 'USD', 'x', '{}')"), {"t": now})
        run(sa.text("INSERT INTO score_credit (distributor_id, source_event_id, collaborator_id,"
                    " metric_type, rule, layer, points, revenue, effective_at, late) VALUES "
                    "(1, 1, 1, 'sale', 'fixed', 0, 1, 0, :t, false)"), {"t": now})


def test_a_store_of_the_previous_schema_is_upgraded_keeping_its_data(database_url: str) -> None:
    engine = store.open_engine(database_url)
    _old_store(engine)
    assert migrate.current(engine) == "0001_initial"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database", database_url])
    assert result.exit_code == 0, result.output
    assert migrate.current(engine) == migrate.head()
    assert _differences(engine) == []
    engine.dispose()
    with Kernel(database_url) as kernel:
        (completed,) = kernel.heartbeat(datetime(2026, 2, 1, tzinfo=UTC)).completed
        assert [(a.collaborator, a.amount) for a in kernel.allocations(completed.id)] == [
            ("ann", 1000)]
        (obligation,) = kernel.obligations()
        assert obligation.payout_id is None


def test_the_upgrade_copies_each_hold_period_out_of_its_configuration(
        database_url: str) -> None:
    """Revision 0005 keeps ``hold_days`` beside the configuration: an old store's held
    obligations are still approved once their hold period ends."""
    engine = store.open_engine(database_url)
    _old_store(engine)
    with engine.begin() as connection:
        config = connection.execute(sa.text("SELECT config FROM distributor")).scalar_one()
        held = {**(json.loads(config) if isinstance(config, str) else config), "hold_days": 3}
        connection.execute(sa.text("UPDATE distributor SET config = :c"),
                           {"c": json.dumps(held)})
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT hold_days FROM distributor")).all() == [(3,)]
    engine.dispose()
    with Kernel(database_url) as kernel:
        kernel.heartbeat(datetime(2026, 2, 1, tzinfo=UTC))
        assert kernel.heartbeat(datetime(2026, 2, 3, tzinfo=UTC)).approved_obligations == ()
        (approved,) = kernel.heartbeat(datetime(2026, 2, 4, tzinfo=UTC)).approved_obligations
        assert kernel.obligation(approved).status == "approved"


def test_events_recorded_before_credit_accounting_are_not_held_to_it(
        database_url: str) -> None:
    """Revision 0003 introduced credit_skip: an organic sale recorded before it (no credit,
    no skip row) is not an unaccounted event; one recorded after it is accounted for."""
    engine = store.open_engine(database_url)
    _old_store(engine)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO source_event (id, kind, key, occurred_at, recorded_at, "
            "collaborator_id, amount, currency, digest, payload) VALUES (2, 'sale', 'o-2', :t, "
            ":t, NULL, 700, 'USD', 'y', :p)"),
            {"t": datetime(2026, 1, 21), "p": json.dumps(
                {"id": "o-2", "at": "2026-01-21T00:00:00Z", "amount": "7.00",
                 "currency": "USD"})})
        if engine.dialect.name == "postgresql":  # the rows above were given their ids
            connection.execute(sa.text(
                "SELECT setval(pg_get_serial_sequence('source_event', 'id'), 2)"))
    engine.dispose()
    with Kernel(database_url) as kernel:
        assert verify(kernel) == []
        kernel.record("sale", {"id": "o-3", "at": "2026-01-22T00:00:00Z", "amount": "7.00",
                               "currency": "USD"})
        assert verify(kernel) == []


def test_a_store_made_before_migrations_existed_is_recognised(database_url: str) -> None:
    engine = store.open_engine(database_url)
    metadata.create_all(engine)  # what the first builds did, with no version table
    with Kernel(database_url) as kernel:
        assert migrate.current(kernel.engine) == migrate.head()
    engine.dispose()


def test_db_current_reports_the_revision(database_url: str) -> None:
    store.create_schema(store.open_engine(database_url))
    result = CliRunner().invoke(cli, ["db", "current", "--database", database_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"current": migrate.head(), "head": migrate.head()}


def test_an_unrecognisable_store_is_refused(tmp_path: object) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/odd.db")  # type: ignore[str-bytes-safe]
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE collaborator (id INTEGER PRIMARY KEY)")
    with pytest.raises(Exception, match="no schema version"):
        migrate.upgrade(engine)
