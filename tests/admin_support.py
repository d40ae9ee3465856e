"""Helpers of the admin API and dashboard tests: an operator, a logged-in test client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from siren_core import Kernel
from siren_core.service import operators
from siren_core.service.app import Settings, create_app

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
