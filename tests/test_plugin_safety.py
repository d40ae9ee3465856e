"""Plugins that must be there: metric types a strategy produces, plugins a distributor
names, and the names of SIREN_DISABLE_PLUGINS / SIREN_LOAD_PLUGINS (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.cli import cli
from siren_core.errors import InvalidInput
from siren_core.plugin_check import check_plugins
from siren_core.plugins import PluginSettings
from siren_core.records import Metric, TriggerStrategy

from conftest import monthly

TYPO = [{"type": "sales", "points": 10, "credit": {"rule": "fixed"}},
        {"type": "visit", "points": 1, "credit": {"rule": "fixed"}}]


def test_a_metric_type_no_strategy_produces_is_refused_on_create(kernel: Kernel) -> None:
    with pytest.raises(InvalidInput) as error:
        kernel.create_distributor(monthly(metrics=TYPO))
    assert (error.value.field, error.value.value) == ("metrics[0].type", "sales")
    assert "known: manual, sale, visit" in error.value.problem
    assert kernel.distributors() == [] and kernel.distributions() == []


def test_a_metric_type_no_strategy_produces_is_refused_on_update(kernel: Kernel) -> None:
    kernel.create_distributor(monthly())
    with pytest.raises(InvalidInput) as error:
        kernel.update_distributor(monthly(metrics=TYPO[::-1]))
    assert (error.value.field, error.value.value) == ("metrics[1].type", "sales")
    assert [m.type for m in kernel.distributor("monthly-bonus").spec.metrics] == ["sale"]
    assert kernel.distributor("monthly-bonus").config_version == 1


def test_siren_apply_refuses_the_typo_in_one_line(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "siren.toml"
    config.write_text("""
