"""siren-coupons' own tests: run them with the package installed, or from a checkout with
``PYTHONPATH=src``. The plugin is registered directly (its entry point, if installed, is
disabled) so the tests see exactly this source tree."""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from siren_core import Kernel
from siren_core.errors import InvalidInput
from siren_core.money import currency
from siren_core.plugins import PluginSettings
from siren_core.records import AllocationContext

from siren_coupons import plugin
from siren_coupons.coupon import CouponUsed, coupon_metrics
from siren_coupons.tiered import CALCULATOR, Tier, TieredConfig, weight_for
from siren_coupons.webhook import LOG_VARIABLE

TIERS = [{"min_score": 0, "weight": 1}, {"min_score": 100, "weight": 2}]


@pytest.fixture
def kernel(tmp_path: Path) -> Iterator[Kernel]:
    with Kernel(f"sqlite:///{tmp_path / 'coupons.db'}", plugins=[plugin],
                plugin_settings=PluginSettings(disabled=frozenset({"coupons"}))) as kernel:
        yield kernel


def distributor(**calculator: Any) -> dict[str, Any]:
    return {"id": "coupon-bonus", "name": "Coupon bonus", "units": "USD",
            "schedule": "monthly", "start": "2026-01-01",
            "pool": {"resolver": "fixed", "amount": "1000.00"},
            "calculator": {"id": "tiered", "tiers": TIERS, **calculator},
            "metrics": [{"type": "coupon", "points": 10, "credit": {"rule": "fixed"}}]}


def use(kernel: Kernel, order: str, collaborator: str, **extra: Any) -> None:
    kernel.record("coupon", {"id": order, "at": "2026-01-10T12:00:00Z",
                             "collaborator": collaborator, "code": "SAVE10", **extra})


def test_a_coupon_use_is_one_metric_for_its_collaborator() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    [metric] = coupon_metrics(CouponUsed("o1", at, "ana", "SAVE10"))
    assert (metric.metric_type, metric.collaborator, metric.amount) == ("coupon", "ana", None)
    [metric] = coupon_metrics(CouponUsed("o2", at, "ana", "SAVE10", Decimal("12.34"), "EUR"))
    assert metric.amount == 1234 and metric.currency == currency("EUR")


def test_an_amount_needs_a_currency() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match=r"coupon\.currency"):
        coupon_metrics(CouponUsed("o1", at, "ana", "SAVE10", Decimal("1.00")))


def test_the_weight_is_the_highest_tier_reached() -> None:
    tiers = (Tier(100, 2), Tier(0, 1), Tier(500, 5))
    assert [weight_for(s, tiers) for s in (0, 99, 100, 499, 500, 10_000)] == [1, 1, 2, 2, 5, 5]
    assert weight_for(5, (Tier(10, 3),)) == 0


def test_tiered_parts_always_sum_to_the_pool() -> None:
    rng = random.Random(8)
    config = TieredConfig((Tier(0, 1), Tier(100, 2), Tier(300, 7)))
    for _ in range(200):
        scores = {f"c{i}": rng.randint(1, 600) for i in range(rng.randint(1, 12))}
        pool = rng.randint(0, 10**7)
        context = AllocationContext("d", currency("USD"), pool, dict(sorted(scores.items())))
        parts = CALCULATOR.allocate(context, config)
        assert sum(parts.values()) == pool
        assert set(parts) <= set(scores)


def test_bad_tiers_are_refused_naming_the_field(kernel: Kernel) -> None:
    with pytest.raises(InvalidInput, match=r"calculator\.tiers"):
        kernel.create_distributor(distributor(tiers=[]))
    with pytest.raises(InvalidInput, match=r"calculator\.tiers\[0\]\.weight"):
        kernel.create_distributor(distributor(tiers=[{"min_score": 0, "weight": -1}]))
    assert kernel.distributions() == ()


def test_coupons_to_tiered_allocations_and_webhook_lines(
        kernel: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "webhook.jsonl"
    monkeypatch.setenv(LOG_VARIABLE, str(log))
    for name in ("ana", "ben", "cy"):
        kernel.create_collaborator(name)
    kernel.create_distributor(distributor())
    for index in range(12):  # ana: 12 uses → 120 points → tier 2
        use(kernel, f"a{index}", "ana")
    for index in range(3):  # ben: 30 points → tier 1
        use(kernel, f"b{index}", "ben", amount="25.00", currency="USD")
    use(kernel, "c0", "cy")  # cy: 10 points → tier 1
    [done] = kernel.heartbeat(datetime(2026, 2, 1, tzinfo=UTC)).completed
    paid = {a.collaborator: a.amount for a in kernel.allocations(done.id)}
    assert paid == {"ana": 85_714, "ben": 10_714, "cy": 3_572}  # 240 : 30 : 10 of 100000
    assert sum(paid.values()) == done.pool == 100_000
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {line["collaborator"]: line["amount"] for line in lines} == {
        "ana": "857.14", "ben": "107.14", "cy": "35.72"}
    assert {line["event"] for line in lines} == {"allocation_completed"}


TOML = """
[[distributors]]
id = "coupon-bonus"
name = "Coupon bonus"
units = "USD"
schedule = "monthly"
start = "2026-01-01"
pool = { resolver = "fixed", amount = "10.00" }
metrics = [{ type = "coupon", points = 50, credit = { rule = "fixed" } }]

[distributors.calculator]
id = "tiered"
tiers = [{ min_score = 0, weight = 1 }, { min_score = 100, weight = 2 }]
"""


def test_the_documented_toml_configuration_works(kernel: Kernel) -> None:
    [spec] = tomllib.loads(TOML)["distributors"]
    kernel.create_distributor(spec)
    kernel.create_collaborator("ana")
    kernel.create_collaborator("ben")
    use(kernel, "a1", "ana")
    use(kernel, "a2", "ana")  # 100 points → weight 2 → 200
    use(kernel, "b1", "ben")  # 50 points → weight 1 → 50
    [done] = kernel.heartbeat(datetime(2026, 2, 1, tzinfo=UTC)).completed
    assert {a.collaborator: a.amount for a in kernel.allocations(done.id)} == {
        "ana": 800, "ben": 200}
