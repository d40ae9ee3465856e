"""Typed records exchanged between the kernel and plugins.

Plugins return the *definition* records (``TriggerStrategy``, ``CreditRule``,
``PoolResolver``, ``AllocationCalculator``, ``GroupStructure``, ``TransactionCompiler``,
``ExchangeRateProvider``) from their hooks, and the
kernel hands them read-only *context* records when it calls them. Every record is a frozen
attrs class: plugins never receive a database session or a table model.

Collaborators are named by their external id (the string an application uses, e.g.
``"alice"``) everywhere a plugin can see them. Money is an ``int`` of minor units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import attrs

from siren_core.money import Currency

CollaboratorId = str


@attrs.frozen
class RevenueLine:
    """One line of a sale's revenue, in minor units of the sale's currency.

    ``kind`` is one of ``product``, ``fee``, ``shipping``, ``tax`` or ``discount``; a discount
    is a positive amount that *reduces* revenue. Transaction compilers decide per
    distributor which lines count towards a revenue pool.
    """

    kind: str
    amount: int
    sku: str | None = None
    category: str | None = None
    type: str | None = None
    """The product type (``physical``, ``digital``…) for the ``types`` line-item filter."""


REVENUE_LINE_KINDS = ("product", "fee", "shipping", "tax", "discount")


@attrs.frozen
class CompilerContext:
    """What a transaction compiler sees besides the line: the distributor's revenue settings.

    ``skus``, ``categories`` and ``types`` are the distributor's line-item filters (empty:
    no filter on that attribute).
    """

    distributor: str
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()


@attrs.frozen
class TransactionCompiler:
    """Decides which lines of a sale count towards a distributor's qualifying revenue.

    ``includes(line, context)`` returns true when this compiler lets ``line`` through. A
    line counts once if at least one of the distributor's enabled compilers includes it;
    ``discount`` lines are subtracted, every other kind is added.
    """

    id: str
    description: str
    includes: Callable[[RevenueLine, CompilerContext], bool]


@attrs.frozen
class Metric:
    """One data point a trigger strategy produced from a source event.

    ``quantity`` multiplies the points a distributor gives the metric type; ``amount``
    (minor units) is used instead when the distributor scores the type by value.
    ``collaborator`` is ``None`` for organic activity: it scores no one but its revenue
    still feeds revenue-based pools.
    """

    metric_type: str
    collaborator: CollaboratorId | None
    quantity: int = 1
    amount: int | None = None
    currency: Currency | None = None
    revenue: tuple[RevenueLine, ...] = ()


class SourceEvent(Protocol):
    """What every source event shape has: an idempotency ``id`` and an aware ``at``."""

    @property
    def id(self) -> str: ...

    @property
    def at(self) -> datetime: ...


def _as_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen
class TriggerStrategy:
    """Turns one kind of source event into metric records.

    ``event_type`` is an attrs class describing the accepted event shape; the kernel
    structures incoming dictionaries into it (validating every field) before calling
    ``metrics(event)``.

    ``metric_types`` names every metric type ``metrics`` may return: a distributor may
    only track a type that some installed strategy declares, so a typo (``"sales"``) is
    refused instead of silently scoring nothing. Left empty (the default, so that
    strategies written before the field keep working), it means ``(id,)``: the strategy
    produces the metric type of its own name, as the built-in ``sale`` and ``visit`` do.
    """

    id: str
    description: str
    event_type: type[Any]
    metrics: Callable[[Any], Sequence[Metric]]
    metric_types: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)

    @property
    def produces(self) -> tuple[str, ...]:
        """The metric types this strategy declares (``(id,)`` when none are given)."""
        return self.metric_types or (self.id,)


@attrs.frozen
class Credit:
    """Points credited to one collaborator for one metric (``layer`` 0 = the actor)."""

    collaborator: CollaboratorId
    points: int
    layer: int = 0


class GroupView(Protocol):
    """A read-only view of the collaborator group bound to a distributor.

    ``upline`` and ``downline`` yield ``(layer, collaborator)`` pairs, nearest first, in
    non-decreasing layer order (layer 1 = nearest), never the starting collaborator, and
    nothing for a collaborator outside the group. ``counts(member)``, when given, says
    whether a member uses up a layer; a member that does not is still yielded, at the
    layer of the next member that does.
    """

    @property
    def id(self) -> str: ...

    @property
    def capabilities(self) -> frozenset[str]: ...

    @property
    def members(self) -> frozenset[CollaboratorId]: ...

    def upline(self, collaborator: CollaboratorId,
               counts: Callable[[CollaboratorId], bool] | None = None,
               ) -> Iterator[tuple[int, CollaboratorId]]: ...

    def downline(self, collaborator: CollaboratorId,
                 counts: Callable[[CollaboratorId], bool] | None = None,
                 ) -> Iterator[tuple[int, CollaboratorId]]: ...


@attrs.frozen
class CreditContext:
    """What a credit rule sees for one metric on one distributor."""

    distributor: str
    metric_type: str
    actor: CollaboratorId
    points: int
    is_eligible: Callable[[CollaboratorId], bool]
    group: GroupView | None = None
    prefetch: Callable[[Iterable[CollaboratorId]], None] | None = None
    """A hint a rule may give before asking ``is_eligible`` about many collaborators: the
    kernel then looks them up in a few batched queries instead of one query each."""


@attrs.frozen
class CreditRule:
    """Decides who is credited, with how many points, when a metric is recorded.

    ``requires`` lists the group capabilities the rule needs (e.g. ``{"has_layer"}``);
    ``config_type`` is the attrs class its configuration is structured into (or ``None``).
    """

    id: str
    description: str
    credit: Callable[[CreditContext, Any], Sequence[Credit]]
    config_type: type[Any] | None = None
    requires: frozenset[str] = frozenset()


@attrs.frozen
class PoolContext:
    """What a pool resolver sees for one period of one distributor."""

    distributor: str
    currency: Currency
    period_start: datetime
    period_end: datetime
    revenue: int
    """Qualifying revenue of the period in minor units (after transaction compilers)."""


@attrs.frozen
class PoolResolver:
    """Decides how much money a period distributes (an ``int`` of minor units, ≥ 0).

    ``uses_revenue`` asks the kernel to track qualifying revenue for distributors using
    this resolver (``PoolContext.revenue`` is always 0 otherwise).
    """

    id: str
    description: str
    resolve: Callable[[PoolContext, Any], int]
    config_type: type[Any] | None = None
    uses_revenue: bool = False
    check: Callable[[Any, Currency], None] | None = None
    """Called when a distributor is configured, to refuse a config its units cannot hold."""


@attrs.frozen
class AllocationContext:
    """What an allocation calculator sees: the pool and the positive scores of the period.

    ``scores`` maps each eligible, active collaborator with a score above zero to that
    score; it is ordered by collaborator id.
    """

    distributor: str
    currency: Currency
    pool: int
    scores: Mapping[CollaboratorId, int]


@attrs.frozen
class Decline:
    """A calculator's answer when no one qualifies: the period pays no one.

    The period completes with ``reason`` recorded (like Siren's fail-closed periods) and
    its pool is forfeited or carried forward, as the distributor's ``unallocated`` says.
    """

    reason: str


@attrs.frozen
class AllocationCalculator:
    """Splits a pool among scored collaborators.

    ``allocate`` returns collaborator → amount (minor units). The kernel refuses a result
    that names a collaborator without a score, holds a negative or non-integer amount, or
    does not sum exactly to the pool.
    """

    id: str
    description: str
    allocate: Callable[[AllocationContext, Any], Mapping[CollaboratorId, int] | Decline]
    config_type: type[Any] | None = None


@attrs.frozen
class GroupStructure:
    """The shape of a collaborator group: capabilities and how to walk it.

    ``build(group_id, roster)`` receives collaborator id → member metadata and returns a
    :class:`GroupView`. ``check(roster)``, if given, runs on the whole roster whenever
    members, metadata or the structure change, and raises
    :class:`~siren_core.errors.InvalidInput` to refuse the change (e.g. a cycle).

    ``metadata_keys`` lists the member metadata keys the structure reads; any other key is
    refused when a member is added or its metadata set. ``None`` (the default, so that
    structures written before the field keep working) accepts any key.
    ``metadata_aliases`` maps other spellings of a key to the one stored (Siren's
    ``parentCollaboratorId`` → ``parent``); metadata is stored and shown canonical.
    """

    id: str
    description: str
    capabilities: frozenset[str]
    build: Callable[[str, Mapping[CollaboratorId, Mapping[str, Any]]], GroupView]
    check: Callable[[Mapping[CollaboratorId, Mapping[str, Any]]], None] | None = None
    metadata_keys: frozenset[str] | None = None
    metadata_aliases: Mapping[str, str] = attrs.field(factory=dict, hash=False)


@attrs.frozen
class ExchangeRate:
    """A stored exchange rate: 1 ``base`` = ``rate`` ``quote``, in force from ``since``
    (00:00 UTC of its ``from`` date) until a later rate of the same pair."""

    base: str
    quote: str
    rate: Decimal
    since: datetime


@attrs.frozen
class RateRequest:
    """What an exchange-rate provider is asked: the rate ``base`` → ``quote`` in force at
    ``at`` (an aware UTC instant: the time of the sale being converted).

    ``stored(base, quote, at)`` looks up the rates kept in the store (``[[exchange_rates]]``
    of the configuration, ``siren rates set``): the one of the pair in force at ``at``, or
    ``None``. It is read-only and costs one query per pair per transaction.
    """

    base: Currency
    quote: Currency
    at: datetime
    stored: Callable[[str, str, datetime], ExchangeRate | None]


@attrs.frozen
class ExchangeRateProvider:
    """Answers "how many ``quote`` is 1 ``base`` at instant ``at``".

    ``rate(request)`` returns an exact, positive :class:`~decimal.Decimal` (never a float),
    or ``None`` when the provider does not know the pair at that instant. Providers are
    asked in order of ``priority`` (highest first, then by id) and the first answer that
    is not ``None`` is used; the kernel stores it, with the provider's id, beside the
    credits it converted.
    """

    id: str
    description: str
    rate: Callable[[RateRequest], Decimal | None]
    priority: int = 0
