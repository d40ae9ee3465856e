"""Misbehaving plugins: each fault is refused with an error naming the plugin and the hook,
its period (or event) rolls back, and other distributors in the same heartbeat complete."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from siren_core import Kernel, hookimpl
from siren_core.errors import PluginError
from siren_core.records import (
    AllocationCalculator,
    AllocationContext,
    Credit,
    CreditContext,
    CreditRule,
    PoolContext,
    PoolResolver,
)
from siren_core.verify import verify

from conftest import at, monthly, sale

Allocate = Callable[[AllocationContext, Any], Any]

CALCULATORS: dict[str, Allocate] = {
    "not_a_mapping": lambda ctx, cfg: [("ana", ctx.pool)],
    "negative": lambda ctx, cfg: {"ana": ctx.pool + 1, "ben": -1},
    "stranger": lambda ctx, cfg: {"zed": ctx.pool},
    "float": lambda ctx, cfg: {"ana": ctx.pool / 2, "ben": ctx.pool / 2},
    "boolean": lambda ctx, cfg: {"ana": True, "ben": ctx.pool - 1},  # sums to the pool
    "short": lambda ctx, cfg: {"ana": ctx.pool - 1},
}
POOLS: dict[str, Callable[[PoolContext, Any], Any]] = {
    "float_pool": lambda ctx, cfg: 12.5,
    "negative_pool": lambda ctx, cfg: -100,
    "text_pool": lambda ctx, cfg: "100",
}


class Faulty:
    """Calculators, pool resolvers and credit rules that each break the contract once."""

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        return [AllocationCalculator(id=name, description=name, allocate=allocate)
                for name, allocate in CALCULATORS.items()]

    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        return [PoolResolver(id=name, description=name, resolve=resolve)
                for name, resolve in POOLS.items()]

    @hookimpl
    def siren_credit_rules(self) -> list[CreditRule]:
        def raising(ctx: CreditContext, cfg: Any) -> list[Credit]:
            raise RuntimeError("rule blew up")

        def wrong(ctx: CreditContext, cfg: Any) -> list[Any]:
            return [(ctx.actor, 1.5)]

        def number(ctx: CreditContext, cfg: Any) -> Any:
            return 42

        def layered(layer: Any) -> Callable[[CreditContext, Any], list[Credit]]:
            return lambda ctx, cfg: [Credit(ctx.actor, ctx.points, layer=layer)]

        def numbered(ctx: CreditContext, cfg: Any) -> list[Credit]:
            return [Credit(7, ctx.points)]  # type: ignore[arg-type]  # the fault under test

        return [CreditRule(id="raising", description="raises", credit=raising),
                CreditRule(id="wrong", description="returns tuples", credit=wrong),
                CreditRule(id="number", description="returns a number", credit=number),
                CreditRule(id="numbered", description="credits a number", credit=numbered),
                *(CreditRule(id=f"layer_{name}", description=f"a layer of {layer!r}",
                             credit=layered(layer)) for name, layer in LAYERS.items())]


LAYERS = {"text": "1", "negative": -1, "huge": 2 ** 31, "float": 1.0, "boolean": True}
"""Layers a credit rule may not give: a layer is an int from 0 (the actor) to 2**31 - 1
(what the store keeps)."""


def _scenario(kernel: Kernel, broken: Mapping[str, Any]) -> None:
    for name in ("ana", "ben"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly("broken", **broken))
    kernel.create_distributor(monthly("healthy"))
    kernel.record("sale", sale("o-1", "ana", "1.00", "2026-01-05T00:00:00Z"))
    kernel.record("sale", sale("o-2", "ben", "1.00", "2026-01-06T00:00:00Z"))


@pytest.mark.parametrize(("broken", "message"), [
    ({"calculator": {"id": "not_a_mapping"}}, "not a mapping"),
    ({"calculator": {"id": "negative"}}, "allocated -1 to 'ben'"),
    ({"calculator": {"id": "stranger"}}, "allocated to 'zed', who has no score"),
    ({"calculator": {"id": "float"}}, "allocated 50000.0 to 'ana'"),
    ({"calculator": {"id": "boolean"}}, "allocated True to 'ana'"),
    ({"calculator": {"id": "short"}}, "allocated 99999 of a pool of 100000"),
    ({"pool": {"resolver": "float_pool"}}, "returned 12.5, not a non-negative int"),
    ({"pool": {"resolver": "negative_pool"}}, "returned -100, not a non-negative int"),
    ({"pool": {"resolver": "text_pool"}}, "returned '100', not a non-negative int"),
])
def test_a_faulty_distribution_plugin_is_refused_and_named(
        kernel_factory: Callable[..., Kernel], broken: Mapping[str, Any], message: str) -> None:
    kernel = kernel_factory(plugins=[Faulty()])
    _scenario(kernel, broken)
    report = kernel.heartbeat(at("2026-02-01"))
    assert [d.distributor for d in report.completed] == ["healthy"]
    [(_, name, error)] = report.failed
    assert name == "broken" and message in error
    assert "plugin 'Faulty'" in error and "hook 'siren_" in error
    assert [d.status for d in kernel.distributions(distributor="broken")] == ["open"]
    assert {a.distributor for a in kernel.allocations()} == {"healthy"}
    assert verify(kernel) == []


@pytest.mark.parametrize(("rule", "message"), [
    ("raising", "rule blew up"), ("wrong", "returned ('ana', 1.5)"),
    ("number", "credit rule 'number' failed"), ("numbered", "collaborator=7"),
    *((f"layer_{name}", f"layer={layer!r}") for name, layer in LAYERS.items())])
def test_a_faulty_credit_rule_rejects_the_event_and_writes_nothing(
        kernel_factory: Callable[..., Kernel], rule: str, message: str) -> None:
    kernel = kernel_factory(plugins=[Faulty()])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(metrics=[{"type": "sale", "credit": {"rule": rule}}]))
    before = kernel.table_counts()
    with pytest.raises(PluginError) as error:
        kernel.record("sale", sale("o-1", "ana", "1.00"))
    assert message in str(error.value) and "plugin 'Faulty'" in str(error.value)
    assert error.value.hook == "siren_credit_rules"
    report = kernel.record_many([{"type": "sale", **sale("o-2", "ana", "1.00")}])
    assert [(rejection.position, rejection.id) for rejection in report.rejected] == [
        (0, "o-2")]
    assert message in report.rejected[0].problem
    assert kernel.table_counts() == before


@pytest.fixture
def kernel_factory(make_kernel: Callable[..., Kernel]) -> Callable[..., Kernel]:
    return make_kernel
