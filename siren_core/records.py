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
from typing import Any, Generic, Protocol, Self, TypeVar, overload

import attrs

from siren_core.frozen import faster_init
from siren_core.money import Currency

CollaboratorId = str


@faster_init
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


@faster_init
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


@faster_init
@attrs.frozen
class Credit:
    """Points credited to one collaborator for one metric (``layer`` 0 = the actor, at
    most 2**31 - 1; ``points`` within ±(2**63 - 1))."""

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


@faster_init
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
    A rule that gives the acting collaborator the points should take
    :func:`credit_actor` as its ``credit``: the kernel knows that function's answer and
    plans it without a call.
    """

    id: str
    description: str
    credit: Callable[[CreditContext, Any], Sequence[Credit]]
    config_type: type[Any] | None = None
    requires: frozenset[str] = frozenset()


def credit_actor(context: CreditContext, _config: Any) -> list[Credit]:
    """The acting collaborator gets the points: the built-in ``fixed`` rule's ``credit``.

    A :class:`CreditRule` whose ``credit`` is this very function is planned without the
    call (and without building its :class:`CreditContext`): its answer is known, the
    same row as the call's. A rule of this meaning should use it rather than a copy.
    """
    return [Credit(collaborator=context.actor, points=context.points)]


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
class Period:
    """The period a calculator splits the pool of.

    ``start`` and ``end`` are aware UTC instants bounding the window ``[start, end)``
    (for a preview, ``end`` is the instant previewed); ``timezone`` is the distributor's
    IANA zone, in which its periods' local days begin; ``config_version`` is the
    distributor configuration the period is computed with.
    """

    distributor: str
    start: datetime
    end: datetime
    timezone: str = "UTC"
    config_version: int = 0


@attrs.frozen
class PeriodCredit:
    """One credit counted in the period: ``points`` for ``collaborator``, from one event.

    ``at`` is when the credit counts (the event's time, or the period's start for a late
    credit, then ``late`` is true); ``event_type`` and ``event_id`` name the source event
    (its trigger strategy and the id it was recorded with). Points may be negative (a
    refund's reversal).
    """

    at: datetime
    collaborator: CollaboratorId
    metric_type: str
    points: int
    event_type: str
    event_id: str
    late: bool = False


@attrs.frozen
class PastPeriod:
    """One earlier completed period of the distributor, as it was distributed.

    ``scores`` holds every collaborator whose credits in the period summed above zero
    (whatever their status then or now); ``amounts`` what each was allocated (absent: 0).
    """

    index: int
    start: datetime
    end: datetime
    pool: int
    scores: Mapping[CollaboratorId, int] = attrs.field(factory=dict, hash=False)
    amounts: Mapping[CollaboratorId, int] = attrs.field(factory=dict, hash=False)


_T = TypeVar("_T")
_UNLOADED: Any = object()


class _Lazy(Generic[_T]):
    """A value read through ``load`` the first time it is used, then kept."""

    def __init__(self, load: Callable[[], _T]) -> None:
        self._load = load
        self._value: _T = _UNLOADED

    @property
    def loaded(self) -> bool:
        """Whether the store was read already."""
        return self._value is not _UNLOADED

    def __repr__(self) -> str:
        return f"{type(self).__name__}(loaded={self.loaded})"

    def _get(self) -> _T:
        if self._value is _UNLOADED:
            self._value = self._load()
        return self._value


class _Rows(_Lazy[tuple[_T, ...]], Sequence[_T]):
    """A read-only sequence of records, read through ``load`` on first use."""

    def __init__(self, load: Callable[[], tuple[_T, ...]] = tuple) -> None:
        super().__init__(load)

    @classmethod
    def of(cls, rows: Iterable[_T]) -> Self:
        """A view already loaded with ``rows`` (for tests)."""
        loaded = tuple(rows)
        return cls(lambda: loaded)

    def __iter__(self) -> Iterator[_T]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[_T, ...]: ...

    def __getitem__(self, index: int | slice) -> _T | tuple[_T, ...]:
        return self._get()[index]


class Credits(_Rows[PeriodCredit], Sequence[PeriodCredit]):
    """The period's credits of the collaborators in ``scores``, oldest first, read only.

    Read from the store the first time they are iterated, counted or indexed, in the
    transaction the kernel distributes the period in (use them only during ``allocate``).
    Each collaborator's points sum to their score. ``Credits.of(rows)`` builds a loaded
    view (for tests); ``Credits()`` is empty.
    """


class ScoresByMetric(_Lazy[Mapping[CollaboratorId, Mapping[str, int]]],
                     Mapping[CollaboratorId, Mapping[str, int]]):
    """collaborator → metric type → points, for the collaborators in ``scores``.

    Read from the store (one ``GROUP BY``) the first time it is used; each collaborator's
    points sum to their score. ``ScoresByMetric.of(mapping)`` builds a loaded one.
    """

    def __init__(self, load: Callable[[], Mapping[CollaboratorId, Mapping[str, int]]] = dict
                 ) -> None:
        super().__init__(load)

    @classmethod
    def of(cls, scores: Mapping[CollaboratorId, Mapping[str, int]]) -> ScoresByMetric:
        """A view already loaded with ``scores`` (for tests)."""
        frozen = {name: dict(points) for name, points in scores.items()}
        return cls(lambda: frozen)

    def __getitem__(self, collaborator: CollaboratorId) -> Mapping[str, int]:
        return self._get()[collaborator]

    def __iter__(self) -> Iterator[CollaboratorId]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class History(_Rows[PastPeriod], Sequence[PastPeriod]):
    """The distributor's earlier completed periods (:class:`PastPeriod`), oldest first.

    Read from the store the first time it is used. ``allocated`` is everything the
    distributor allocated so far, ``amounts()`` each collaborator's total,
    ``scores()`` each collaborator's score summed over those periods.
    ``History.of(periods)`` builds a loaded one.
    """

    @property
    def allocated(self) -> int:
        """Everything the distributor allocated in its earlier periods (minor units)."""
        return sum(sum(period.amounts.values()) for period in self._get())

    def amounts(self) -> dict[CollaboratorId, int]:
        """collaborator → everything allocated to them in earlier periods."""
        return _totals(period.amounts for period in self._get())

    def scores(self) -> dict[CollaboratorId, int]:
        """collaborator → their scores summed over the earlier periods."""
        return _totals(period.scores for period in self._get())


def _totals(parts: Iterable[Mapping[CollaboratorId, int]]) -> dict[CollaboratorId, int]:
    totals: dict[CollaboratorId, int] = {}
    for part in parts:
        for name, value in part.items():
            totals[name] = totals.get(name, 0) + value
    return dict(sorted(totals.items()))


@attrs.frozen
class AllocationContext:
    """What an allocation calculator sees: the pool, the period and its scores.

    ``scores`` maps each eligible, active collaborator with a score above zero to that
    score; it is ordered by collaborator id. ``period`` says which period (the kernel
    always sets it; ``None`` only in a context built by hand). ``scores_by_metric``,
    ``credits`` and ``history`` are read-only views read from the store only when a
    calculator uses them, so a calculator that does not costs nothing extra; each view's
    ``loaded`` says whether it was read. They are read in the transaction that
    distributes the period: use them during ``allocate`` only.
    """

    distributor: str
    currency: Currency
    pool: int
    scores: Mapping[CollaboratorId, int]
    period: Period | None = None
    scores_by_metric: ScoresByMetric = attrs.field(factory=ScoresByMetric, eq=False)
    """collaborator → metric type → points (lazy)."""
    credits: Credits = attrs.field(factory=Credits, eq=False)
    """The period's credits of the collaborators in ``scores`` (lazy)."""
    history: History = attrs.field(factory=History, eq=False)
    """The distributor's earlier completed periods, with scores and amounts (lazy)."""


@attrs.frozen
class Decline:
    """A calculator's answer when no one qualifies: the period pays no one.

    The period completes with ``reason`` recorded as ``declined:<reason>`` (like Siren's
    fail-closed periods) and its pool is forfeited or carried forward, as the
    distributor's ``unallocated`` says. ``reason`` is machine-readable: 1 to 55 lower-case
    ASCII letters, digits, ``_``, ``-`` or ``.``, starting with a letter or digit
    (``fewer_than_two_scored``); any other is refused like a wrong split.
    """

    reason: str


@attrs.frozen
class AllocationCalculator:
    """Splits a pool among scored collaborators.

    ``allocate`` returns collaborator → amount (minor units), or :class:`Decline` when no
    one qualifies; an empty mapping is taken as ``Decline("empty")``. The kernel refuses a
    result that names a collaborator without a score, holds a negative or non-integer
    amount, or does not sum exactly to the pool (the period rolls back and stays due).
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
