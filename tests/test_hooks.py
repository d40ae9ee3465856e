"""One ``test_hook_<name>`` per hook of siren_core/hookspecs.py, each through a real kernel.

Each test registers a small plugin object implementing the hook, exactly as a third party's
module would (``tests/test_docs.py`` fails when a hook has no test here).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import cattrs
import click
import pytest
from click.testing import CliRunner

from siren_core import Kernel, hookimpl
from siren_core.errors import InvalidInput, PluginError
from siren_core.events import Event
from siren_core.money import split, split_equally
from siren_core.plugins import PluginSettings, make_plugin_manager
from siren_core.records import (
    AllocationCalculator,
    AllocationContext,
    Credit,
    CreditContext,
    CreditRule,
    ExchangeRateProvider,
    GroupStructure,
    Metric,
    PoolContext,
    PoolResolver,
    RateRequest,
    RevenueLine,
    TransactionCompiler,
    TriggerStrategy,
)

from conftest import at, monthly, sale

FEB = at("2026-02-01")


def _paid(kernel: Kernel) -> dict[str, int]:
    [done] = kernel.heartbeat(FEB).completed
    return {a.collaborator: a.amount for a in kernel.allocations(done.id)}


@attrs.frozen
class Signup:
    id: str
    at: datetime
    collaborator: str
    seats: int = 1


class Signups:
    @hookimpl
    def siren_trigger_strategies(self) -> list[TriggerStrategy]:
        return [TriggerStrategy(
            id="signup", description="A referred customer signed up", event_type=Signup,
            metrics=lambda e: [Metric("signup", e.collaborator, quantity=e.seats)])]


def test_hook_siren_trigger_strategies(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[Signups()])
    kernel.create_collaborator("ana")
    kernel.create_collaborator("ben")
    kernel.create_distributor(monthly(metrics=[
        {"type": "signup", "points": 5, "credit": {"rule": "fixed"}}]))
    kernel.record("signup", {"id": "s1", "at": "2026-01-03T10:00:00Z", "collaborator": "ana",
                             "seats": 3})
    kernel.record("signup", {"id": "s2", "at": "2026-01-03T10:00:00Z", "collaborator": "ben"})
    assert _paid(kernel) == {"ana": 75_000, "ben": 25_000}  # 15 : 5 points
    with pytest.raises(InvalidInput, match="seats"):
        kernel.record("signup", {"id": "s3", "at": "2026-01-03T10:00:00Z",
                                 "collaborator": "ana", "seats": "many"})


class Double:
    @hookimpl
    def siren_credit_rules(self) -> list[CreditRule]:
        def credit(context: CreditContext, _config: Any) -> list[Credit]:
            return [Credit(context.actor, 2 * context.points)]

        return [CreditRule(id="double", description="Twice the points to the actor",
                           credit=credit)]


def test_hook_siren_credit_rules(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[Double()])
    kernel.create_collaborator("ana")
    kernel.create_collaborator("ben")
    kernel.create_distributor(monthly(metrics=[
        {"type": "sale", "points": 10, "credit": {"rule": "double"}}]))
    kernel.record("sale", sale("o1", "ana", "10.00"))
    preview = kernel.preview("monthly-bonus", at("2026-01-20"))
    assert [(a[1], a[2]) for a in preview.outcome.allocations] == [("ana", 20)]


class Hundred:
    @hookimpl
    def siren_pool_resolvers(self) -> list[PoolResolver]:
        def resolve(context: PoolContext, _config: Any) -> int:
            return 100 * 10 ** context.currency.exponent

        return [PoolResolver(id="hundred", description="Always 100.00", resolve=resolve)]


def test_hook_siren_pool_resolvers(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[Hundred()])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(units="JPY", pool={"resolver": "hundred"}))
    kernel.record("sale", sale("o1", "ana", "1000", currency="JPY"))
    assert _paid(kernel) == {"ana": 100}  # JPY has no minor unit


class EveryoneEqual:
    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        def allocate(context: AllocationContext, _config: Any) -> dict[str, int]:
            return split_equally(context.pool, context.scores)

        return [AllocationCalculator(id="everyone_equal", description="Equal parts",
                                     allocate=allocate)]


def test_hook_siren_allocation_calculators(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[EveryoneEqual()])
    for name in ("ana", "ben", "cy"):
        kernel.create_collaborator(name)
    kernel.create_distributor(monthly(calculator={"id": "everyone_equal"}))
    kernel.record("sale", sale("o1", "ana", "10.00"))
    kernel.record("sale", sale("o2", "ben", "10.00"))
    kernel.record("sale", sale("o3", "ben", "10.00"))
    kernel.record("sale", sale("o4", "cy", "10.00"))
    assert _paid(kernel) == {"ana": 33_334, "ben": 33_333, "cy": 33_333}


@attrs.frozen
class _PairView:
    id: str
    members: frozenset[str]
    capabilities: frozenset[str] = frozenset()

    def upline(self, collaborator: str, counts: Any = None) -> Any:
        return iter(())

    def downline(self, collaborator: str, counts: Any = None) -> Any:
        return iter(())


def _at_most_two(roster: Any) -> None:
    if len(roster) > 2:
        raise InvalidInput("members", sorted(roster), "a pair holds at most two members")


class Pairs:
    @hookimpl
    def siren_group_structures(self) -> list[GroupStructure]:
        return [GroupStructure(id="pair", description="Two collaborators working together",
                               capabilities=frozenset(),
                               build=lambda group, roster: _PairView(group, frozenset(roster)),
                               check=_at_most_two)]


def test_hook_siren_group_structures(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[Pairs()])
    for name in ("ana", "ben", "cy"):
        kernel.create_collaborator(name)
    kernel.create_group("duo", structure="pair")
    kernel.add_group_members("duo", ["ana", "ben"])
    assert kernel.group("duo").structure == "pair"
    with pytest.raises(InvalidInput, match="at most two"):
        kernel.add_group_members("duo", ["cy"])
    assert sorted(m.collaborator for m in kernel.group_members("duo")) == ["ana", "ben"]


class GiftWrap:
    @hookimpl
    def siren_transaction_compilers(self) -> list[TransactionCompiler]:
        def includes(line: RevenueLine, _context: Any) -> bool:
            return line.kind == "fee" and line.sku == "gift-wrap"

        return [TransactionCompiler(id="gift_wrap", description="Gift-wrapping fees",
                                    includes=includes)]


def test_hook_siren_transaction_compilers(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[GiftWrap()])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(
        pool={"resolver": "revenue_percentage", "percent": "50"},
        revenue={"compilers": ["gift_wrap"]}))
    event = sale("o1", "ana", "107.00")
    event["lines"] = [{"kind": "product", "amount": "100.00"},
                      {"kind": "fee", "amount": "4.00", "sku": "gift-wrap"},
                      {"kind": "fee", "amount": "3.00", "sku": "express"}]
    kernel.record("sale", event)
    assert _paid(kernel) == {"ana": 200}  # half of the 4.00 gift-wrap fee


class BankRates:
    """A third party's provider: a fixed bank rate, a tenth above the stored one when the
    store has one (it may read the stored rates through the request only)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, datetime]] = []

    @hookimpl
    def siren_exchange_rate_providers(self) -> list[ExchangeRateProvider]:
        def rate(request: RateRequest) -> Decimal | None:
            self.asked.append((request.base.code, request.quote.code, request.at))
            stored = request.stored(request.base.code, request.quote.code, request.at)
            if stored is not None:
                return stored.rate + Decimal("0.1")
            return Decimal("0.85") if (request.base.code, request.quote.code) == (
                "USD", "EUR") else None

        return [ExchangeRateProvider(id="bank", description="The bank's rates", rate=rate,
                                     priority=500)]


