"""``siren keys`` and ``siren serve`` on the command line, and the ``api_id`` of
``siren collaborators --json``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from siren_core import Kernel
from siren_core.cli import cli


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_keys_are_created_listed_and_revoked(database_url: str) -> None:
    code, out, err = _run("keys", "create", "--database", database_url, "--scope", "event:*",
                          "--scope", "ledger:payouts:read", "--label", "shop")
    assert code == 0 and out.startswith("sk_live_") and len(out.strip()) == 51
    assert "shown again" in err
    raw = out.strip()
    code, out, _ = _run("keys", "list", "--database", database_url, "--json")
    [key] = json.loads(out)["keys"]
    assert key["keyPrefix"] == raw[:16] and key["status"] == "active"
    assert key["scopes"] == ["event:*", "ledger:payouts:read"] and key["label"] == "shop"
    assert raw not in out
    code, out, _ = _run("keys", "list", "--database", database_url)
    assert code == 0 and raw[:16] in out and raw not in out
    assert _run("keys", "revoke", "--database", database_url, str(key["id"]))[0] == 0
    code, out, _ = _run("keys", "list", "--database", database_url, "--json")
    assert json.loads(out)["keys"][0]["status"] == "revoked"


def test_bad_key_requests_are_one_line_errors(database_url: str) -> None:
    for args, words in ((["--scope", "ledger:*"], "scope: 'ledger:*' is not a scope"),
                        (["--scope", "conversions:read"], "is not a scope"),
                        (["--scope", "event:*", "--expires", "2020-01-01T00:00:00Z"],
                         "is not in the future"),
                        (["--scope", "event:*", "--expires", "tomorrow"], "--expires")):
        code, _out, err = _run("keys", "create", "--database", database_url, *args)
        assert (code, len(err.strip().splitlines())) == (2, 1) and words in err, err
    code, _out, err = _run("keys", "revoke", "--database", database_url, "999")
    assert code == 2 and "api key 999 does not exist" in err


def test_collaborators_json_has_the_api_id(kernel: Kernel, database_url: str) -> None:
    kernel.create_collaborator("alice")
    kernel.create_collaborator("bob")
    _code, out, _err = _run("collaborators", "--database", database_url, "--json")
    rows = {row["id"]: row["api_id"] for row in json.loads(out)["collaborators"]}
    assert rows == kernel.collaborator_api_ids() and len(set(rows.values())) == 2


def test_serve_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    code, _out, err = _run("serve", "--database", f"sqlite:///{tmp_path / 'none.db'}")
    assert code == 2 and len(err.strip().splitlines()) == 1
