"""Helpers of the admin API and dashboard tests: an operator, a logged-in test client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from siren_core import Kernel, store
from siren_core.service import operators
from siren_core.service.app import Settings, create_app
from siren_core.store import webhook_queries as wq
from siren_core.webhooks import subscriptions

from conftest import monthly, sale

API = "/siren/v1"
PASSWORD = "correct horse battery staple"


@contextmanager
def admin_client(kernel: Kernel, name: str = "olive", *, create: bool = True,
                 base_url: str = "http://testserver") -> Iterator[tuple[TestClient, str]]:
    """A test client logged in as operator ``name`` (created unless ``create`` is false),
    and the session's CSRF token."""
    if create:
        operators.create_operator(kernel, name, PASSWORD)
    with TestClient(create_app(kernel, Settings(rate_limit=10_000)),
                    base_url=base_url) as client:
        answer = client.post(f"{API}/auth/login", json={"name": name, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        yield client, answer.json()["csrfToken"]


NOW = datetime(2026, 2, 10, 12, tzinfo=UTC)


def january(kernel: Kernel) -> int:
    """Three collaborators, a monthly bonus of 1000.00 scoring 10 points a sale, January's
    sales (alice 2, bob 1; carol none), a sale in the open February, and January
    distributed: its id."""
    for who in ("alice", "bob", "carol"):
        kernel.create_collaborator(who, name=who.title())
    kernel.create_distributor(monthly("bonus", name="Monthly bonus",
                                      description="Sales of the month"))
    for n, (who, when) in enumerate([("alice", "2026-01-03"), ("alice", "2026-01-04"),
                                     ("bob", "2026-01-05"), ("bob", "2026-02-03")]):
        kernel.record("sale", sale(f"o-{n}", who, "30.00", f"{when}T10:00:00Z"))
    done = kernel.heartbeat(NOW).completed
    assert len(done) == 1
    return done[0].id


def failed_delivery(kernel: Kernel) -> int:
    """A subscription with one dead (failed) delivery, as the worker leaves one whose
    attempts ran out; its id. Needs ``SIREN_WEBHOOKS_ALLOW_PRIVATE=1``."""
    made = subscriptions.create(kernel.engine, "http://127.0.0.1:9/hook", ["*"], "orders")
    subscriptions.send_test(kernel.engine, made.subscription.id)
    delivery = subscriptions.deliveries(kernel.engine)[0][0]
    with store.unit_of_work(kernel.engine) as conn:
        conn.execute(wq.delivery.update().where(wq.delivery.c.id == delivery.id)
                     .values(status="failed", attempts=8))
    return delivery.id
