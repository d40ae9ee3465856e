"""schemathesis against ``/siren/v1/openapi.json``: every operation, with a key holding
every scope and without one, a bounded number of generated requests each; no answer is a
5xx and every answer conforms to the published schema (status, headers, body)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from siren_core import Kernel
from siren_core.service import operators
from siren_core.service.app import Settings, create_app
from siren_core.service.keys import SCOPES, create_key

OPERATIONS = 57
"""Every operation of the document: 17 of the service, 8 of its webhooks, 32 of the admin
API."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def served(kernel: Kernel) -> Iterator[tuple[Any, str]]:
    kernel.create_collaborator("alice")
    key = create_key(kernel, SCOPES).raw
    yield create_app(kernel, Settings(rate_limit=1_000_000)), key


def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/siren/v1/openapi.json", app)


def fuzz(app: Any, headers: dict[str, str], examples: int, skip: tuple[str, ...] = ()) -> int:
    """Run ``examples`` generated requests against every operation (but those whose path
    is in ``skip``); how many operations."""
    operations = [op for op in (result.ok() for result in api_schema(app).get_all_operations())
                  if op.path not in skip]
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS,
                                   base_url="http://testserver/siren/v1")

        run()
    return len(operations)


def test_the_schema_is_openapi_3_1_and_covers_every_route(served: tuple[Any, str]) -> None:
    raw = api_schema(served[0]).raw_schema
    assert raw["openapi"].startswith("3.1")
    assert {"/event/sale", "/event/refund", "/event/site-visited", "/event/{slug}",
            "/obligations", "/obligations/{id}", "/payouts", "/payouts/{id}",
            "/transactions", "/transactions/{id}", "/conversions", "/conversions/{id}",
            "/health", "/ready", "/api-keys", "/api-keys/{id}"} <= set(raw["paths"])


def test_no_operation_fails_or_breaks_its_schema_with_a_key(served: tuple[Any, str]) -> None:
    app, key = served
    assert fuzz(app, {"Authorization": f"Bearer {key}"}, examples=15) == OPERATIONS


def test_no_operation_fails_or_breaks_its_schema_without_a_key(
        served: tuple[Any, str]) -> None:
    assert fuzz(served[0], {}, examples=5) == OPERATIONS


def test_no_admin_operation_fails_or_breaks_its_schema_logged_in(
        served: tuple[Any, str], kernel: Kernel) -> None:
    """Logged in as an operator, with the CSRF token (logging out would end the run)."""
    operators.create_operator(kernel, "olive", "correct horse battery staple")
    session = operators.log_in(kernel, "olive", "correct horse battery staple")
    headers = {"Cookie": f"siren_session={session.token}", "X-CSRF-Token": session.csrf_token}
    assert fuzz(served[0], headers, examples=5, skip=("/auth/logout",)) == OPERATIONS - 1
