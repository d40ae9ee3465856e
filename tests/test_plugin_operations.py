"""Operating plugins: tracing, disabling, the allow-list, strict mode, ``siren plugins check``,
and errors that name the plugin and the hook.

Third-party plugins here are real distributions: a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path``, exactly what pip leaves behind, found by
``importlib.metadata`` like any installed package.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.errors import InvalidInput, PluginError
from siren_core.events import Event
from siren_core.hookspecs import hookspec
from siren_core.plugin_check import check_plugins
from siren_core.plugins import PluginSettings, make_plugin_manager
from siren_core.records import (
    AllocationCalculator,
    AllocationContext,
    CreditRule,
    PoolResolver,
    TriggerStrategy,
)

from conftest import at, install_distribution, monthly, sale

HELLO_PLUGIN = '''
from siren_core import hookimpl
from siren_core.records import PoolResolver

@hookimpl
def siren_pool_resolvers():
    return [PoolResolver(id="hello_pool", description="Always 1.00",
                         resolve=lambda ctx, cfg: 10 ** ctx.currency.exponent)]
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site-packages folder on ``sys.path`` holding two third-party distributions:
    ``siren-hello`` (entry point ``hello``) and ``siren-ghost`` (entry point ``ghost``,
    naming a module that does not exist)."""
    folder = tmp_path / "site-packages"
    install_distribution(folder, "siren-hello", {"hello": "siren_ops_hello"},
             {"siren_ops_hello": HELLO_PLUGIN})
    install_distribution(folder, "siren-ghost", {"ghost": "siren_ops_no_such_module"})
    for variable in ("SIREN_DISABLE_PLUGINS", "SIREN_LOAD_PLUGINS", "SIREN_TRACE_PLUGINS",
                     "SIREN_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("siren_ops_hello", None)


def _loaded(kernel: Kernel) -> dict[str, str]:
    return {info.name: info.distribution for info in kernel.plugin_report.loaded}


# -- SIREN_TRACE_PLUGINS -------------------------------------------------------------------

class Listener:
    @hookimpl
    def siren_on_event(self, event: Event) -> None:
        pass


def test_tracing_logs_every_hook_call_of_a_kernel_and_its_heartbeat(
        make_kernel: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="siren_core.plugins.trace")
    kernel = make_kernel(plugin_settings=PluginSettings(trace=True), plugins=[Listener()])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o1", "ana", "10.00"))
    kernel.heartbeat(at("2026-02-01"))
    lines = [record.getMessage() for record in caplog.records
             if record.name == "siren_core.plugins.trace"]
    # definition hooks, called one implementation at a time by the registry
    assert "call siren_trigger_strategies() in plugin 'sale'" in lines
    assert ("siren_trigger_strategies in plugin 'sale' returned [TriggerStrategy('sale')]"
            in lines)
    assert ("siren_allocation_calculators in plugin 'proportional' returned "
            "[AllocationCalculator('proportional')]") in lines
    # a hook called through pluggy
    assert "hook siren_configure_converter called (implementations: none)" in lines
    # listeners, called by the event bus during the heartbeat
    calls = [line for line in lines if line.startswith("call siren_on_event(")]
    assert any("DistributionHeartbeatInitialized" in line for line in calls)
    assert any("AllocationCompleted" in line and "in plugin 'Listener'" in line
               for line in calls)


def test_without_tracing_nothing_is_logged(make_kernel: Any,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="siren_core.plugins.trace")
    kernel = make_kernel(plugin_settings=PluginSettings(), plugins=[Listener()])
    kernel.create_collaborator("ana")
    kernel.heartbeat(at("2026-02-01"))
    assert [r for r in caplog.records if r.name == "siren_core.plugins.trace"] == []


def test_the_cli_prints_the_trace_on_stderr_when_asked(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "siren_core.cli", "heartbeat",
               "--database", f"sqlite:///{tmp_path / 'x.db'}", "--now", "2026-02-01T00:00Z"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIREN_")}
    traced = subprocess.run(command, capture_output=True, text=True, timeout=120,
                            env={**base, "SIREN_TRACE_PLUGINS": "1"})
    assert traced.returncode == 0, traced.stderr
    assert "siren trace: call siren_trigger_strategies() in plugin 'sale'" in traced.stderr
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=120, env=base)
    assert quiet.returncode == 0 and "siren trace" not in quiet.stderr


# -- SIREN_DISABLE_PLUGINS and SIREN_LOAD_PLUGINS ------------------------------------------

def test_disabled_plugins_provide_nothing(site: Path, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("SIREN_DISABLE_PLUGINS", "top_score, visit,hello")
    with Kernel(f"sqlite:///{tmp_path / 'k.db'}") as kernel:
        assert {"top_score", "visit", "hello"}.isdisjoint(_loaded(kernel))
        assert {"top_score", "visit", "hello"} <= set(kernel.plugin_report.skipped)
        with pytest.raises(InvalidInput, match=r"calculator\.id: 'top_score'"):
            kernel.create_distributor(monthly(calculator={"id": "top_score"}))
        with pytest.raises(InvalidInput, match="visit"):
            kernel.record("visit", {"id": "v1", "at": "2026-01-01T00:00Z",
                                    "collaborator": "ana"})


@pytest.mark.parametrize(("allow", "hello_loaded"), [
    (None, True), ("", False), ("hello", True), ("ghost", False), ("hello,ghost", True),
])  # a name no entry point carries is an error (tests/test_plugin_safety.py)
def test_the_allow_list_chooses_third_party_plugins_only(
        site: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, allow: str | None,
        hello_loaded: bool) -> None:
    if allow is not None:
        monkeypatch.setenv("SIREN_LOAD_PLUGINS", allow)
    with Kernel(f"sqlite:///{tmp_path / 'k.db'}") as kernel:
        loaded = _loaded(kernel)
        assert ("hello" in loaded) is hello_loaded
        assert ("hello_pool" in kernel.registry.pool_resolvers) is hello_loaded
        if hello_loaded:
            assert loaded["hello"] == "siren-hello"
        # built-ins are never subject to the allow-list
        assert loaded["sale"] == loaded["proportional"] == "siren-core"


def test_a_third_party_plugin_runs_in_a_distribution(site: Path, tmp_path: Path) -> None:
    with Kernel(f"sqlite:///{tmp_path / 'k.db'}") as kernel:
        kernel.create_collaborator("ana")
        kernel.create_distributor(monthly(pool={"resolver": "hello_pool"}))
        kernel.record("sale", sale("o1", "ana", "10.00"))
        [done] = kernel.heartbeat(at("2026-02-01")).completed
        assert done.pool == 100
        assert kernel.registry.owner("pool_resolvers", "hello_pool") == "hello"


# -- broken entry points and SIREN_STRICT_PLUGINS -------------------------------------------

def test_a_broken_entry_point_is_reported_with_its_distribution_and_skipped(
        site: Path, tmp_path: Path) -> None:
    with Kernel(f"sqlite:///{tmp_path / 'k.db'}") as kernel:
        [(name, problem)] = kernel.plugin_report.broken
        assert name == "ghost"
        assert problem.startswith("siren-ghost: ") and "siren_ops_no_such_module" in problem
        assert "hello" in _loaded(kernel)  # the others still load
    listed = CliRunner().invoke(cli, ["plugins"])
    assert listed.exit_code == 0
    assert "broken ghost: siren-ghost" in listed.output


def test_strict_mode_raises_on_a_broken_entry_point(site: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIREN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as error:
        Kernel(f"sqlite:///{tmp_path / 'k.db'}")
    assert error.value.plugin == "ghost"
    assert "siren-ghost" in str(error.value) and "siren_ops_no_such_module" in str(error.value)
    monkeypatch.setenv("SIREN_DISABLE_PLUGINS", "ghost")  # an operator's way out
    Kernel(f"sqlite:///{tmp_path / 'k.db'}").close()


# -- siren plugins check -------------------------------------------------------------------

def test_plugins_check_passes_on_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIREN_LOAD_PLUGINS", "")
    result = CliRunner().invoke(cli, ["plugins", "check"])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output
    assert check_plugins().ok


def test_plugins_check_fails_listing_a_broken_entry_point(site: Path) -> None:
    result = CliRunner().invoke(cli, ["plugins", "check"])
    assert result.exit_code == 1
    assert "entry point 'ghost' cannot be loaded: siren-ghost" in result.output
    as_json = CliRunner().invoke(cli, ["plugins", "check", "--json"])
    assert as_json.exit_code == 1 and '"problems"' in as_json.output


@attrs.frozen
class NoTime:
    id: str


class Sloppy:
    """A plugin with every mistake ``check`` looks for."""

    @hookimpl
    def siren_trigger_strategies(self) -> list[TriggerStrategy]:
        return [TriggerStrategy(id="untimed", description="no 'at'", event_type=NoTime,
                                metrics=lambda e: []),
                TriggerStrategy(id="dicty", description="not attrs", event_type=dict,
                                metrics=lambda e: [])]

    @hookimpl
    def siren_credit_rules(self) -> list[CreditRule]:
        return [CreditRule(id="blank", description=" ", credit=lambda ctx, cfg: [])]

    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        return [PoolResolver(id="", description="no id", resolve=lambda ctx, cfg: 0),
                PoolResolver(id="loose", description="a dict config",
                             resolve=lambda ctx, cfg: 0, config_type=dict)]

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id="inert", description="not callable",
                                     allocate=42)]  # type: ignore[arg-type]


def test_check_lists_every_problem_with_its_plugin() -> None:
    result = check_plugins(PluginSettings(), extra_plugins=[Sloppy()])
    assert "Sloppy" in result.plugins and "sale" in result.plugins
    assert sorted(result.problems) == sorted([
        "plugin 'Sloppy': trigger_strategies 'untimed' has an event_type without the "
        "required field 'at'",
        "plugin 'Sloppy': trigger_strategies 'dicty' has an event_type that is not an attrs "
        "class: <class 'dict'>",
        "plugin 'Sloppy': credit_rules 'blank' has an empty description",
        "plugin 'Sloppy': pool_resolvers '' has an empty id",
        "plugin 'Sloppy': pool_resolvers 'loose' has a config_type that is not an attrs "
        "class: <class 'dict'>",
        "plugin 'Sloppy': allocation_calculators 'inert' has a allocate that is not "
        "callable: 42",
    ])


class Impostor:
    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id="proportional", description="a copy",
                                     allocate=lambda ctx, cfg: {})]


