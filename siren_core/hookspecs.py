"""The plugin contract of siren-core: every hook a plugin can implement.

This module is the hook reference. Each hook's docstring says when it is called, what it
receives, what it must return, and shows a short example. Plugin authors write::

    from siren_core import hookimpl

    @hookimpl
    def siren_trigger_strategies():
        return [TriggerStrategy(...)]

and declare their module in the ``siren`` entry-point group of their distribution::

    [project.entry-points.siren]
    my_plugin = "my_package.my_plugin"

Hooks that define behaviour (``siren_trigger_strategies``, ``siren_credit_rules``,
``siren_pool_resolvers``, ``siren_allocation_calculators``, ``siren_group_structures``,
``siren_transaction_compilers``, ``siren_exchange_rate_providers``) return an iterable of
frozen records from :mod:`siren_core.records`. The kernel collects them through one
gateway that rejects a record of the wrong type and two plugins claiming the same id,
naming both plugins. Hooks evolve by *adding* arguments; an implementation
may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import cattrs
    import click

    from siren_core.events import Event
    from siren_core.records import (
        AllocationCalculator,
        CreditRule,
        ExchangeRateProvider,
        GroupStructure,
        PoolResolver,
        TransactionCompiler,
        TriggerStrategy,
    )

PROJECT = "siren"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def siren_trigger_strategies() -> Iterable[TriggerStrategy]:
    """Return the trigger strategies this plugin provides.

    Called once, when a kernel is built. A trigger strategy turns one kind of source
    event (a sale, a visit, a manual credit, a coupon use…) into
    :class:`~siren_core.records.Metric` records. Its ``id`` is the event ``type`` that
    applications record (``kernel.record("sale", {...})``) and the ``strategy_id`` of the
    ``metrics_triggered`` event. ``event_type`` is an attrs class with at least
    ``id: str`` (the idempotency key) and ``at: datetime`` (timezone-aware).

    Example::

        @attrs.frozen
        class CouponUsed:
            id: str
            at: datetime
            collaborator: str

        @hookimpl
        def siren_trigger_strategies():
            return [TriggerStrategy(
                id="coupon", description="A coupon bound to a collaborator was used",
                event_type=CouponUsed,
                metrics=lambda e: [Metric("coupon", e.collaborator)])]
    """
    raise NotImplementedError


@hookspec
def siren_credit_rules() -> Iterable[CreditRule]:
    """Return the credit rules this plugin provides.

    Called once, when a kernel is built. A credit rule decides, for one metric recorded on
    one distributor, which collaborators are credited and with how many points. It
    receives a :class:`~siren_core.records.CreditContext` and its structured
    configuration, and returns :class:`~siren_core.records.Credit` records:
    ``collaborator`` an external id (``str``), ``points`` an ``int`` the store can keep
    (within ±(2**63 - 1)), ``layer`` an ``int`` from 0 (the actor) to 2**31 - 1; anything
    else is the rule's fault, and the event is rejected naming the rule. Credits for
    collaborators that are not eligible are dropped by the kernel. A rule that gives the
    acting collaborator the points should take :func:`~siren_core.records.credit_actor`
    as its ``credit``: the kernel knows that function's answer and plans it without a
    call (the built-in ``fixed`` rule does).

    Example::

        @hookimpl
        def siren_credit_rules():
            return [CreditRule(id="double", description="Twice the points to the actor",
                               credit=lambda ctx, cfg: [Credit(ctx.actor, 2 * ctx.points)])]
    """
    raise NotImplementedError


@hookspec
def siren_pool_resolvers() -> Iterable[PoolResolver]:
    """Return the pool resolvers this plugin provides.

    Called once, when a kernel is built. A pool resolver decides how much a period
    distributes. ``resolve(context, config)`` receives a
    :class:`~siren_core.records.PoolContext` (currency, period bounds, qualifying
    revenue) and returns a non-negative ``int`` of minor units.

    Example::

        @hookimpl
        def siren_pool_resolvers():
            return [PoolResolver(id="hundred", description="Always 100.00",
                                 resolve=lambda ctx, cfg: 100 * 10 ** ctx.currency.exponent)]
    """
    raise NotImplementedError


@hookspec
def siren_allocation_calculators() -> Iterable[AllocationCalculator]:
    """Return the allocation calculators this plugin provides.

    Called once, when a kernel is built. ``allocate(context, config)`` receives an
    :class:`~siren_core.records.AllocationContext` (the pool, every positive score of
    the period and the period itself: start, end, time zone, configuration version) and
    returns collaborator id → amount in minor units, or
    :class:`~siren_core.records.Decline` when no one qualifies. The amounts must sum
    exactly to the pool; use :func:`siren_core.money.split` for exact, deterministic
    splits. The context's ``scores_by_metric``, ``credits`` (each credit's time,
    collaborator, metric type, points and source event) and ``history`` (the
    distributor's earlier periods: scores and amounts) are read from the store only if
    the calculator uses them, in the transaction distributing the period: use them
    during the call only. The built-in ``recent``, ``balanced`` and ``streak`` use them.

    Example::

        @hookimpl
        def siren_allocation_calculators():
            return [AllocationCalculator(
                id="weighted", description="Pool split by score",
                allocate=lambda ctx, cfg: money.split(ctx.pool, ctx.scores))]
    """
    raise NotImplementedError


@hookspec
def siren_group_structures() -> Iterable[GroupStructure]:
    """Return the collaborator group structures this plugin provides.

    Called once, when a kernel is built. A group structure declares its capabilities
    (``has_layer``: cascade credit rules need it) and ``build(group_id, roster)`` turns
    the roster (collaborator id → member metadata) into a read-only
    :class:`~siren_core.records.GroupView` whose ``upline`` / ``downline`` walkers yield
    ``(layer, collaborator)`` pairs nearest first. Walk iteratively (no recursion: groups
    may hold 100,000 members). ``check(roster)``, if given, runs whenever members,
    metadata or the structure change and raises ``InvalidInput`` to refuse the change
    (``parent_child`` refuses cycles). See docs/groups.md.

    Example::

        @hookimpl
        def siren_group_structures():
            return [GroupStructure(id="flat", description="Peers", capabilities=frozenset(),
                                   build=FlatGroup)]
    """
    raise NotImplementedError


@hookspec
def siren_transaction_compilers() -> Iterable[TransactionCompiler]:
    """Return the transaction compilers this plugin provides.

    Called once, when a kernel is built. A transaction compiler decides which lines of a
    sale (``product``, ``fee``, ``shipping``, ``tax``, ``discount``; see
    :class:`~siren_core.records.RevenueLine`) count towards a distributor's qualifying
    revenue, the revenue that revenue-based pool resolvers see as
    ``PoolContext.revenue``. A distributor enables compilers by id in its ``revenue``
    table (``revenue = { compilers = ["line_items", "discounts"] }``); a line counts
    (once) when at least one enabled compiler's ``includes(line, context)`` returns true.
    Discount lines are subtracted, all other lines added. ``context`` is a
    :class:`~siren_core.records.CompilerContext` holding the distributor's line-item
    filters (``skus``, ``categories``, ``types``). Qualifying revenue is computed when a
    sale is recorded, so ``includes`` must be a pure function of its arguments.

    Example::

        @hookimpl
        def siren_transaction_compilers():
            return [TransactionCompiler(
                id="gift_wrap", description="Gift-wrapping fees",
                includes=lambda line, ctx: line.kind == "fee" and line.sku == "gift-wrap")]
    """
    raise NotImplementedError


@hookspec
def siren_exchange_rate_providers() -> Iterable[ExchangeRateProvider]:
    """Return the exchange-rate providers this plugin provides.

    Called once, when a kernel is built. When a sale's currency differs from a
    distributor's units and the distributor needs its money (a revenue pool, or points
    by ``value = "amount"``), the kernel asks the providers for the rate base → quote
    (sale currency → distributor units) in force at the sale's time: ``rate(request)``
    receives a :class:`~siren_core.records.RateRequest` (``base``, ``quote``, ``at`` and
    ``stored``, a read-only lookup of the rates kept in the store) and returns an exact
    positive :class:`~decimal.Decimal`, or ``None`` for "not known". It is never called
    for a sale in the distributor's own units.

    **Order.** Providers are asked by ``priority``, highest first, then by id; the first
    answer that is not ``None`` wins and the others are not asked. Two providers that
    would disagree are not an error: rates from two sources legitimately differ in their
    last digits, and asking every provider for every sale would call a remote feed even
    when the configured rate answers. The answer is deterministic (a fixed order) and
    auditable: the rate and the provider's id are stored with the credits it converted.
    The built-in ``exchange_rates`` provider (rates of ``[[exchange_rates]]`` and
    ``siren rates set``) has priority 100, so an operator's explicit rates win over a
    provider of the default priority 0; a provider meant to override them takes a higher
    one. No provider answering is a refusal (``InvalidInput`` naming the pair and the
    time); rates are never inverted (a USD → EUR rate does not answer EUR → USD).

    A provider must answer from its arguments and data it holds (never the store's
    tables): the same question must get the same answer while a transaction runs.

    Example::

        FIXED = {("EUR", "USD"): Decimal("1.0850")}

        @hookimpl
        def siren_exchange_rate_providers():
            return [ExchangeRateProvider(
                id="fixed_rates", description="Rates agreed with the bank",
                rate=lambda request: FIXED.get((request.base.code, request.quote.code)))]
    """
    raise NotImplementedError


@hookspec
def siren_on_event(event: Event, kernel: Any) -> None:
    """React to an event after the transaction that produced it has committed.

    Called once per event, for every plugin implementing it. ``event`` is one of the
    classes of :mod:`siren_core.events`; compare ``event.event_id`` or use
    ``isinstance``. ``kernel`` is the :class:`~siren_core.kernel.Kernel` that dispatched
    it. An exception is logged with the plugin's name and does not stop other listeners.

    Example::

        @hookimpl
        def siren_on_event(event):
            if event.event_id == "allocation_completed":
                print(event.allocation.collaborator, event.allocation.amount)
    """
    raise NotImplementedError


@hookspec
def siren_cli_commands(cli: click.Group) -> None:
    """Add commands to the ``siren`` command line.

    Called when the ``siren`` command starts, with the root :class:`click.Group`.

    Example::

        @hookimpl
        def siren_cli_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello")
    """
    raise NotImplementedError


@hookspec
def siren_configure_converter(converter: cattrs.Converter) -> None:
    """Register cattrs hooks on the kernel's configuration converter.

    Called once per kernel, after the built-in hooks are registered, so that a plugin's
    configuration classes can use types of its own.

    Example::

        @hookimpl
        def siren_configure_converter(converter):
            converter.register_structure_hook(Percent, lambda v, _: Percent(v))
    """
