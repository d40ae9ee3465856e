"""Operations that recover and explain (issue 16): read-only commands create nothing, and
a store that cannot be used is one line naming its URL (password masked), exit code 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from siren_core import Kernel, store
from siren_core.cli import cli
from siren_core.store import migrate

READ_ONLY = [
    ["distributions"], ["allocations", "1"], ["preview", "monthly-bonus"],
    ["obligations", "list"], ["obligations", "show", "1"], ["doctor"], ["db", "current"],
    ["fulfill", "list"], ["fulfill", "show", "1"],
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


def test_a_missing_postgresql_database_is_named() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/siren_h_does_not_exist"
    result = _invoke("doctor", "--database", url)
    _assert_one_line_error(result, repr(url), "does not exist")


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
