"""The plugin system: entry-point loading, the registry gateway, settings."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint, distribution
from pathlib import Path

import pytest

from siren_core import Kernel, hookimpl
from siren_core.errors import PluginError
from siren_core.plugins import (
    LoadReport,
    PluginRegistry,
    PluginSettings,
    _load_entry_point,
    make_plugin_manager,
)
from siren_core.records import AllocationCalculator, PoolResolver

ROOT = Path(__file__).resolve().parent.parent


def _declared_entry_points() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(project["project"]["entry-points"]["siren"])


def test_every_builtin_plugin_comes_from_the_siren_core_entry_points() -> None:
    pm, report = make_plugin_manager(PluginSettings())
    declared = _declared_entry_points()
    installed = {ep.name: ep.value for ep in distribution("siren-core").entry_points
                 if ep.group == "siren"}
    assert installed == declared
    loaded = {info.name: info for info in report.loaded}
    for name, module in declared.items():
        assert loaded[name].distribution == "siren-core"
        assert loaded[name].module == module
        assert pm.get_plugin(name).__name__ == module
    assert report.broken == ()


def test_every_plugin_folder_is_packaged() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(project["tool"]["setuptools"]["packages"])
    folders = {f"siren_plugins.{p.name}" for p in (ROOT / "plugins").iterdir()
               if (p / "__init__.py").exists()}
    assert folders <= packages


def test_the_registry_indexes_builtins_by_id_with_their_plugin() -> None:
    pm, _ = make_plugin_manager(PluginSettings())
    registry = PluginRegistry.collect(pm)
    assert "sale" in registry.trigger_strategies
    assert "proportional" in registry.allocation_calculators
    assert registry.owner("allocation_calculators", "proportional") == "proportional"
    assert registry.owner("pool_resolvers", "fixed") == "fixed_pool"


class _DuplicateCalculator:
    """A third-party plugin claiming an id a built-in already has."""

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id="proportional", description="copy",
                                     allocate=lambda ctx, cfg: {})]


def test_a_duplicate_id_fails_naming_both_plugins() -> None:
    pm, _ = make_plugin_manager(PluginSettings(), extra_plugins=[_DuplicateCalculator()])
    with pytest.raises(PluginError) as error:
        PluginRegistry.collect(pm)
    message = str(error.value)
    assert "'proportional'" in message
    assert "plugin 'proportional'" in message
    assert "_DuplicateCalculator" in message


class _WrongRecord:
    @hookimpl
    def siren_pool_resolvers(self) -> list[object]:
        return ["not a record"]


def test_a_record_of_the_wrong_type_is_refused() -> None:
    pm, _ = make_plugin_manager(PluginSettings(), extra_plugins=[_WrongRecord()])
    with pytest.raises(PluginError, match="not a PoolResolver"):
        PluginRegistry.collect(pm)


class _Misspelled:
    @hookimpl
    def siren_pool_resolver(self) -> list[PoolResolver]:  # missing the final "s"
        return []


def test_a_misspelled_hook_fails_at_once() -> None:
    with pytest.raises(Exception, match="siren_pool_resolver"):
        make_plugin_manager(PluginSettings(), extra_plugins=[_Misspelled()])


def test_a_broken_entry_point_is_reported_and_skipped_or_raised_in_strict_mode() -> None:
    broken = EntryPoint(name="ghost", value="siren_no_such_module", group="siren")
    pm, _ = make_plugin_manager(PluginSettings(), load_entry_points=False)
    report = LoadReport()
    _load_entry_point(pm, broken, PluginSettings(), report)
    assert report.broken and report.broken[0][0] == "ghost"
    assert "siren_no_such_module" in report.broken[0][1]
    with pytest.raises(PluginError, match="ghost"):
        _load_entry_point(pm, broken, PluginSettings(strict=True), LoadReport())


def test_disabled_plugins_are_not_loaded() -> None:
    _, report = make_plugin_manager(PluginSettings(disabled=frozenset({"proportional"})))
    assert "proportional" in report.skipped
    assert "proportional" not in {info.name for info in report.loaded}


def test_settings_come_from_the_environment() -> None:
    settings = PluginSettings.from_environment({
        "SIREN_DISABLE_PLUGINS": "a, b", "SIREN_LOAD_PLUGINS": "", "SIREN_TRACE_PLUGINS": "1",
        "SIREN_STRICT_PLUGINS": "yes"})
    assert settings == PluginSettings(disabled=frozenset({"a", "b"}), allowed=frozenset(),
                                      trace=True, strict=True)


def test_two_kernels_in_one_process_do_not_share_plugins(tmp_path: Path) -> None:
    extra = Kernel(f"sqlite:///{tmp_path / 'a.db'}", plugins=[_ExtraPool()])
    plain = Kernel(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        assert "hundred" in extra.registry.pool_resolvers
        assert "hundred" not in plain.registry.pool_resolvers
        assert extra.plugin_manager is not plain.plugin_manager
    finally:
        extra.close()
        plain.close()


class _ExtraPool:
    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        return [PoolResolver(id="hundred", description="100.00",
                             resolve=lambda ctx, cfg: 100 * 10 ** ctx.currency.exponent)]
