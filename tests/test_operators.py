"""Operator accounts: the command line, Argon2 hashes, sessions (cookie flags, expiry,
logout, disabled operators), CSRF on writes, the login rate limit in the store, API keys
refused on admin routes, and the SDK's ``client.api_keys`` with an operator session."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from admin_support import API, PASSWORD, admin_client
from click.testing import CliRunner
from fastapi.testclient import TestClient
from siren import ApiKeyNotAcceptedError, Siren

from siren_core import Kernel
from siren_core.cli import cli
from siren_core.errors import Conflict, InvalidInput
from siren_core.service import operators
from siren_core.service.app import Settings, create_app
from siren_core.service.keys import create_key, list_keys


def _run(database_url: str, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--database", database_url], input=input)
    return result.exit_code, result.output


def test_operators_on_the_command_line(database_url: str) -> None:
    code, out = _run(database_url, "operators", "create", "olive", "--password-stdin",
                     input=PASSWORD + "\n")
    assert (code, out.strip()) == (0, "operator olive created")
    code, out = _run(database_url, "operators", "create", "olive", "--password-stdin",
                     input=PASSWORD + "\n")
    assert code == 2 and "already exists" in out
    code, out = _run(database_url, "operators", "create", "bob", "--password-stdin",
                     input="short\n")
    assert code == 2 and "password" in out and "short" not in out
    code, out = _run(database_url, "operators", "create", "pat", input=f"{PASSWORD}\n" * 2)
    assert code == 0, out
    assert _run(database_url, "operators", "disable", "pat")[0] == 0
    code, out = _run(database_url, "operators", "list", "--json")
    listed = {o["name"]: o["status"] for o in json.loads(out)["operators"]}
    assert listed == {"olive": "active", "pat": "disabled"}
    assert _run(database_url, "operators", "disable", "nobody")[0] == 2


def test_only_an_argon2_hash_is_stored(kernel: Kernel) -> None:
    operators.create_operator(kernel, "olive", PASSWORD)
    with kernel.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM operator")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(InvalidInput, match="name"):
        operators.create_operator(kernel, "no spaces", PASSWORD)
    with pytest.raises(Conflict):
        operators.create_operator(kernel, "olive", PASSWORD)


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(kernel: Kernel) -> None:
    operators.create_operator(kernel, "olive", PASSWORD)
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(create_app(kernel), base_url=base) as client:
            answer = client.post(f"{API}/auth/login",
                                 json={"name": "olive", "password": PASSWORD})
            cookie = answer.headers["set-cookie"].lower()
            assert "siren_session=" in cookie and "httponly" in cookie
            assert "samesite=strict" in cookie and ("secure" in cookie) is secure
            assert client.get(f"{API}/auth/session").json()["operator"]["name"] == "olive"


def test_a_wrong_password_is_refused_and_logins_are_rate_limited_in_the_store(
        make_kernel: Callable[..., Kernel]) -> None:
    first, second = make_kernel(), make_kernel()  # two servers on one store
    operators.create_operator(first, "olive", PASSWORD)
    clients = [TestClient(create_app(k)) for k in (first, second)]
    for attempt in range(operators.LOGIN_ATTEMPTS):
        answer = clients[attempt % 2].post(f"{API}/auth/login",
                                           json={"name": "olive", "password": "wrong" * 3})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "login_refused"
        assert "set-cookie" not in answer.headers
    answer = clients[1].post(f"{API}/auth/login", json={"name": "olive", "password": PASSWORD})
    assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
    later = datetime.now(UTC) + operators.LOGIN_WINDOW + timedelta(seconds=1)
    with TestClient(create_app(make_kernel(clock=lambda: later))) as client:
        answer = client.post(f"{API}/auth/login", json={"name": "olive", "password": "no" * 7})
        assert answer.status_code == 401  # the window passed: refused, not held back
        with first.engine.connect() as conn:  # and the old refusals no longer kept
            assert conn.execute(sa.text("SELECT count(*) FROM login_failure")).scalar() == 1
        answer = client.post(f"{API}/auth/login", json={"name": "olive", "password": PASSWORD})
        assert answer.status_code == 200


def test_a_name_no_operator_can_have_is_refused_without_a_store_error(kernel: Kernel) -> None:
    """A NUL (which PostgreSQL cannot keep) or an over-long name: a 401, nothing stored."""
    counts = kernel.table_counts()
    with TestClient(create_app(kernel)) as client:
        for name, password in (("a\x00b", "p"), ("x" * 64 + "y", "p"),
                               ("olive smith", "p"), ("olive", "\ud800 lone")):
            answer = client.post(f"{API}/auth/login", headers={
                "Content-Type": "application/json"}, content=json.dumps(
                {"name": name, "password": password}))  # \ud800 escaped
            assert answer.status_code in (400, 401), name  # 400: longer than a name
    assert kernel.table_counts() == counts


def test_writes_need_the_csrf_token(kernel: Kernel) -> None:
    with admin_client(kernel) as (client, csrf):
        body = {"scopes": ["event:*"]}
        refused = client.post(f"{API}/api-keys", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        wrong = client.post(f"{API}/api-keys", json=body, headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        assert list_keys(kernel) == []
        made = client.post(f"{API}/api-keys", json=body, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201 and made.json()["rawKey"].startswith("sk_live_")


def test_logout_expiry_and_disabling_end_a_session(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel()
    with admin_client(kernel) as (client, csrf):
        cookie = client.cookies["siren_session"]
        assert client.post(f"{API}/auth/logout").status_code == 403  # CSRF first
        assert client.post(f"{API}/auth/logout",
                           headers={"X-CSRF-Token": csrf}).status_code == 204
        client.cookies.set("siren_session", cookie)
        gone = client.get(f"{API}/auth/session")
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "session_required"
    later = datetime.now(UTC) + operators.SESSION_LIFETIME + timedelta(minutes=1)
    with admin_client(kernel, "pat") as (client, _csrf):
        assert client.get(f"{API}/auth/session").status_code == 200
        with TestClient(create_app(make_kernel(clock=lambda: later)),
                        cookies=dict(client.cookies)) as late:
            expired = late.get(f"{API}/auth/session")
            assert expired.status_code == 401 and "expired" in expired.text
        operators.disable_operator(kernel, "pat")
        assert client.get(f"{API}/auth/session").status_code == 401
        again = client.post(f"{API}/auth/login", json={"name": "pat", "password": PASSWORD})
        assert again.status_code == 401


def test_an_api_key_never_opens_an_admin_route(kernel: Kernel) -> None:
    raw = create_key(kernel, ["*"]).raw
    with admin_client(kernel) as (client, csrf):
        for method, path in (("GET", "/api-keys"), ("POST", "/api-keys"),
                             ("DELETE", "/api-keys/1"), ("GET", "/auth/session")):
            answer = client.request(method, API + path, json={"scopes": ["*"]}, headers={
                "Authorization": f"Bearer {raw}", "X-CSRF-Token": csrf})
            assert answer.status_code == 401, (method, path)
            assert answer.json()["error"]["code"] == "api_key_not_accepted"
    assert len(list_keys(kernel)) == 1


def _sdk(app_client: TestClient, headers: dict[str, str]) -> Siren:
    """The SDK, unmodified, speaking to the in-process application through its own
    transport (the test client is an ``httpx.Client``)."""
    sdk = Siren("sk_live_" + "x" * 43, base_url=f"http://testserver{API}", max_retries=0)
    sdk._client._client.close()
    app_client.base_url = f"http://testserver{API}"
    app_client.headers.update(headers)
    sdk._client._client = app_client
    return sdk


def test_the_sdk_manages_api_keys_with_an_operator_session(kernel: Kernel) -> None:
    with admin_client(kernel) as (client, csrf):
        sdk = _sdk(client, {"X-CSRF-Token": csrf, "Accept": "application/json"})
        made = sdk.api_keys.create(scopes=["event:*", "ledger:obligations:read"],
                                   label="shop", expires_at="2099-01-01T00:00:00Z")
        assert made.raw_key and made.raw_key.startswith(made.key_prefix or "?")
        assert made.status == "active" and made.label == "shop"
        listed = sdk.api_keys.list()
        assert [k.id for k in listed] == [made.id] and listed[0].raw_key is None
        sdk.api_keys.revoke(made.id or 0)
        assert sdk.api_keys.list()[0].status == "revoked"
    with TestClient(create_app(kernel, Settings())) as plain:
        sdk = _sdk(plain, {"Authorization": f"Bearer {create_key(kernel, ['*']).raw}"})
        with pytest.raises(ApiKeyNotAcceptedError):
            sdk.api_keys.list()
