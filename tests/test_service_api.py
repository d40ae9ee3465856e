"""The service's answers, in process (the real application on the test store through
Starlette's test client): hostile bodies are refused with a 400 naming the field and
store nothing; keys, scopes and the access log; ledger paging and filters."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siren_core import Kernel
from siren_core.errors import InvalidInput
from siren_core.service.app import Settings, create_app
from siren_core.service.keys import check_scopes, create_key

from conftest import driver_statements

API = "/siren/v1"


@pytest.fixture
def api(kernel: Kernel) -> Iterator[tuple[TestClient, Kernel, dict[str, str]]]:
    kernel.create_collaborator("alice")
    kernel.create_distributor({
        "id": "bonus", "name": "Bonus", "units": "USD", "schedule": "monthly",
        "start": f"{datetime.now(UTC):%Y-%m-01}", "pool": {"resolver": "fixed",
                                                            "amount": "100.00"},
        "calculator": {"id": "proportional"},
        "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}]})
    raw = create_key(kernel, ["event:*", "ledger:obligations:read",
                              "ledger:transactions:read", "ledger:payouts:read"]).raw
    with TestClient(create_app(kernel, Settings(rate_limit=10_000))) as client:
        yield client, kernel, {"Authorization": f"Bearer {raw}"}


def _failed(answer: Any) -> list[tuple[str, str]]:
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    return [(f["field"], f["type"]) for f in error["context"]["failedValidations"]]


SALE = {"source": "shop", "externalId": "o-1", "total": 49.99}
HOSTILE: list[tuple[str, bytes, str, tuple[str, str]]] = [
    ("too large", json.dumps({**SALE, "source": "x" * 70_000}).encode(), "application/json",
     ("body", "TOO_LARGE")),
    ("deep arrays", b"[" * 30_000 + b"]" * 30_000, "application/json", ("body", "TOO_DEEP")),
    ("nested objects", ('{"a":' * 40 + "1" + "}" * 40).encode(), "application/json",
     ("body", "TOO_DEEP")),
    ("text/plain", json.dumps(SALE).encode(), "text/plain", ("Content-Type", "CONTENT_TYPE")),
    ("form", b"source=shop", "application/x-www-form-urlencoded",
     ("Content-Type", "CONTENT_TYPE")),
    ("not JSON", b"{source: shop}", "application/json", ("body", "JSON")),
    ("NaN", b'{"source": "s", "externalId": "1", "total": NaN}', "application/json",
     ("body", "JSON")),
    ("an array", b"[]", "application/json", ("body", "JSON")),
    ("empty", b"", "application/json", ("body", "REQUIRED")),
    ("float id", json.dumps({**SALE, "externalId": 1.5}).encode(), "application/json",
     ("externalId", "INVALID")),
    ("float source", json.dumps({**SALE, "source": 12.5}).encode(), "application/json",
     ("source", "INVALID")),
    ("bool total", json.dumps({**SALE, "total": True}).encode(), "application/json",
     ("total", "INVALID")),
    ("huge tracking id", json.dumps({**SALE, "trackingId": 2**63}).encode(),
     "application/json", ("trackingId", "INVALID")),
    ("thousands of digits", b'{"source": "s", "externalId": "1", "total": 1' + b"0" * 5000
     + b"}", "application/json", ("body", "JSON")),
    ("huge exponent", b'{"source": "s", "externalId": "1", "total": 1e400}',
     "application/json", ("total", "INVALID")),
    ("unknown field", json.dumps({**SALE, "coupon": "X"}).encode(), "application/json",
     ("coupon", "UNKNOWN_FIELD")),
    ("unknown item field", json.dumps({**SALE, "items": [{"amount": 1, "colour": "red"}]})
     .encode(), "application/json", ("items[0].colour", "UNKNOWN_FIELD")),
    ("missing total", json.dumps({"source": "s", "externalId": "1"}).encode(),
     "application/json", ("total", "REQUIRED")),
    ("negative total", json.dumps({**SALE, "total": -1}).encode(), "application/json",
     ("total", "INVALID")),
    ("too many decimals", json.dumps({**SALE, "total": 1.001}).encode(), "application/json",
     ("total", "INVALID")),
    ("items off the total", json.dumps({**SALE, "items": [{"amount": 1, "quantity": 2}]})
     .encode(), "application/json", ("total", "INVALID")),
    ("unknown currency", json.dumps({**SALE, "currency": "XXQ"}).encode(), "application/json",
     ("currency", "INVALID")),
]


@pytest.mark.parametrize(("body", "content_type", "expected"),
                         [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_sale_bodies_are_refused_naming_the_field_and_store_nothing(
        api: tuple[TestClient, Kernel, dict[str, str]], body: bytes, content_type: str,
        expected: tuple[str, str]) -> None:
    client, kernel, auth = api
    before = kernel.table_counts()
    answer = client.post(f"{API}/event/sale", content=body,
                         headers={**auth, "Content-Type": content_type})
    assert _failed(answer)[0] == expected
    after = kernel.table_counts()
    assert {k: v for k, v in after.items() if k != "api_key"} == {
        k: v for k, v in before.items() if k != "api_key"}


def test_money_in_json_numbers_is_read_exactly(
        api: tuple[TestClient, Kernel, dict[str, str]]) -> None:
    client, _kernel, auth = api
    answer = client.post(f"{API}/event/sale", headers=auth, json={
        "source": "shop", "externalId": 7, "total": 0.3,
        "items": [{"amount": 0.1, "quantity": 3, "externalId": "sku-1"}]})
    assert answer.json()["status"] == "unattributed"
    rows = client.get(f"{API}/transactions", headers=auth).json()
    assert [(r["externalId"], r["amount"], r["currency"]) for r in rows] == [("7", 30, "USD")]


def test_visit_bodies_name_their_fields(
        api: tuple[TestClient, Kernel, dict[str, str]]) -> None:
    client, _kernel, auth = api
    for body, field in (({"collaboratorId": 10**30}, "collaboratorId"),
                        ({"collaboratorId": "1"}, "collaboratorId"),
                        ({"collaboratorId": 1, "userId": -1}, "userId"),
                        ({}, "collaboratorId")):
        answer = client.post(f"{API}/event/site-visited", headers=auth, json=body)
        assert _failed(answer)[0][0] == field


def test_keys_and_scopes_are_checked(api: tuple[TestClient, Kernel, dict[str, str]]) -> None:
    client, kernel, _auth = api
    sale = {"source": "s", "externalId": "1", "total": 1}
    assert client.post(f"{API}/event/sale", json=sale).status_code == 401
    assert client.post(f"{API}/event/sale", json=sale, headers={
        "Authorization": "Basic c2s6"}).status_code == 401
    one = create_key(kernel, ["event:refund"]).raw
    refused = client.post(f"{API}/event/sale", json=sale,
                          headers={"Authorization": f"Bearer {one}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["context"] == {
        "scope": "event:sale", "anyOf": ["event:sale", "event:*", "*"]}
    legacy = create_key(kernel, ["*"]).raw
    assert client.post(f"{API}/event/sale", json=sale,
                       headers={"Authorization": f"Bearer {legacy}"}).status_code == 200
    assert client.get(f"{API}/obligations", headers={
        "Authorization": f"Bearer {legacy}"}).status_code == 403  # `*` reads no ledger


@pytest.mark.parametrize("scope", ["ledger:*", "conversions:read", "event:", "", "admin"])
def test_old_names_and_wildcards_are_not_scopes(scope: str) -> None:
    with pytest.raises(InvalidInput, match="scope"):
        check_scopes([scope])


def test_a_key_must_expire_in_the_future(kernel: Kernel) -> None:
    with pytest.raises(InvalidInput, match="expires"):
        create_key(kernel, ["event:*"], expires_at=datetime.now(UTC) - timedelta(seconds=1))


def test_the_access_log_has_the_request_id_and_never_the_key(
        api: tuple[TestClient, Kernel, dict[str, str]],
        caplog: pytest.LogCaptureFixture) -> None:
    client, _kernel, auth = api
    with caplog.at_level(logging.INFO, logger="siren.access"):
        answer = client.post(f"{API}/event/sale?secret=x", headers={
            **auth, "X-Request-Id": "req-42"}, json={**SALE, "externalId": "logged"})
    assert answer.headers["x-request-id"] == "req-42"
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "siren.access"]
    raw = auth["Authorization"].removeprefix("Bearer ")
    assert line["request_id"] == "req-42" and line["status"] == 200
    assert line["path"] == f"{API}/event/sale" and line["key_prefix"] == raw[:16]
    assert raw not in caplog.text and "secret" not in caplog.text


def test_ledger_pages_and_filters(api: tuple[TestClient, Kernel, dict[str, str]]) -> None:
    client, kernel, auth = api
    for n in range(5):
        client.post(f"{API}/event/sale", headers=auth, json={**SALE, "externalId": n})
    page = client.get(f"{API}/transactions?number=2&offset=3", headers=auth)
    assert page.headers["x-siren-estimated-count"] == "5"
    assert [row["externalId"] for row in page.json()] == ["3", "4"]
    first = page.json()[0]
    assert client.get(f"{API}/transactions/{first['id']}", headers=auth).json() == first
    assert len(client.get(f"{API}/transactions?number=500", headers=auth).json()) == 5
    assert _failed(client.get(f"{API}/transactions?number=abc", headers=auth)) == [
        ("number", "INVALID")]
    assert _failed(client.get(f"{API}/obligations?status=nonsense", headers=auth))[0][0] == (
        "status")
    for path in ("transactions/999", "obligations/999", "payouts/999",
                 f"obligations/{2**70}"):
        assert client.get(f"{API}/{path}", headers=auth).status_code == 404
    ids = kernel.collaborator_api_ids()
    for query in (f"collaboratorId={ids['alice']}", "distributorId=nobody",
                  "collaboratorId=12345"):
        answer = client.get(f"{API}/obligations?{query}", headers=auth)
        assert (answer.status_code, answer.json()) == (200, [])


def test_the_command_line_starts_without_the_web_framework() -> None:
    """``siren serve`` imports FastAPI and uvicorn inside the command: no other command
    pays for them at start-up."""
    probe = ("import sys, siren_core.cli.root; print(sorted(m for m in "
             "('fastapi', 'starlette', 'uvicorn') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("event/sale", {**SALE, "externalId": "o\u0000"}, "externalId"),
    ("event/sale", {**SALE, "source": "s\ud800"}, "source"),
    ("event/refund", {"source": "shop", "externalId": "o\u0000"}, "externalId"),
    ("event/manual", {"id": "m\u0000", "collaborator": "alice"}, "id"),
])
def test_text_the_store_cannot_keep_is_refused_before_any_lookup(
        api: tuple[TestClient, Kernel, dict[str, str]], path: str, body: dict[str, Any],
        field: str) -> None:
    client, _kernel, auth = api
    answer = client.post(f"{API}/{path}", headers={**auth, "Content-Type": "application/json"},
                         content=json.dumps(body).encode())
    assert _failed(answer)[0][0] == field


def test_text_filters_refuse_control_characters(
        api: tuple[TestClient, Kernel, dict[str, str]]) -> None:
    client, _kernel, auth = api
    for query in ("obligations?distributorId=%00", "obligations?status=a%00",
                  "transactions?type=%1F"):
        assert _failed(client.get(f"{API}/{query}", headers=auth))[0][0] == query.split(
            "?")[1].split("=")[0]


def test_a_sale_on_sqlite_runs_no_statement_of_sqlalchemy_s_nor_reads_twice(
        api: tuple[TestClient, Kernel, dict[str, str]]) -> None:
    """The kernel's unit of work inside the request's transaction is a savepoint on the
    driver: neither SQLAlchemy's compiled ``SAVEPOINT`` nor its transaction under it."""
    client, kernel, headers = api
    if kernel.engine.dialect.name != "sqlite":
        pytest.skip("the driver's trace: SQLite")
    client.post("/siren/v1/event/sale", json={**SALE, "externalId": "warm"}, headers=headers)
    with driver_statements(kernel) as seen:
        answer = client.post("/siren/v1/event/sale", json=SALE, headers=headers)
    assert answer.status_code == 200, answer.text
    assert [s for s in seen if s.startswith(("SAVEPOINT", "RELEASE"))] == [
        "SAVEPOINT siren_unit", "RELEASE siren_unit"]
    assert not [s for s in seen if "sa_savepoint" in s]
    # the prelude found no active subscription: the service's own messages ask no more
    assert not [s for s in seen if "webhook_subscription" in s and "EXISTS" not in s]
