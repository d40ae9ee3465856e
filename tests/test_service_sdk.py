"""The official client, ``siren-sdk`` (import ``siren``), unmodified, against a real
``siren serve`` process on a free loopback port, on SQLite and on PostgreSQL; keys are
minted with ``siren keys create``. Every SDK call of docs/service.md and every error
class the SDK maps, then a heartbeat and the obligations it issued read back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import siren
from serving import Server, coupons_path, mint_key, serving
from serving import siren as cli

from siren_core import Kernel

EVENTS = ("event:*",)
LEDGER = ("ledger:obligations:read", "ledger:payouts:read", "ledger:transactions:read",
          "ledger:conversions:read")


def month_start() -> str:
    return f"{datetime.now(UTC):%Y-%m-01}"


def prepare(kernel: Kernel) -> None:
    kernel.create_collaborator("alice", name="Alice")
    kernel.create_collaborator("bob", name="Bob", status="inactive")
    kernel.create_distributor({
        "id": "profit-share", "name": "Profit share", "units": "USD", "schedule": "monthly",
        "start": month_start(), "pool": {"resolver": "revenue_percentage", "percent": "10"},
        "calculator": {"id": "proportional"},
        "metrics": [{"type": "sale", "points": 10, "credit": {"rule": "fixed"}}]})


@pytest.fixture
def server(make_kernel: Callable[..., Kernel], database_url: str,
           tmp_path: Path) -> Iterator[tuple[Server, Kernel]]:
    kernel = make_kernel()
    prepare(kernel)
    with serving(database_url, tmp_path / "serve.log", "--rate-limit", "1000",
                 pythonpath=coupons_path(tmp_path / "site")) as running:
        yield running, kernel


def client(server: Server, key: str, retries: int = 2) -> siren.Siren:
    return siren.Siren(api_key=key, base_url=server.base_url, max_retries=retries)


def test_the_sdk_records_sales_refunds_visits_and_custom_events(
        server: tuple[Server, Kernel], database_url: str) -> None:
    running, kernel = server
    ids = kernel.collaborator_api_ids()
    with client(running, mint_key(database_url, *EVENTS, *LEDGER)) as sdk:
        visit = sdk.events.site_visited(collaborator_id=ids["alice"], user_id=7)
        assert visit.status == "recorded"  # no distributor tracks visits
        assert visit.body["attributed"] is True and visit.opportunity_id is not None
        inactive = sdk.events.site_visited(collaborator_id=ids["bob"])
        unknown = sdk.events.site_visited(collaborator_id=10**9)
        assert (inactive.status, inactive.body["reason"]) == ("not_attributed",
                                                              "collaborator_not_active")
        assert (unknown.status, unknown.opportunity_id) == ("not_attributed", None)

        sale = sdk.events.sale(source="stripe", external_id="cs_1", total=50.00,
                               tracking_id=visit.opportunity_id)
        assert (sale.status, sale.opportunity_id, sale.body["created"]) == (
            "created", visit.opportunity_id, True)
        again = sdk.events.sale(source="stripe", external_id="cs_1", total=50.00,
                                tracking_id=visit.opportunity_id)
        assert again.status == "duplicate"
        assert again.body["transactionId"] == sale.body["transactionId"]
        with pytest.raises(siren.ConflictError):
            sdk.events.sale(source="stripe", external_id="cs_1", total=51,
                            tracking_id=visit.opportunity_id)

        organic = sdk.events.sale(source="shop", external_id=1001, total=10,
                                  tracking_id=999_999,
                                  items=[{"amount": 2.5, "quantity": 4, "name": "mug"}])
        assert (organic.status, organic.opportunity_id) == ("unattributed", None)

        refunded = sdk.events.sale(source="stripe", external_id="cs_2", total=20,
                                   tracking_id=visit.opportunity_id)
        assert refunded.status == "created"
        assert sdk.events.refund(source="stripe", external_id="cs_2").status == "created"
        assert sdk.events.refund(source="stripe", external_id="cs_2").status == "duplicate"
        with pytest.raises(siren.NotFoundError):
            sdk.events.refund(source="stripe", external_id="never-sold")

        coupon = sdk.events.ingest("coupon", {"id": "order-9", "collaborator": "alice",
                                              "code": "SPRING"})
        assert coupon.status == "recorded" and coupon.body["transactionId"] > 0
        with pytest.raises(siren.NotFoundError):
            sdk.events.ingest("no-such-event", {"id": "x"})

        page = sdk.transactions.list(per_page=2, page=2)
        assert page.total == 6 and len(page) == 2  # visit, 3 sales, refund, coupon
        sales = sdk.transactions.list(type="sale", number=200)
        assert [(t["source"], t["externalId"], t["amount"]) for t in sales] == [
            ("stripe", "cs_1", 5000), ("shop", "1001", 1000), ("stripe", "cs_2", 2000)]
        assert sales[1]["collaboratorId"] is None
        assert sdk.conversions.list().data == [] and sdk.conversions.list().total == 0

    kernel.heartbeat(datetime.now(UTC) + timedelta(days=40))
    with client(running, mint_key(database_url, "ledger:obligations:read")) as sdk:
        owed = sdk.obligations.list(collaborator_id=ids["alice"])
        # 10 % of all revenue: 50.00 attributed + 10.00 unattributed (cs_2 refunded)
        assert [(o["amount"], o["currency"], o["collaboratorExternalId"]) for o in owed] == [
            (600, "USD", "alice")]
        assert owed.total == 1
        assert sdk.obligations.list(collaborator_id=ids["bob"]).data == []


def test_every_error_class_the_sdk_maps(server: tuple[Server, Kernel],
                                         database_url: str) -> None:
    running, kernel = server
    ids = kernel.collaborator_api_ids()
    with client(running, mint_key(database_url, "event:sale")) as sdk:
        with pytest.raises(siren.MissingScopeError) as refused:
            sdk.events.site_visited(collaborator_id=ids["alice"])
        assert refused.value.scope == "event:site-visited"
        assert set(refused.value.any_of) == {"event:*", "event:site-visited", "*"}
        with pytest.raises(siren.MissingScopeError):
            sdk.obligations.list()
        with pytest.raises(siren.BadRequestError) as bad:
            sdk.events.sale(source="stripe", external_id="x", total=-1, tracking_id=1)
        assert [e["field"] for e in bad.value.field_errors] == ["total"]
        with pytest.raises(siren.ApiKeyNotAcceptedError):
            sdk.api_keys.create(scopes=["event:*"])
        with pytest.raises(siren.ApiKeyNotAcceptedError):
            sdk.api_keys.list()
    with client(running, "sk_live_" + "x" * 43) as sdk, pytest.raises(
            siren.AuthenticationError):
        sdk.events.sale(source="s", external_id="1", total=1, tracking_id=1)


def test_revoked_and_expired_keys_are_refused(server: tuple[Server, Kernel],
                                              database_url: str) -> None:
    running, _kernel = server
    key = mint_key(database_url, *EVENTS)
    # Far enough ahead that the minting command itself (a process start) cannot outlast
    # it on a loaded host: a past expiry is refused when the key is created.
    soon = (datetime.now(UTC) + timedelta(seconds=6)).isoformat()
    expiring = mint_key(database_url, *EVENTS, extra=["--expires", soon])
    with client(running, key) as sdk:
        assert sdk.events.sale(source="s", external_id="1", total=1,
                               tracking_id=1).status == "unattributed"
    listed = cli("keys", "list", "--database", database_url, "--json")
    [first, _second] = json.loads(listed.stdout)["keys"]
    assert first["lastUsedAt"] is not None
    assert cli("keys", "revoke", "--database", database_url, str(first["id"])).returncode == 0
    with client(running, key) as sdk, pytest.raises(siren.AuthenticationError) as revoked:
        sdk.events.sale(source="s", external_id="2", total=1, tracking_id=1)
    assert "revoked" in revoked.value.message
    time.sleep(max(0.0, (datetime.fromisoformat(soon) - datetime.now(UTC)).total_seconds()))
    with client(running, expiring) as sdk, pytest.raises(siren.AuthenticationError) as old:
        sdk.events.sale(source="s", external_id="3", total=1, tracking_id=1)
    assert "expired" in old.value.message


def test_the_rate_limit_answers_429_with_retry_after(
        make_kernel: Callable[..., Kernel], database_url: str, tmp_path: Path) -> None:
    make_kernel()
    key = mint_key(database_url, *EVENTS)
    with serving(database_url, tmp_path / "serve.log", "--rate-limit", "2") as running, \
            client(running, key, retries=0) as sdk:
        if datetime.now(UTC).second > 50:  # three requests in one window of a minute
            time.sleep(61 - datetime.now(UTC).second)
        for n in range(2):
            sdk.events.sale(source="s", external_id=str(n), total=1, tracking_id=1)
        with pytest.raises(siren.RateLimitError) as limited:
            sdk.events.sale(source="s", external_id="3", total=1, tracking_id=1)
        assert limited.value.retry_after is not None and 1 <= limited.value.retry_after <= 60
