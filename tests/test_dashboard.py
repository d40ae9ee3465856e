"""The dashboard's pages and forms in process (the real application on the test store):
login by form, every page rendered, obligations approved in bulk, fulfillments generated,
exported and paid, a failed delivery sent again; a form without the CSRF token, a page
without a session and an API key refused, changing nothing. The real browser is in
tests/test_dashboard_browser.py."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from admin_support import NOW, PASSWORD, failed_delivery, january
from fastapi.testclient import TestClient

from siren_core import Kernel
from siren_core.service import operators
from siren_core.service.app import create_app
from siren_core.service.keys import create_key
from siren_core.webhooks import subscriptions

D = "/dashboard"


@pytest.fixture
def dashboard(make_kernel: Callable[..., Kernel]) -> Iterator[tuple[TestClient, Kernel, int]]:
    kernel = make_kernel(clock=lambda: NOW)
    distribution = january(kernel)
    operators.create_operator(kernel, "olive", PASSWORD)
    with TestClient(create_app(kernel), follow_redirects=False) as client:
        yield client, kernel, distribution


def _login(client: TestClient) -> str:
    answer = client.post(f"{D}/login", data={"name": "olive", "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == f"{D}/"
    page = client.get(f"{D}/")
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_session_and_refuse_an_api_key(
        dashboard: tuple[TestClient, Kernel, int]) -> None:
    client, kernel, distribution = dashboard
    for page in ("/", f"/distributions/{distribution}", "/obligations", "/fulfillments",
                 "/groups", "/webhooks", "/collaborators/alice"):
        answer = client.get(D + page)
        assert answer.status_code == 303 and answer.headers["location"] == f"{D}/login"
    keyed = client.get(f"{D}/", headers={"Authorization":
                                         f"Bearer {create_key(kernel, ['*']).raw}"})
    assert keyed.status_code == 401
    wrong = client.post(f"{D}/login", data={"name": "olive", "password": "not it at all"})
    assert wrong.status_code == 401 and "wrong" in wrong.text
    assert "set-cookie" not in wrong.headers


def test_every_page_renders_for_an_operator(dashboard: tuple[TestClient, Kernel, int]) -> None:
    client, kernel, distribution = dashboard
    kernel.create_group("tree", name="Tree", structure="parent_child", members=[
        {"collaborator": "alice"}, {"collaborator": "bob", "parent": "alice"}])
    kernel.bind_distributor("bonus", "tree")
    _login(client)
    overview = client.get(f"{D}/").text
    assert "Monthly bonus" in overview and "Pool so far" in overview
    assert "1000.00 USD" in overview and "data-chart" in overview
    page = client.get(f"{D}/distributions/{distribution}").text
    assert "sale: 20 points" in page and "666.67 USD" in page
    groups = client.get(f"{D}/groups").text
    assert re.search(r"<li>alice<ul><li>bob</li></ul></li>", groups)
    assert "distributor bonus → group tree" in groups
    person = client.get(f"{D}/collaborators/alice").text
    assert "666.67 USD" in person and "pending" in person
    assert client.get(f"{D}/collaborators/nobody").status_code == 404
    for page in ("/obligations?status=pending", "/fulfillments", "/webhooks"):
        assert client.get(D + page).status_code == 200
    assert client.get(f"{D}/static/uPlot.iife.min.js").status_code == 200


def test_bulk_approval_fulfillment_csv_and_payment(
        dashboard: tuple[TestClient, Kernel, int]) -> None:
    client, kernel, _distribution = dashboard
    csrf = _login(client)
    ids = [o.id for o in kernel.obligations()]
    refused = client.post(f"{D}/obligations/bulk", data={"action": "approve", "ids": ids})
    assert refused.status_code == 403
    assert {o.status for o in kernel.obligations()} == {"pending"}
    done = client.post(f"{D}/obligations/bulk", data={
        "action": "approve", "ids": ids, "csrf_token": csrf}, follow_redirects=True)
    assert "approve: 2 done" in done.text
    assert {o.status for o in kernel.obligations()} == {"approved"}
    made = client.post(f"{D}/fulfillments/generate", data={"csrf_token": csrf},
                       follow_redirects=True)
    assert "generated with 2 payouts" in made.text
    fulfillment = kernel.fulfillments()[0].id
    csv = client.get(f"{D}/fulfillments/{fulfillment}.csv")
    assert csv.headers["content-type"].startswith("text/csv") and "alice" in csv.text
    client.post(f"{D}/fulfillments/{fulfillment}/paid",
                data={"csrf_token": csrf, "reference": "bank-7"})
    assert {p.status for p in kernel.payouts()} == {"paid"}
    assert kernel.obligation_history(ids[0])[-1].actor == "operator:olive"


def test_a_failed_delivery_is_sent_again(dashboard: tuple[TestClient, Kernel, int],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    client, kernel, _distribution = dashboard
    monkeypatch.setenv("SIREN_WEBHOOKS_ALLOW_PRIVATE", "1")
    delivery = failed_delivery(kernel)
    csrf = _login(client)
    page = client.get(f"{D}/webhooks").text
    assert "Send again" in page
    client.post(f"{D}/webhooks/deliveries/{delivery}/resend", data={"csrf_token": csrf})
    assert subscriptions.deliveries(kernel.engine)[0][0].status == "pending"


def test_logout_ends_the_session(dashboard: tuple[TestClient, Kernel, int]) -> None:
    client, _kernel, _distribution = dashboard
    csrf = _login(client)
    assert client.post(f"{D}/logout").status_code == 403
    out = client.post(f"{D}/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    assert client.get(f"{D}/").status_code == 303
