"""The admin API with an operator's session: distributors, distributions, allocations
with the score behind them, preview, manual credits, collaborators, groups and members,
bindings, obligations in bulk, fulfillments and their CSV, doctor findings, the list
conventions; and every admin route refused, changing nothing, to a request without a
session, with an API key, with an expired session or a disabled operator's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from admin_support import API, NOW, PASSWORD, admin_client, january
from fastapi.testclient import TestClient

from siren_core import Kernel
from siren_core.service import operators
from siren_core.service.app import create_app
from siren_core.service.keys import create_key


def test_distributors_distributions_and_the_score_behind_an_allocation(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(clock=lambda: NOW)
    distribution = january(kernel)
    with admin_client(kernel) as (client, _csrf):
        listed = client.get(f"{API}/distributors", params={"search": "month"})
        assert [d["id"] for d in listed.json()] == ["bonus"]
        assert listed.headers["x-siren-estimated-count"] == "1"
        assert client.get(f"{API}/distributors", params={"status": "inactive"}).json() == []
        bad = client.get(f"{API}/distributors", params={"orderBy": "colour"})
        assert bad.status_code == 400 and "orderBy" in bad.text
        one = client.get(f"{API}/distributors/bonus").json()
        assert one["collaboratorCount"] == 3
        assert one["currentDistribution"]["periodStart"].startswith("2026-02-01")
        periods = client.get(f"{API}/distributions",
                             params={"distributorId": "bonus", "status": "completed"}).json()
        assert [p["id"] for p in periods] == [distribution]
        assert client.get(f"{API}/distributions/{distribution}").json()["pool"] == 100_000
        allocations = client.get(f"{API}/distributions/{distribution}/allocations").json()
        assert sum(a["amount"] for a in allocations) == 100_000
        by_who = {a["collaboratorExternalId"]: a for a in allocations}
        assert by_who["alice"]["explanation"]["scoreByMetric"] == {"sale": 20}
        assert len(by_who["alice"]["explanation"]["credits"]) == 2
        assert by_who["alice"]["score"] == 20 and by_who["bob"]["score"] == 10
        preview = client.get(f"{API}/distributors/bonus/preview").json()
        assert preview["leaders"][0]["collaboratorExternalId"] == "bob"
        assert preview["pool"] == 100_000


def test_distributors_are_created_updated_bound_and_soft_deleted(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(clock=lambda: NOW)
    january(kernel)
    write = {"X-CSRF-Token": ""}
    with admin_client(kernel) as (client, csrf):
        write["X-CSRF-Token"] = csrf
        spec = {"id": "weekly", "name": "Weekly", "units": "USD", "schedule": "weekly",
                "start": "2026-02-02", "pool": {"resolver": "fixed", "amount": "50.00"},
                "calculator": {"id": "equal_share"},
                "metrics": [{"type": "sale", "points": 1, "credit": {"rule": "fixed"}}]}
        made = client.post(f"{API}/distributors", json=spec, headers=write)
        assert made.status_code == 201, made.text
        bad = client.post(f"{API}/distributors", json={**spec, "id": "w2", "units": "???"},
                          headers=write)
        assert bad.status_code == 400 and "units" in bad.text
        assert client.post(f"{API}/distributors", json=spec, headers=write).status_code == 409
        group = client.post(f"{API}/collaborator-groups", headers=write, json={
            "id": "team", "name": "Team", "structure": "flat", "members": ["alice"]})
        assert group.status_code == 201
        changed = client.put(f"{API}/distributors/weekly", headers=write, json={
            "name": "Weekly bonus", "collaboratorGroupId": "team"}).json()
        assert (changed["name"], changed["collaboratorGroupId"]) == ("Weekly bonus", "team")
        assert kernel.distributor_group("weekly") == "team"
        wrong = client.put(f"{API}/distributors/weekly", headers=write, json={"id": "x"})
        assert wrong.status_code == 400
        deleted = client.delete(f"{API}/distributors/weekly", headers=write)
        assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
        assert client.delete(f"{API}/distributors/weekly", headers=write).status_code == 409


def test_groups_members_and_collaborators(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(clock=lambda: NOW)
    january(kernel)
    with admin_client(kernel) as (client, csrf):
        write = {"X-CSRF-Token": csrf}
        client.post(f"{API}/collaborator-groups", headers=write, json={
            "id": "tree", "name": "Tree", "structure": "parent_child",
            "members": [{"collaborator": "alice"}, {"collaborator": "bob", "parent": "alice"}]})
        page = client.get(f"{API}/collaborator-groups/tree/members",
                          params={"number": 1}).json()
        assert (page["total"], page["perPage"], page["totalPages"]) == (2, 1, 2)
        assert page["items"][0]["collaboratorId"] == "alice"
        only = client.get(f"{API}/collaborator-groups/tree/members",
                          params={"collaboratorId": "bob,zed"}).json()
        assert [m["collaboratorId"] for m in only["items"]] == ["bob"]
        added = client.post(f"{API}/collaborator-groups/tree/members", headers=write,
                            json={"members": [{"collaborator": "carol", "parent": "bob"}]})
        assert added.status_code == 200, added.text
        assert client.delete(f"{API}/collaborator-groups/tree/members/carol",
                             headers=write).status_code == 204
        renamed = client.put(f"{API}/collaborator-groups/tree", headers=write,
                             json={"name": "Family"}).json()
        assert renamed["name"] == "Family"
        people = client.get(f"{API}/collaborators", params={"orderBy": "name",
                                                            "order": "DESC"}).json()
        assert [p["externalId"] for p in people] == ["carol", "bob", "alice"]
        assert all(isinstance(p["id"], int) for p in people)


def test_obligations_in_bulk_fulfillments_and_their_csv(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(clock=lambda: NOW)
    january(kernel)
    ids = [o.id for o in kernel.obligations()]
    with admin_client(kernel) as (client, csrf):
        write = {"X-CSRF-Token": csrf}
        answer = client.post(f"{API}/obligations/bulk", headers=write,
                             json={"action": "approve", "ids": [*ids, 999]}).json()
        assert (answer["success"], answer["affected"]) == (False, len(ids))
        assert {o.status for o in kernel.obligations()} == {"approved"}
        read = client.get(f"{API}/obligations", params={"status": "approved"})  # the ledger's
        assert sorted(o["id"] for o in read.json()) == ids
        assert client.get(f"{API}/obligations/{ids[0]}").json()["status"] == "approved"
        log = kernel.obligation_history(ids[0])
        assert log[-1].actor == "operator:olive"
        made = client.post(f"{API}/fulfillments/generate", headers=write, json={})
        assert made.status_code == 201
        fulfillment = made.json()["fulfillment"]
        assert sum(p["amount"] for p in fulfillment["payouts"]) == 100_000
        listed = client.get(f"{API}/fulfillments").json()
        assert [f["id"] for f in listed] == [fulfillment["id"]]
        csv = client.get(f"{API}/fulfillments/{fulfillment['id']}/csv")
        assert csv.headers["content-type"].startswith("text/csv")
        assert "alice" in csv.text and "bob" in csv.text
        paid = client.put(f"{API}/fulfillments/{fulfillment['id']}", headers=write,
                          json={"status": "paid", "reference": "batch-1"}).json()
        assert {p["status"] for p in paid["payouts"]} == {"paid"}
        assert {p["status"] for p in client.get(f"{API}/payouts").json()} == {"paid"}
        assert client.get(f"{API}/doctor").json() == []
        credited = client.post(f"{API}/distributors/credit-metric", headers=write,
                               json={"collaboratorId": "nobody", "id": "m-1"})
        assert credited.status_code == 400


# -- authorisation: every admin route ----------------------------------------------------

def _admin_operations(client: TestClient) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document that takes only an operator's session (the
    ledger's obligations and payouts take a key too)."""
    schema = client.get(f"{API}/openapi.json").json()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            schemes = {name for entry in operation.get("security", []) for name in entry}
            if "APIKeyCookie" in schemes and "HTTPBearer" not in schemes:
                found.append((method.upper(), path))
    return found