class Typo:
    @hookimpl
    def siren_pool_resolver(self) -> list[PoolResolver]:
        return []


def test_check_reports_duplicate_ids_and_unknown_hooks() -> None:
    [duplicate] = check_plugins(PluginSettings(), extra_plugins=[Impostor()]).problems
    assert "'proportional'" in duplicate and "Impostor" in duplicate
    [typo] = check_plugins(PluginSettings(), extra_plugins=[Typo()]).problems
    assert "siren_pool_resolver" in typo


# -- a plugin raising during a distribution ------------------------------------------------

class Raising:
    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        def allocate(context: AllocationContext, _config: Any) -> dict[str, int]:
            raise ZeroDivisionError("tier table is empty")

        return [AllocationCalculator(id="raising", description="raises", allocate=allocate)]


def test_a_raising_calculator_is_named_with_its_plugin_and_hook(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[Raising()])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(calculator={"id": "raising"}))
    kernel.record("sale", sale("o1", "ana", "10.00"))
    with pytest.raises(PluginError) as error:
        kernel.preview("monthly-bonus", at("2026-01-20"))
    assert (error.value.plugin, error.value.hook) == ("Raising", "siren_allocation_calculators")
    assert "tier table is empty" in str(error.value)
    report = kernel.heartbeat(at("2026-02-01"))
    [(_, distributor, message)] = report.failed
    assert distributor == "monthly-bonus"
    assert "plugin 'Raising'" in message and "hook 'siren_allocation_calculators'" in message
    assert [d.status for d in kernel.distributions()] == ["open"]  # rolled back
    assert kernel.allocations() == () and kernel.obligations() == ()