def test_hook_siren_exchange_rate_providers(make_kernel: Any) -> None:
    bank = BankRates()
    kernel = make_kernel(plugins=[bank])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(units="EUR", pool={"resolver": "revenue_percentage",
                                                         "percent": "50"}))
    kernel.set_exchange_rate("GBP", "EUR", "1.15", since="2026-01-01")
    kernel.record("sale", sale("o1", "ana", "100.00", "2026-01-05T10:00:00Z"))       # USD
    kernel.record("sale", sale("o2", "ana", "10.00", "2026-01-06T10:00:00Z", "GBP"))
    kernel.record("sale", sale("o3", "ana", "10.00", "2026-01-07T10:00:00Z", "EUR"))
    assert bank.asked == [("USD", "EUR", at("2026-01-05T10:00")),
                          ("GBP", "EUR", at("2026-01-06T10:00"))]  # never for EUR
    assert _paid(kernel) == {"ana": (8500 + 1250 + 1000) // 2}
    assert [c.rate for c in kernel.credits("ana")] == ["0.85", "1.25", None]


class BadRates:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def siren_exchange_rate_providers(self) -> list[ExchangeRateProvider]:
        return [ExchangeRateProvider(id="bad", description="Answers what it must not",
                                     rate=lambda _request: self.answer)]


@pytest.mark.parametrize("answer", [1.1, Decimal("-1.1"), Decimal("0"), Decimal("NaN"),
                                    Decimal("1." + "1" * 40), "1.1"])
def test_an_exchange_rate_provider_answering_no_positive_decimal_is_a_plugin_error(
        make_kernel: Any, answer: Any) -> None:
    kernel = make_kernel(plugins=[BadRates(answer)])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly(pool={"resolver": "revenue_percentage",
                                            "percent": "50"}))
    counts = kernel.table_counts()
    with pytest.raises(PluginError) as error:
        kernel.record("sale", sale("o1", "ana", "100.00", currency="EUR"))
    assert error.value.plugin == "BadRates" and repr(answer) in str(error.value)
    assert kernel.table_counts() == counts