BODIES: dict[str, Any] = {
    "/obligations/bulk": {"action": "approve", "ids": [1, 2]},
    "/fulfillments/generate": {},
    "/obligations/{id}": {"status": "approved"},
    "/fulfillments/{id}": {"status": "paid"},
    "/distributors/credit-metric": {"collaboratorId": "alice", "id": "m-1"},
    "/collaborator-groups": {"id": "g", "name": "G", "structure": "flat"},
    "/collaborator-groups/{id}/members": {"members": ["carol"]},
    "/programs/{id}": {"collaboratorGroupId": None},
    "/api-keys": {"scopes": ["*"]},
}


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = API + (path.replace("{id}", "1").replace("{collaboratorId}", "alice"))
    if "distributors/{id}" in path:
        url = API + path.replace("{id}", "bonus")
    body = BODIES.get(path, {"name": "Renamed"}) if method in ("POST", "PUT") else None
    return client.request(method, url, json=body, headers=headers)


@pytest.mark.parametrize("who", ["no session", "api key", "expired", "disabled"])
def test_every_admin_route_refuses_and_changes_nothing(
        make_kernel: Callable[..., Kernel], who: str) -> None:
    kernel = make_kernel(clock=lambda: NOW)
    january(kernel)
    operators.create_operator(kernel, "olive", PASSWORD)
    before_login = NOW - operators.SESSION_LIFETIME - timedelta(minutes=1)
    cookies: dict[str, str] = {}
    headers: dict[str, str] = {}
    if who == "api key":
        headers["Authorization"] = f"Bearer {create_key(kernel, ['*']).raw}"
        cookies["siren_session"] = operators.log_in(kernel, "olive", PASSWORD).token
    elif who == "expired":
        old = make_kernel(clock=lambda: before_login)
        cookies["siren_session"] = operators.log_in(old, "olive", PASSWORD).token
    elif who == "disabled":
        cookies["siren_session"] = operators.log_in(kernel, "olive", PASSWORD).token
        operators.disable_operator(kernel, "olive")
    if "siren_session" in cookies:
        headers["X-CSRF-Token"] = operators.csrf_token(cookies["siren_session"])
    counts = kernel.table_counts()
    with TestClient(create_app(kernel), cookies=cookies) as client:
        routes = _admin_operations(client)
        assert len(routes) >= 30
        for method, path in routes:
            answer = _call(client, method, path, headers)
            assert answer.status_code == 401, (method, path, answer.text)
            expected = "api_key_not_accepted" if who == "api key" else "session_required"
            assert answer.json()["error"]["code"] == expected
    assert kernel.table_counts() == counts
    assert [o.status for o in kernel.obligations()] == ["pending", "pending"]
    if who != "api key":  # the ledger's reads take a key or a live session, not these
        with TestClient(create_app(kernel), cookies=cookies) as client:
            for path in ("/obligations", "/obligations/1", "/payouts", "/payouts/1"):
                assert client.get(API + path).status_code == 401, path