class BrokenAtStart:
    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        raise RuntimeError("missing settings file")


def test_a_definition_hook_raising_at_start_names_the_plugin_and_hook(tmp_path: Path) -> None:
    with pytest.raises(PluginError) as error:
        Kernel(f"sqlite:///{tmp_path / 'k.db'}", plugins=[BrokenAtStart()])
    assert (error.value.plugin, error.value.hook) == ("BrokenAtStart", "siren_pool_resolvers")
    assert "missing settings file" in str(error.value)
    [problem] = check_plugins(PluginSettings(), extra_plugins=[BrokenAtStart()]).problems
    assert "plugin 'BrokenAtStart'" in problem and "missing settings file" in problem


# -- hooks evolve: deprecation as docs/contributing.md describes ---------------------------

class _FutureSpecs:
    """How a replaced hook is declared while it is being phased out."""

    @hookspec(warn_on_impl=DeprecationWarning(
        "siren_old_pools is deprecated; implement siren_pool_resolvers instead"))
    def siren_old_pools(self) -> None:
        """Deprecated."""


class _OldPlugin:
    @hookimpl
    def siren_old_pools(self) -> None:
        pass


def test_a_deprecated_hook_warns_the_plugins_still_implementing_it() -> None:
    pm, _ = make_plugin_manager(PluginSettings(), load_entry_points=False)
    pm.add_hookspecs(_FutureSpecs)
    with pytest.warns(DeprecationWarning, match="siren_old_pools is deprecated"):
        pm.register(_OldPlugin())


