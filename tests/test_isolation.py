"""A distributor whose plugin is missing, disabled or raising fails alone: its period stays
due with the error recorded, every other due distributor pays, held obligations are still
approved, and ``siren heartbeat`` exits 1 naming what failed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.errors import DistributorUnavailable
from siren_core.plugins import PluginSettings
from siren_core.records import AllocationCalculator, AllocationContext, PoolResolver
from siren_core.verify import verify

from conftest import at, monthly, sale


def _raising(context: AllocationContext, _config: Any) -> dict[str, int]:
    raise RuntimeError("calculator blew up")


class Raising:
    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id="raising", description="raises", allocate=_raising)]


def _two_distributors(kernel: Kernel, broken: dict[str, Any]) -> None:
    """``broken`` (configured by ``broken``) and ``healthy``, both held 0 days; in January
    ana sells once and ben twice (scores 10 and 20)."""
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly("broken", hold_days=0, **broken))
    kernel.create_distributor(monthly("healthy", hold_days=0))
    kernel.record("sale", sale("o-1", "ana", "1.00", "2026-01-05T00:00:00Z"))
    kernel.record("sale", sale("o-2", "ben", "3.00", "2026-01-06T00:00:00Z"))
    kernel.record("sale", sale("o-3", "ben", "3.00", "2026-01-07T00:00:00Z"))


def _check_isolated(kernel: Kernel, message: str) -> None:
    report = kernel.heartbeat(at("2026-02-01"))
    assert [d.distributor for d in report.completed] == ["healthy"]
    [(distribution_id, name, error)] = report.failed
    assert name == "broken" and message in error
    assert [d.status for d in kernel.distributions(distributor="broken")] == ["open"]
    [failure] = kernel.period_failures(open_only=True)
    assert (failure.distribution_id, failure.failures) == (distribution_id, 1)
    assert message in (failure.last_error or "")
    healthy = {o.id for o in kernel.obligations()}
    assert len(healthy) == 2 and set(report.approved_obligations) == healthy


def test_a_distributor_whose_calculator_was_disabled_fails_alone(
        make_kernel: Callable[..., Kernel]) -> None:
    _two_distributors(make_kernel(), {"calculator": {"id": "top_score"}})
    kernel = make_kernel(plugin_settings=PluginSettings(disabled=frozenset({"top_score"})))
    _check_isolated(kernel, "calculator.id: 'top_score' is not a known allocation calculator")


def test_a_distributor_whose_plugin_is_uninstalled_fails_alone(
        make_kernel: Callable[..., Kernel]) -> None:
    _two_distributors(make_kernel(plugins=[Raising()]), {"calculator": {"id": "raising"}})
    kernel = make_kernel()  # the plugin object is gone: as if its package were uninstalled
    _check_isolated(kernel, "distributor 'broken' cannot be loaded with the plugins installed")
    with pytest.raises(DistributorUnavailable, match="'raising' is not a known"):
        kernel.record("sale", sale("o-4", "ana", "1.00", "2026-02-05T00:00:00Z"))


def test_a_raising_calculator_fails_alone(make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(plugins=[Raising()])
    _two_distributors(kernel, {"calculator": {"id": "raising"}})
    _check_isolated(kernel, "calculator blew up")
    assert verify(kernel) == []


class Pool:
    """A pool resolver of 1000.00 whose later release refuses every stored config by
    raising in its ``check`` (not an ``InvalidInput``: a plugin bug)."""

    def __init__(self, *, broken_check: bool) -> None:
        self.broken_check = broken_check

    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        def check(_config: Any, _units: Any) -> None:
            raise RuntimeError("check blew up")

        return [PoolResolver(id="picky", description="1000.00",
                             resolve=lambda context, config: 100000,
                             check=check if self.broken_check else None)]


def test_a_plugin_raising_while_a_distributor_is_loaded_fails_it_alone(
        make_kernel: Callable[..., Kernel]) -> None:
    _two_distributors(make_kernel(plugins=[Pool(broken_check=False)]),
                      {"pool": {"resolver": "picky"}})
    kernel = make_kernel(plugins=[Pool(broken_check=True)])
    _check_isolated(kernel, "a plugin failed while configuring it: RuntimeError('check blew")


def test_the_period_pays_once_the_plugin_is_back(make_kernel: Callable[..., Kernel]) -> None:
    _two_distributors(make_kernel(), {"calculator": {"id": "top_score"}})
    disabled = make_kernel(plugin_settings=PluginSettings(disabled=frozenset({"top_score"})))
    assert len(disabled.heartbeat(at("2026-02-01")).failed) == 1
    kernel = make_kernel()
    report = kernel.heartbeat(at("2026-02-01"))
    assert [d.distributor for d in report.completed] == ["broken"] and report.failed == ()
    assert sorted((a.distributor, a.collaborator, a.amount) for a in kernel.allocations()) == [
        ("broken", "ben", 100000), ("healthy", "ana", 33333), ("healthy", "ben", 66667)]
    assert verify(kernel) == []


def test_heartbeat_exits_1_naming_the_failed_distributor(
        make_kernel: Callable[..., Kernel], database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _two_distributors(make_kernel(), {"calculator": {"id": "top_score"}})
    monkeypatch.setenv("SIREN_DISABLE_PLUGINS", "top_score")
    result = CliRunner().invoke(cli, ["heartbeat", "--database", database_url, "--now",
                                      "2026-02-01T00:00:00Z", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [d["distributor"] for d in report["completed"]] == ["healthy"]
    [failed] = report["failed"]
    assert failed["distributor"] == "broken" and "'top_score'" in failed["error"]
    text = CliRunner().invoke(cli, ["heartbeat", "--database", database_url, "--now",
                                    "2026-02-01T00:00:00Z"])
    assert text.exit_code == 1
    assert "failed distribution 1 of broken" in " ".join(text.output.split())
