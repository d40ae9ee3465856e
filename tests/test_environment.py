"""Settings read from the environment: one parser, a clear refusal, never a silent default."""
from __future__ import annotations

import pytest

from siren_core import environment
from siren_core.errors import InvalidInput
from siren_core.service.app import RATE_LIMIT_ENV, Settings
from siren_core.webhooks.worker import Policy


def test_unset_and_blank_read_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIREN_X", raising=False)
    assert environment.integer("SIREN_X", 0) is None
    monkeypatch.setenv("SIREN_X", "  ")
    assert environment.number("SIREN_X", 0.0) is None


def test_values_parse_and_are_held_to_their_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIREN_X", " 7 ")
    assert environment.integer("SIREN_X", 7) == 7
    assert environment.number("SIREN_X", 0.5) == 7.0
    with pytest.raises(InvalidInput, match="SIREN_X: '7' must be at least 8"):
        environment.integer("SIREN_X", 8)


def test_a_fraction_is_not_an_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIREN_WEBHOOKS_MAX_ATTEMPTS", "2.5")
    with pytest.raises(InvalidInput, match=r"MAX_ATTEMPTS: '2\.5' is not an integer"):
        Policy.from_environment()


def test_webhook_policy_keeps_a_zero_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIREN_WEBHOOKS_BACKOFF_S", "0")
    monkeypatch.setenv("SIREN_WEBHOOKS_MAX_ATTEMPTS", "3")
    policy = Policy.from_environment()
    assert (policy.backoff_s, policy.max_attempts, policy.timeout_s) == (0.0, 3, 5.0)


def test_service_rate_limit_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RATE_LIMIT_ENV, "lots")
    with pytest.raises(InvalidInput, match=f"{RATE_LIMIT_ENV}: 'lots' is not an integer"):
        Settings.from_environment()
    monkeypatch.setenv(RATE_LIMIT_ENV, "0")
    with pytest.raises(InvalidInput, match="must be at least 1"):
        Settings.from_environment()
    monkeypatch.setenv(RATE_LIMIT_ENV, "60")
    assert Settings.from_environment().rate_limit == 60