def test_every_admin_route_answers_a_live_session(make_kernel: Callable[..., Kernel]) -> None:
    """The same calls with a live session are not refused (so the refusals above are the
    guard's, not the calls')."""
    kernel = make_kernel(clock=lambda: NOW)
    january(kernel)
    with admin_client(kernel) as (client, csrf):
        for method, path in _admin_operations(client):
            if path == "/auth/logout":
                continue
            answer = _call(client, method, path, {"X-CSRF-Token": csrf})
            assert answer.status_code not in (401, 403, 500), (method, path, answer.text)


def test_text_the_store_cannot_keep_is_refused_before_any_look_up(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(clock=lambda: NOW)
    january(kernel)
    with admin_client(kernel) as (client, csrf):
        counts = kernel.table_counts()
        write = {"X-CSRF-Token": csrf}
        for method, url, body in (
                ("GET", f"{API}/distributors/a%00b", None),
                ("GET", f"{API}/distributions?distributorId=a%00b", None),
                ("GET", f"{API}/collaborator-groups/x/members?collaboratorId=%00", None),
                ("POST", f"{API}/collaborator-groups",
                 {"id": "g", "name": "G", "structure": "flat", "description": "a\x00"}),
                ("PUT", f"{API}/distributors/bonus", {"name": "\ud800"})):
            answer = client.request(method, url, content=json.dumps(body), headers={
                **write, "Content-Type": "application/json"})  # \ud800 escaped
            assert answer.status_code == 400, (url, answer.text)
            assert answer.json()["error"]["code"] == "VALIDATION_FAILED"
        assert kernel.table_counts() == counts