# -- two plugins providing one id ------------------------------------------------------------

TIERED_PLUGIN = '''
from siren_core import hookimpl
from siren_core.money import split
from siren_core.records import AllocationCalculator

@hookimpl
def siren_allocation_calculators():
    return [AllocationCalculator(id="tiered", description="{who}'s tiers",
                                 allocate=lambda ctx, cfg: split(ctx.pool, ctx.scores))]
'''


@pytest.fixture
def colliding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two installed distributions, ``siren-tiers-a`` (entry point ``tiers_a``) and
    ``siren-tiers-b`` (``tiers_b``), each providing a calculator ``tiered``."""
    folder = tmp_path / "site-packages"
    for letter in "ab":
        install_distribution(folder, f"siren-tiers-{letter}",
                             {f"tiers_{letter}": f"siren_ops_{letter}"},
                             {f"siren_ops_{letter}": TIERED_PLUGIN.replace("{who}", letter)})
    for variable in ("SIREN_DISABLE_PLUGINS", "SIREN_LOAD_PLUGINS", "SIREN_STRICT_PLUGINS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for letter in "ab":
        sys.modules.pop(f"siren_ops_{letter}", None)


COLLISION = ("AllocationCalculator id 'tiered' is provided by both plugin 'tiers_a' and "
             "plugin 'tiers_b': disable one of them, e.g. SIREN_DISABLE_PLUGINS=tiers_b")


def test_two_plugins_providing_one_id_stop_the_kernel_naming_both_and_the_way_out(
        colliding: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PluginError) as error:
        Kernel(database_url)
    assert COLLISION in str(error.value)
    heartbeat = CliRunner().invoke(cli, ["heartbeat", "--database", database_url])
    assert heartbeat.exit_code == 2 and COLLISION in heartbeat.output
    monkeypatch.setenv("SIREN_DISABLE_PLUGINS", "tiers_b")
    with Kernel(database_url) as kernel:
        assert kernel.registry.owner("allocation_calculators", "tiered") == "tiers_a"


def test_read_only_commands_still_work_beside_a_collision(
        colliding: Path, database_url: str) -> None:
    with Kernel(database_url, plugin_settings=PluginSettings(disabled=frozenset({"tiers_b"}))
                ) as kernel:  # a store with a distributor using the contested id
        kernel.create_collaborator("ana")
        kernel.create_distributor(monthly(calculator={"id": "tiered"}))
    runner = CliRunner()
    for args in (["--help"], ["--version"], ["plugins"], ["plugins", "schema", "proportional"],
                 ["collaborators", "--database", database_url],
                 ["distributors", "--database", database_url],
                 ["distributions", "--database", database_url],
                 ["export", "--database", database_url]):
        result = runner.invoke(cli, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output)
    table = runner.invoke(cli, ["plugins"], env={"COLUMNS": "300"})
    assert f"collision {COLLISION}" in table.output
    listed = runner.invoke(cli, ["plugins", "--json"])
    assert json.loads(listed.output)["collisions"] == [{
        "kind": "allocation_calculators", "id": "tiered", "plugins": ["tiers_a", "tiers_b"],
        "message": COLLISION}]
    rows = {row["name"]: row for row in json.loads(listed.output)["plugins"]}
    assert [c["id"] for c in rows["tiers_a"]["provides"]["allocation_calculators"]] == [
        "tiered"]
    assert rows["tiers_b"]["distribution"] == "siren-tiers-b"
    contested = runner.invoke(cli, ["plugins", "schema", "tiered"])
    assert contested.exit_code == 2 and ("'tiered' is provided by both plugin 'tiers_a' and "
                                         "'tiers_b'") in contested.output
    checked = runner.invoke(cli, ["plugins", "check"], env={"COLUMNS": "300"})
    assert checked.exit_code == 1 and COLLISION in checked.output
    doctor = runner.invoke(cli, ["doctor", "--database", database_url, "--json"])
    assert doctor.exit_code == 1
    report = json.loads(doctor.output)
    assert report["plugin_collisions"] == [COLLISION]
    assert [(f["distributor"], f["problem"]) for f in report["findings"]] == [
        ("monthly-bonus", "missing_plugin")]


def test_the_help_of_the_siren_executable_works_beside_a_collision(colliding: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SIREN_")},
           "PYTHONPATH": os.pathsep.join([str(colliding), *sys.path])}
    ran = subprocess.run([sys.executable, "-m", "siren_core.cli", "--help"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "heartbeat" in ran.stdout
