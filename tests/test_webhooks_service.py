"""Webhook subscriptions through the official SDK against a real ``siren serve``, the
deliveries made by ``siren webhooks deliver`` (a real process) and verified by the SDK's
``construct_event`` in the receiver, and ``siren webhooks …`` on the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import siren
from receiver import Receiver, receiving
from serving import Server, mint_key, serving
from serving import siren as cli

from siren_core import Kernel
from siren_core.webhooks.targets import ALLOW_PRIVATE_ENV

MANAGE = "webhook-subscriptions:manage"
READ = "webhook-subscriptions:read"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


@pytest.fixture
def server(make_kernel: Callable[..., Kernel], database_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, Kernel]]:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")  # the receiver is on 127.0.0.1
    kernel = make_kernel()
    kernel.create_collaborator("alice", name="Alice")
    with serving(database_url, tmp_path / "serve.log", "--rate-limit", "1000") as running:
        yield running, kernel


def _deliver(database_url: str) -> None:
    done = cli("webhooks", "deliver", "--once", "--database", database_url)
    assert done.returncode == 0, done.stderr


def test_the_sdk_subscribes_and_its_construct_event_verifies_every_delivery(
        server: tuple[Server, Kernel], database_url: str, receiver: Receiver) -> None:
    running, kernel = server
    key = mint_key(database_url, MANAGE, "event:*")
    with siren.Siren(api_key=key, base_url=running.base_url, max_retries=0) as sdk:
        made = sdk.webhooks.subscriptions.create(
            target_url=receiver.url("shop"), description="the shop",
            events=[siren.WebhookEventType.SALE_CREATED, "transaction.created",
                    "opportunity.created", "misspelt.event"])
        assert made.signing_secret and made.id is not None
        receiver.secrets["shop"] = made.signing_secret
        [listed] = sdk.webhooks.subscriptions.list()
        assert (listed.id, listed.signing_secret, listed.status) == (made.id, None, "active")
        visit = sdk.events.site_visited(
            collaborator_id=kernel.collaborator_api_ids()["alice"])
        sale = sdk.events.sale(source="stripe", external_id="cs_1", total=12.5,
                               tracking_id=visit.opportunity_id)
        sdk.events.sale(source="stripe", external_id="cs_1", total=12.5,
                        tracking_id=visit.opportunity_id)  # a duplicate: nothing new
        _deliver(database_url)
        got = receiver.of("shop")
        assert receiver.refused == []
        assert [r.type for r in got] == ["opportunity.created", "sale.created",
                                         "transaction.created"]
        assert got[0].data["opportunityId"] == visit.opportunity_id
        assert got[1].data == {"transactionId": sale.body["transactionId"],
                               "source": "stripe", "externalId": "cs_1", "total": "12.5",
                               "currency": "USD", "trackingId": visit.opportunity_id,
                               "collaboratorExternalId": "alice"}
        assert len({r.delivery_id for r in got}) == 3
        assert all(r.delivery_id.startswith("evt_") for r in got)

        headers = {"Authorization": f"Bearer {key}"}
        base = running.base_url
        deliveries = httpx.get(f"{base}/webhooks/{made.id}/deliveries", headers=headers)
        assert [(d["status"], d["tries"][0]["statusCode"]) for d in deliveries.json()] == [
            ("delivered", 200)] * 3
        catalog = httpx.get(f"{base}/webhooks/events", headers=headers).json()
        assert {"sale.created", "allocation.completed"} <= {e["name"] for e in catalog}
        test = httpx.post(f"{base}/webhooks/{made.id}/test", headers=headers)
        assert test.status_code == 202
        _deliver(database_url)
        assert receiver.of("shop")[-1].delivery_id == test.json()["deliveryId"]
        assert httpx.get(f"{base}/webhooks/999999", headers=headers).status_code == 404

        with pytest.raises(siren.BadRequestError) as refused:
            sdk.webhooks.subscriptions.create(target_url="ftp://example.com/x",
                                              events=["*"])
        assert "targetUrl" in str(refused.value.field_errors or refused.value)
        sdk.webhooks.subscriptions.delete(made.id)
        assert sdk.webhooks.subscriptions.list() == []


def test_the_webhook_scopes_guard_the_routes(server: tuple[Server, Kernel],
                                             database_url: str) -> None:
    running, _kernel = server
    with siren.Siren(api_key=mint_key(database_url, READ), base_url=running.base_url,
                     max_retries=0) as reader:
        assert reader.webhooks.subscriptions.list() == []
        with pytest.raises(siren.MissingScopeError):
            reader.webhooks.subscriptions.create(target_url="https://example.com/h",
                                                 events=["*"])
    with siren.Siren(api_key=mint_key(database_url, "event:*"), base_url=running.base_url,
                     max_retries=0) as events_only, pytest.raises(siren.MissingScopeError):
        events_only.webhooks.subscriptions.list()


def test_siren_webhooks_on_the_command_line(database_url: str, receiver: Receiver,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_PRIVATE_ENV, "1")
    with Kernel(database_url):
        pass
    made = cli("webhooks", "create", "--database", database_url, "--url",
               receiver.url("cli"), "--event", "collaborator.created", "--json")
    assert made.returncode == 0, made.stderr
    subscription = json.loads(made.stdout)
    receiver.secrets["cli"] = subscription["signingSecret"]
    receiver.answers["cli"] = [500, 200]
    monkeypatch.setenv("SIREN_WEBHOOKS_BACKOFF_S", "0")  # the retry is due at once
    with Kernel(database_url) as kernel:
        kernel.create_collaborator("ana")
    _deliver(database_url)
    listed = json.loads(cli("webhooks", "deliveries", "--database", database_url,
                            "--json").stdout)["deliveries"]
    assert [(d["status"], d["attempts"], [t["statusCode"] for t in d["tries"]])
            for d in listed] == [("delivered", 2, [500, 200])]
    resend = cli("webhooks", "resend", "--database", database_url, str(listed[0]["id"]))
    assert resend.returncode == 0, resend.stderr
    _deliver(database_url)
    assert [r.delivery_id for r in receiver.of("cli")] == [listed[0]["deliveryId"]] * 2
    refused = cli("webhooks", "create", "--database", database_url, "--url",
                  "http://user:pw@example.com/", "--event", "*")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith("error: targetUrl")
    shown = json.loads(cli("webhooks", "list", "--database", database_url,
                           "--json").stdout)["subscriptions"]
    assert [(s["id"], "signingSecret" in s) for s in shown] == [(subscription["id"], False)]
    events = cli("webhooks", "events", "--json")
    assert "payout.paid" in {e["name"] for e in json.loads(events.stdout)["events"]}
    assert cli("webhooks", "delete", "--database", database_url,
               str(subscription["id"])).returncode == 0
    assert json.loads(cli("webhooks", "list", "--database", database_url,
                          "--json").stdout)["subscriptions"] == []