[[distributors]]
id = "bonus"
name = "Bonus"
units = "USD"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "100.00" }
calculator = "proportional"
metrics = [{ type = "sales", points = 10 }]
""")
    result = CliRunner().invoke(cli, ["apply", str(config), "--database", database_url])
    assert result.exit_code == 2, result.output
    assert "metrics[0].type" in result.output and "'sales'" in result.output
    assert "known: manual, sale, visit" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


@attrs.frozen
class Signup:
    id: str
    at: datetime
    collaborator: str


class Strategies:
    """One strategy declaring its metric types, one written before the field existed."""

    @hookimpl
    def siren_trigger_strategies(self) -> list[TriggerStrategy]:
        return [
            TriggerStrategy(id="signup", description="signups", event_type=Signup,
                            metrics=lambda e: [Metric("trial", e.collaborator)],
                            metric_types=("trial", "paid_signup")),
            TriggerStrategy(id="legacy", description="no metric_types", event_type=Signup,
                            metrics=lambda e: [Metric("legacy", e.collaborator)])]


def test_strategies_declare_their_metric_types_defaulting_to_their_id(
        make_kernel: Callable[..., Kernel]) -> None:
    kernel = make_kernel(plugins=[Strategies()])
    assert kernel.registry.trigger_strategies["legacy"].produces == ("legacy",)
    assert {"trial", "paid_signup", "legacy"} <= kernel.registry.metric_types.keys()
    assert "signup" not in kernel.registry.metric_types  # declared types replace the id
    kernel.create_distributor(monthly(metrics=[
        {"type": t, "points": 1} for t in ("trial", "paid_signup", "legacy")]))
    with pytest.raises(InvalidInput, match=r"metrics\[0\]\.type: 'signup'"):
        kernel.create_distributor(monthly("other", metrics=[{"type": "signup"}]))


def _findings(kernel: Kernel) -> set[tuple[str, str, str, bool]]:
    return {(f.distributor, f.problem, f.detail, f.pays_no_one) for f in kernel.doctor()
            if f.problem == "missing_plugin"}


def _missing(distributor: str, kind: str, record_id: str, where: str,
             pays_no_one: bool = True) -> tuple[str, str, str, bool]:
    return (distributor, "missing_plugin",
            f"{kind} {record_id!r} ({where}) is not loaded: disabled or not installed",
            pays_no_one)


def test_doctor_flags_every_plugin_a_distributor_names_that_is_missing(
        make_kernel: Callable[..., Kernel], database_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    full = make_kernel()
    for name in ("ana", "ben"):
        full.create_collaborator(name)
    full.create_group({"id": "chain", "structure": "linear_chain",
                       "members": [{"collaborator": "ana", "position": 1}]})
    full.create_distributor(monthly("visits", metrics=[{"type": "visit", "points": 1}]))
    full.create_distributor(monthly("both", calculator={"id": "top_score"}, metrics=[
        {"type": "sale", "points": 1}, {"type": "visit", "points": 1}]))
    full.create_distributor(monthly("chained"))
    full.bind_distributor("chained", "chain")
    full.create_distributor(monthly("paused", pool={"resolver": "revenue_percentage",
                                                    "percent": "10"}))
    full.set_distributor_status("paused", "inactive")
    full.create_distributor(monthly("fine"))
    assert _findings(full) == set()

    disabled = frozenset({"visit", "top_score", "groups", "revenue_percentage"})
    partial = make_kernel(plugin_settings=PluginSettings(disabled=disabled))
    assert _findings(partial) == {
        _missing("visits", "trigger strategy for metric type", "visit", "metrics[0].type"),
        _missing("both", "allocation calculator", "top_score", "calculator.id"),
        _missing("both", "trigger strategy for metric type", "visit", "metrics[1].type",
                 pays_no_one=False),
        _missing("chained", "group structure", "linear_chain", "of the bound group 'chain'"),
        _missing("paused", "pool resolver", "revenue_percentage", "pool.resolver"),
    }
    monkeypatch.setenv("SIREN_DISABLE_PLUGINS", ",".join(sorted(disabled)))
    result = CliRunner().invoke(cli, ["doctor", "--database", database_url, "--json"])
    assert result.exit_code == 1, result.output
    rows = {(r["distributor"], r["problem"]) for r in json.loads(result.output)["findings"]}
    assert {("visits", "missing_plugin"), ("both", "missing_plugin"),
            ("chained", "missing_plugin"), ("paused", "missing_plugin")} <= rows
    assert ("fine", "missing_plugin") not in rows


@pytest.mark.parametrize("variable", ["SIREN_DISABLE_PLUGINS", "SIREN_LOAD_PLUGINS"])
def test_an_unknown_plugin_name_is_an_error_at_start_up_and_in_plugins_check(
        variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIREN_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SIREN_LOAD_PLUGINS", raising=False)
    monkeypatch.setenv(variable, "visit,top_scroe" if variable.endswith("DISABLE_PLUGINS")
                       else "top_scroe")
    with pytest.raises(InvalidInput) as error:
        Kernel(f"sqlite:///{tmp_path / 'k.db'}")
    assert (error.value.field, error.value.value) == (variable, "top_scroe")
    assert "known: " in error.value.problem and "top_score" in error.value.problem
    assert not (tmp_path / "k.db").exists()
    found = check_plugins()
    assert not found.ok and any(variable in p and "top_scroe" in p for p in found.problems)
    result = CliRunner().invoke(cli, ["plugins", "check"])
    assert result.exit_code == 1 and "top_scroe" in result.output, result.output


def test_known_names_still_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SIREN_DISABLE_PLUGINS", "visit")
    monkeypatch.setenv("SIREN_LOAD_PLUGINS", "")
    with Kernel(f"sqlite:///{tmp_path / 'k.db'}") as kernel:
        assert "visit" not in kernel.registry.trigger_strategies


def test_the_siren_command_exits_2_in_one_line_on_an_unknown_name(tmp_path: Path) -> None:
    siren = Path(sys.executable).with_name("siren")
    env = {**os.environ, "SIREN_DISABLE_PLUGINS": "top_scroe"}
    env.pop("SIREN_LOAD_PLUGINS", None)
    ran = subprocess.run([str(siren), "doctor", "--database", f"sqlite:///{tmp_path / 'k.db'}"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.strip().splitlines() == [
        "error: SIREN_DISABLE_PLUGINS: 'top_scroe' is not the name of an installed plugin "
        "(known: balanced, equal_share, fixed_credit, fixed_pool, groups, manual, "
        "proportional, recent, revenue_percentage, sale, streak, top_score, "
        "transaction_compilers, visit)"]
    checked = subprocess.run([str(siren), "plugins", "check"], capture_output=True,
                             text=True, env=env, timeout=120)
    assert checked.returncode == 1 and "top_scroe" in checked.stdout
    assert "Traceback" not in ran.stderr + checked.stderr


class Blank:
    @hookimpl
    def siren_trigger_strategies(self) -> list[TriggerStrategy]:
        return [TriggerStrategy(id="blank", description="a blank metric type",
                                event_type=Signup, metrics=lambda e: [],
                                metric_types=("ok", " "))]


def test_plugins_check_refuses_a_metric_type_that_is_not_a_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIREN_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SIREN_LOAD_PLUGINS", raising=False)
    found = check_plugins(extra_plugins=[Blank()], load_entry_points=False)
    assert found.problems == (
        "plugin 'Blank': trigger_strategies 'blank' has a metric type that is not a name: ' '",)
