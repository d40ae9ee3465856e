"""Operations that recover and explain (issue 16): read-only commands create nothing, and
a store that cannot be used is one line naming its URL (password masked), exit code 2."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from siren_core import Kernel, store
from siren_core.cli import cli
from siren_core.store import migrate

from conftest import at, monthly, sale

READ_ONLY = [
    ["distributions"], ["allocations", "1"], ["preview", "monthly-bonus"],
    ["obligations", "list"], ["obligations", "show", "1"], ["doctor"], ["db", "current"],
    ["fulfill", "list"], ["fulfill", "show", "1"], ["export"], ["collaborators"],
    ["distributors"], ["credits", "alice"],
]


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database: "), result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_mistyped_sqlite_path_is_refused_and_no_file_is_created(
        tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "sirne.db"
    url = f"sqlite:///{path}"
    result = _invoke(*command, "--database", url)
    _assert_one_line_error(result, repr(url), "has no siren-core schema",
                           f"run `siren db upgrade --database {url}`")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_an_empty_sqlite_file_stays_empty(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    result = _invoke(*command, "--database", f"sqlite:///{path}")
    _assert_one_line_error(result, "has no siren-core schema: run `siren db upgrade")
    assert [p.name for p in tmp_path.iterdir()] == ["empty.db"]
    assert path.stat().st_size == 0


def test_a_database_without_the_schema_is_refused_until_upgraded(database_url: str) -> None:
    """On SQLite the file does not exist yet; on PostgreSQL the database is empty."""
    result = _invoke("distributions", "--database", database_url)
    _assert_one_line_error(result, "has no siren-core schema",
                           f"run `siren db upgrade --database {store.masked(database_url)}`")
    engine = store.open_engine(database_url)
    assert sa.inspect(engine).get_table_names() == []  # nothing was created
    engine.dispose()
    upgraded = _invoke("db", "upgrade", "--database", database_url)
    assert upgraded.exit_code == 0 and "schema created" in upgraded.output
    assert _invoke("distributions", "--database", database_url, "--json").exit_code == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", [*READ_ONLY, ["db", "upgrade"], ["heartbeat"]],
                         ids=" ".join)
def test_a_refused_connection_names_the_url_with_its_password_masked(
        command: list[str]) -> None:
    url = f"postgresql://siren:s3cret@127.0.0.1:{_closed_port()}/siren"
    result = _invoke(*command, "--database", url)
    _assert_one_line_error(result, "postgresql://siren:***@127.0.0.1", "refused")
    assert "s3cret" not in result.output


@pytest.mark.parametrize(("url", "problem"), [
    ("postgresql+psycopg://postgres@127.0.0.1:5432/siren_h_does_not_exist",
     'database "siren_h_does_not_exist" does not exist'),
    ("postgresql+psycopg://nobody_h:pw@127.0.0.1:5432/siren_h", 'role "nobody_h" does not exist'),
], ids=["missing database", "unknown role"])
def test_a_server_refusing_the_login_is_named(url: str, problem: str) -> None:
    result = _invoke("doctor", "--database", url)
    _assert_one_line_error(result, repr(store.masked(url)), problem)
    assert ":pw@" not in result.output


def test_a_kernel_that_must_not_create_refuses_a_missing_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    with pytest.raises(store.StoreUnavailable) as raised:
        Kernel(url, create_schema=False)
    assert (raised.value.field, raised.value.value) == ("database", url)
    assert list(tmp_path.iterdir()) == []
    Kernel(url).close()  # the default creates it
    Kernel(url, create_schema=False).close()


def test_a_database_error_during_a_command_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'siren.db'}"
    Kernel(url).close()
    engine = store.open_engine(url)
    with engine.begin() as conn:  # a store damaged by hand: the schema check still passes
        conn.execute(sa.text("DROP TABLE credit_skip"))
        conn.execute(sa.text("ALTER TABLE collaborator RENAME TO collaborator_gone"))
    engine.dispose()
    result = _invoke("collaborators", "--database", url)
    _assert_one_line_error(result, f"{url!r} failed (OperationalError: no such table: "
                           "collaborator)")


def test_an_older_schema_asks_for_an_upgrade(database_url: str) -> None:
    engine = store.open_engine(database_url)
    migrate.upgrade(engine, "0002_payouts_refunds_groups")
    engine.dispose()
    result = _invoke("obligations", "list", "--database", database_url)
    _assert_one_line_error(result, "has schema 0002_payouts_refunds_groups, older than "
                           f"this release's {migrate.head()}", "run `siren db upgrade")
    assert _invoke("db", "upgrade", "--database", database_url).exit_code == 0
    assert _invoke("obligations", "list", "--database", database_url).exit_code == 0


def test_a_newer_schema_is_refused_even_by_a_kernel_that_may_upgrade(
        database_url: str) -> None:
    Kernel(database_url).close()
    engine = store.open_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    for command in (["doctor"], ["db", "upgrade"], ["heartbeat"]):
        result = _invoke(*command, "--database", database_url)
        _assert_one_line_error(result, "has schema 0099_future, newer than this release",
                               "upgrade siren-core")
    with pytest.raises(store.StoreUnavailable, match="newer than this release"):
        Kernel(database_url)


# -- a period that keeps failing is visible ------------------------------------------------

HUGE_SALE = "50000000000000000.00"  # two of them: a score beyond 64 bits, refused


def _failing_store(url: str) -> None:
    with Kernel(url) as kernel:
        kernel.create_collaborator("alice")
        kernel.create_distributor(monthly("big", metrics=[{"type": "sale", "value": "amount"}]))
        kernel.create_distributor(monthly("fine"))
        for key, day in (("s1", "05"), ("s2", "06")):
            kernel.record("sale", sale(key, "alice", HUGE_SALE, f"2026-01-{day}T10:00:00Z"))


def test_a_failing_period_counts_its_failures_and_keeps_its_last_error(
        database_url: str) -> None:
    _failing_store(database_url)
    with Kernel(database_url, clock=lambda: at("2026-02-03T08:00")) as kernel:
        assert kernel.period_failures() == ()
        for _ in range(2):
            assert [name for _id, name, _error in kernel.heartbeat(at("2026-02-01")).failed
                    ] == ["big"]
        [failure] = kernel.period_failures(open_only=True)
        assert (failure.distributor, failure.status, failure.failures) == ("big", "open", 2)
        assert failure.period_start == at("2026-01-01")
        assert failure.last_error is not None
        assert "exceeds the largest storable integer" in failure.last_error
        assert failure.last_failed_at == at("2026-02-03T08:00")
        with store.unit_of_work(kernel.engine) as conn:  # the operator fixes the cause
            conn.execute(sa.text("UPDATE score_credit SET points = 1"))
        assert [d.distributor for d in kernel.heartbeat(at("2026-02-01")).completed] == ["big"]
        assert kernel.period_failures(open_only=True) == ()
        [kept] = kernel.period_failures()  # the history stays with the distributed period
        assert (kept.status, kept.failures) == ("completed", 2)


def test_doctor_and_distributions_show_a_failing_period(database_url: str) -> None:
    _failing_store(database_url)
    for _ in range(3):
        assert _invoke("heartbeat", "--database", database_url,
                       "--now", "2026-02-01T00:00:00Z").exit_code == 1
    doctor = _invoke("doctor", "--database", database_url, "--json")
    assert doctor.exit_code == 1
    [failing] = json.loads(doctor.stdout)["failing_periods"]
    assert failing["distributor"] == "big" and failing["failures"] == 3
    assert failing["period_start"] == "2026-01-01T00:00:00Z"
    assert "exceeds the largest storable integer" in failing["last_error"]
    table = CliRunner().invoke(cli, ["doctor", "--database", database_url],
                               env={"COLUMNS": "250"})
    assert table.exit_code == 1
    assert "Periods that fail to distribute" in table.output
    assert "exceeds the largest" in table.output
    listed = json.loads(_invoke("distributions", "--database", database_url, "--json").stdout)
    rows = {(d["distributor"], d["status"]): d for d in listed["distributions"]}
    assert rows[("big", "open")]["failures"] == 3
    assert "exceeds" in rows[("big", "open")]["last_error"]
    assert rows[("fine", "completed")]["failures"] == 0
    assert rows[("fine", "completed")]["last_error"] is None
    shown = CliRunner().invoke(cli, ["distributions", "--database", database_url],
                               env={"COLUMNS": "250"})
    assert "failures" in shown.output and "exceeds the largest" in shown.output


# -- siren worker ------------------------------------------------------------------------

def test_worker_once_exits_like_heartbeat_when_a_period_fails(database_url: str) -> None:
    _failing_store(database_url)
    result = CliRunner().invoke(cli, ["worker", "--once", "--json", "--database",
                                      database_url])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [f["distributor"] for f in report["failed"]] == ["big"]
    [line] = result.stderr.splitlines()
    assert line.startswith("worker: heartbeat ")
    completed = len(report["completed"])
    assert f": {completed} period(s) distributed, 1 failed, " in line and line.endswith(" s")


def test_worker_quiet_logs_no_heartbeat_line(database_url: str) -> None:
    Kernel(database_url).close()
    result = CliRunner().invoke(cli, ["worker", "--once", "--quiet", "--database",
                                      database_url])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    loud = CliRunner().invoke(cli, ["worker", "--once", "--database", database_url])
    assert loud.exit_code == 0
    assert "0 period(s) distributed, 0 failed" in loud.stderr


def test_the_failure_columns_arrive_on_an_older_store(database_url: str) -> None:
    engine = store.open_engine(database_url)
    migrate.upgrade(engine, "0003_reliability")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO distributor (id, external_id, name, units, status, config, "
            "config_version, created_at, updated_at) VALUES (1, 'd', 'd', 'USD', 'active', "
            "'{}', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        conn.execute(sa.text(
            "INSERT INTO distribution (id, distributor_id, period_index, period_start, "
            "period_end, units, status) VALUES (1, 1, 0, '2026-01-01 00:00:00', "
            "'2026-02-01 00:00:00', 'USD', 'open')"))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT failures, last_error, last_failed_at FROM "
                                    "distribution")).all() == [(0, None, None)]
    engine.dispose()