class Listener:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def siren_on_event(self, event: Event, kernel: Kernel) -> None:
        self.seen.append((event.event_id, kernel))


def test_hook_siren_on_event(make_kernel: Any) -> None:
    listener = Listener()
    kernel = make_kernel(plugins=[listener])
    kernel.create_collaborator("ana")
    kernel.create_distributor(monthly())
    kernel.record("sale", sale("o1", "ana", "10.00"))
    listener.seen.clear()
    kernel.heartbeat(FEB)
    ids = [event_id for event_id, _ in listener.seen]
    assert ids[0] == "distribution_heartbeat_initialized"
    assert {"distribution_completed", "allocation_completed"} <= set(ids)
    assert all(seen is kernel for _, seen in listener.seen)


class Hello:
    @hookimpl
    def siren_cli_commands(self, cli: click.Group) -> None:
        @cli.command()
        @click.argument("name")
        def hello(name: str) -> None:
            """Say hello."""
            click.echo(f"hello {name}")


def test_hook_siren_cli_commands() -> None:
    pm, _ = make_plugin_manager(PluginSettings(), extra_plugins=[Hello()])

    @click.group()
    def root() -> None:
        """A stand-in for the siren group (not to change the real one)."""

    pm.hook.siren_cli_commands(cli=root)
    result = CliRunner().invoke(root, ["hello", "ana"])
    assert result.exit_code == 0 and result.output == "hello ana\n"


@attrs.frozen
class Percent:
    value: Decimal


@attrs.frozen
class Share:
    of_pool: Percent


class PercentPlugin:
    """A calculator whose config uses a type of its own, structured by its converter hook."""

    @hookimpl
    def siren_configure_converter(self, converter: cattrs.Converter) -> None:
        def parse(value: Any, _type: Any) -> Percent:
            if not isinstance(value, str) or not value.endswith("%"):
                raise InvalidInput("of_pool", value, "is not a percentage like '25%'")
            return Percent(Decimal(value[:-1]))

        converter.register_structure_hook(Percent, parse)

    @hookimpl
    def siren_allocation_calculators(self) -> list[AllocationCalculator]:
        def allocate(context: AllocationContext, config: Share) -> dict[str, int]:
            leader = min(context.scores)
            bonus = int(context.pool * config.of_pool.value / 100)
            rest = split(context.pool - bonus, context.scores)
            return {**rest, leader: rest[leader] + bonus}

        return [AllocationCalculator(id="leader_bonus", description="A bonus, then by score",
                                     allocate=allocate, config_type=Share)]


def test_hook_siren_configure_converter(make_kernel: Any) -> None:
    kernel = make_kernel(plugins=[PercentPlugin()])
    kernel.create_collaborator("ana")
    kernel.create_collaborator("ben")
    with pytest.raises(InvalidInput, match=r"calculator\.of_pool"):
        kernel.create_distributor(monthly(calculator={"id": "leader_bonus", "of_pool": 25}))
    kernel.create_distributor(monthly(calculator={"id": "leader_bonus", "of_pool": "20%"}))
    kernel.record("sale", sale("o1", "ana", "10.00"))
    kernel.record("sale", sale("o2", "ben", "10.00"))
    assert _paid(kernel) == {"ana": 60_000, "ben": 40_000}
