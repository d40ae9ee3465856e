"""Domain values: what the kernel returns to applications and hands to listeners.

These are frozen attrs classes; the store's SQLModel tables never leave the store.
Collaborators and distributors are named by their external ids (strings chosen by the
application); distributions, allocations and obligations by the store's integer ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import attrs

from siren_core.errors import InvalidInput
from siren_core.frozen import faster_init
from siren_core.money import INT64_MAX
from siren_core.schedule import Schedule

COLLABORATOR_STATUSES = ("active", "pending", "inactive", "rejected", "deleted")
DISTRIBUTOR_STATUSES = ("active", "inactive", "deleted")
LATE_EVENTS = ("next_period", "reject")
"""A distributor's policies for events whose period was already distributed."""
UNALLOCATED = ("forfeit", "carry_forward")
"""A distributor's policies for the pool of a period that allocated nothing."""
ELIGIBILITIES = ("all_active", "members")


IDENTIFIER_LENGTH = 255
"""The longest external id (collaborator, distributor, group, event) the store keeps."""

# -- numeric bounds ----------------------------------------------------------------------
# Every configured number is bounded where it is accepted. The bounds are far above what a
# real program uses, and low enough that their products and sums over millions of rows
# stay below 2**63 - 1, the largest integer the store keeps (docs/configuration.md).

STORABLE_MAX = INT64_MAX
"""The largest integer a store column holds (signed 64-bit)."""
INTEGER_MAX = 2 ** 31 - 1
"""The largest value of the store's 32-bit ``INTEGER`` columns (store ids, credit layers)."""
LAYER_MAX = INTEGER_MAX
"""The deepest layer a credit can be in (0 is the actor)."""
MAX_POINTS = 1_000_000
"""Points per event of a metric type, and per layer of a cascade."""
MAX_QUANTITY = 1_000_000
"""The quantity of one manual credit (points × quantity ≤ 10**12 per credit)."""
MAX_AMOUNT = 10**15
"""Minor units of a fixed pool, a minimum payout or an issued obligation (10**13 dollars)."""
MAX_HOLD_DAYS = 36_500
"""A hold period of a hundred years."""
MAX_CATCH_UP_LIMIT = 100_000
"""Periods one heartbeat distributes for one distributor."""
MAX_LAYERS = 1_000
"""Layers a cascade walks (``max_layers``)."""
MAX_INTERVAL = 1_000
"""Frequencies to a period (``every``)."""


def check_bounded(field: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``, else an
    :class:`InvalidInput` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, value, "is not an integer")
    if not low <= value <= high:
        raise InvalidInput(field, value, f"must lie between {low:_} and {high:_}")
    return value


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (a NUL, a lone surrogate), or ``None``."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def check_identifier(field: str, value: Any) -> str:
    """An external id: a non-empty string of at most 255 characters that can be stored."""
    if (type(value) is str and value.isascii() and 0 < len(value) <= IDENTIFIER_LENGTH
            and "\x00" not in value and not value.isspace()):
        return value  # the common case, decided without the calls below (every event)
    if not isinstance(value, str):
        raise InvalidInput(field, value, "must be a non-empty string")
    return check_text(field, value, IDENTIFIER_LENGTH, required=True)


RATE_LENGTH = 40
"""The longest exchange rate text the store keeps (digits and ``.``)."""
NAME_LENGTH = 255
"""The longest name (collaborator, distributor, group, program) the store keeps: the
length of its ``VARCHAR`` column."""
EMAIL_LENGTH = 255
"""The longest collaborator e-mail the store keeps."""
METRIC_TYPE_LENGTH = 64
"""The longest metric type name: the length of ``score_credit.metric_type``."""
DESCRIPTION_LENGTH = 2000
"""The longest description (distributor, group) accepted."""


def check_text(field: str, value: Any, limit: int, *, required: bool = False) -> str:
    """A text field bounded like its column: a string of at most ``limit`` characters
    without NUL or lone surrogate (``required``: not blank).

    PostgreSQL would refuse a longer one with a raw error and SQLite would keep it, so
    both stores are held to the same bound here, where the value is accepted.
    """
    if not isinstance(value, str):
        problem: str | None = "must be a string"
    elif required and not value.strip():
        problem = "must be a non-empty string"
    elif len(value) > limit:
        problem = f"is longer than {limit} characters ({len(value)})"
    else:
        problem = text_problem(value)
    if problem:
        raise InvalidInput(field, value, problem)
    return cast(str, value)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen
class Collaborator:
    id: str
    name: str
    status: str = "active"
    email: str | None = None


@attrs.frozen
class PoolChoice:
    """Which pool resolver a distributor uses, and its configuration."""

    resolver: str
    config: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen
class CalculatorChoice:
    """Which allocation calculator a distributor uses, and its configuration."""

    id: str
    config: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen
class CreditChoice:
    """Which credit rule a metric type uses, and its configuration."""

    rule: str = "fixed"
    config: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)


@attrs.frozen
class MetricTypeSpec:
    """A metric type a distributor tracks: points per event and who is credited.

    ``value = "amount"`` scores a metric by its amount in minor units instead of by
    ``points`` per event.
    """

    type: str
    points: int = 1
    value: str = "points"
    credit: CreditChoice = attrs.field(factory=CreditChoice)


DEFAULT_COMPILERS = ("line_items", "discounts")
"""Transaction compilers a distributor uses when its ``revenue`` table names none.

Net product revenue: product lines minus discounts; fees, shipping and taxes do not count.
(Siren's default counts nothing until compilers are enabled.)"""


@attrs.frozen
class RevenueSpec:
    """Which lines of a sale count towards a distributor's qualifying revenue.

    ``compilers`` are transaction compiler ids; ``skus``, ``categories`` and ``types`` are
    line-item filters (empty: no filter) and need the ``line_items`` compiler.
    """

    compilers: tuple[str, ...] = DEFAULT_COMPILERS
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


@attrs.frozen
class DistributorSpec:
    """Everything that configures a distributor (what ``create_distributor`` takes)."""

    id: str
    name: str
    units: str
    schedule: Schedule
    pool: PoolChoice
    calculator: CalculatorChoice
    metrics: tuple[MetricTypeSpec, ...] = ()
    description: str = ""
    status: str = "active"
    eligibility: str = "all_active"
    catch_up_limit: int | None = None
    """At most this many periods of this distributor per heartbeat (``None``: all due)."""
    revenue: RevenueSpec = attrs.field(factory=RevenueSpec)
    hold_days: int | None = None
    """Pending obligations of this distributor are approved by the heartbeat this many days
    after they were issued (``None``: only manual approval)."""
    collaborators: tuple[str, ...] = ()
    """Collaborators bound directly (``eligibility = "members"``: these plus the bound group)."""
    late_events: str = "next_period"
    """What happens to an event (or a refund's reversal) that falls in a period already
    distributed (one of :data:`LATE_EVENTS`): ``next_period`` counts it in the open period,
    marked late; ``reject`` credits nothing here and writes a ``late_rejected`` skip."""
    unallocated: str = "forfeit"
    """What becomes of the pool of a completed period that allocated nothing (declined by
    the calculator, nobody scored, nobody eligible), one of :data:`UNALLOCATED`:
    ``forfeit`` drops it; ``carry_forward`` adds it to the next period's pool."""

    @property
    def direct_collaborators(self) -> tuple[str, ...] | None:
        """The collaborators bound directly, or ``None`` when there is no direct list
        (eligibility ``all_active``)."""
        return self.collaborators if self.eligibility == "members" else None


def check_spec_bounds(spec: DistributorSpec) -> DistributorSpec:
    """The numeric bounds of a distributor's own fields (its plugins check theirs), and
    its late-events policy."""
    if spec.late_events not in LATE_EVENTS:
        raise InvalidInput("late_events", spec.late_events,
                           f"is not one of {', '.join(LATE_EVENTS)}")
    if spec.unallocated not in UNALLOCATED:
        raise InvalidInput("unallocated", spec.unallocated,
                           f"is not one of {', '.join(UNALLOCATED)}")
    for index, metric in enumerate(spec.metrics):
        check_bounded(f"metrics[{index}].points", metric.points, 0, MAX_POINTS)
    if spec.hold_days is not None:
        check_bounded("hold_days", spec.hold_days, 0, MAX_HOLD_DAYS)
    if spec.catch_up_limit is not None:
        check_bounded("catch_up_limit", spec.catch_up_limit, 1, MAX_CATCH_UP_LIMIT)
    return spec


@attrs.frozen
class Distributor:
    spec: DistributorSpec
    config_version: int

    @property
    def id(self) -> str:
        return self.spec.id


@attrs.frozen
class Distribution:
    """One period ``[period_start, period_end)`` of a distributor.

    ``status`` is ``open`` while the period accrues (and until it is distributed),
    ``completed`` once distributed, ``skipped`` when the distributor was inactive for it.
    ``reason`` says why a completed period allocated nothing (else ``None``).
    ``carried_in`` is the part of ``pool`` carried forward from earlier periods that
    allocated nothing (``unallocated = "carry_forward"``); ``carried_out`` is what this
    period passed on to the next one (its whole pool, or 0). What a completed period with
    a ``reason`` neither allocated nor carried out was forfeited.
    """

    id: int
    distributor: str
    period_index: int
    period_start: datetime
    period_end: datetime
    status: str
    units: str
    pool: int | None = None
    revenue: int | None = None
    reason: str | None = None
    config_version: int | None = None
    calculator: str | None = None
    completed_at: datetime | None = None
    carried_in: int = 0
    carried_out: int = 0

    @property
    def forfeited(self) -> int:
        """What this period allocated to no one and did not carry forward."""
        if self.status != "completed" or self.reason is None or not self.pool:
            return 0
        return self.pool - self.carried_out


@attrs.frozen
class Allocation:
    """One collaborator's share of one distribution, with the inputs that explain it."""

    id: int
    distribution_id: int
    distributor: str
    collaborator: str
    score: int
    amount: int
    units: str
    pool: int
    calculator: str
    config_version: int


@attrs.frozen
class Obligation:
    """Money owed to a collaborator."""

    id: int
    collaborator: str
    amount: int
    units: str
    status: str
    source: str
    source_id: int
    award_type: str
    created_at: datetime
    payout_id: int | None = None
    """The open payout holding it, or the payout that fulfilled it (Siren's ``payoutId``)."""


CREDIT_SKIP_REASONS = ("before_distributor_start", "distributor_inactive", "no_collaborator",
                       "collaborator_not_eligible", "no_credit", "no_open_period",
                       "late_rejected")
"""Why an event credited no one for a distributor that tracks its metric type."""


@attrs.frozen
class CreditSkipped:
    """A distributor that tracks one of the event's metric types but got no credit from
    it, and why (one of :data:`CREDIT_SKIP_REASONS`, stored as a ``credit_skip`` row)."""

    distributor: str
    metric_type: str
    reason: str


@faster_init  # one for every recorded event
@attrs.frozen
class RecordResult:
    """What recording one source event did.

    ``duplicate`` is true when the event's id had been recorded before with the same
    content: nothing was written and ``credits`` and ``skipped`` repeat the first result.
    ``skipped`` names the tracking distributors the event credited nothing, with the
    reason (e.g. ``before_distributor_start`` for an event older than the distributor's
    first period: it belongs to no period; ``late_rejected`` for an event whose period was
    distributed, at a distributor whose ``late_events`` is ``reject``).
    ``late`` counts what the event's lateness decided: its ``score_credit`` rows marked
    late (counted in an open period instead of their own, distributed one; revenue-only
    rows included) plus its ``late_rejected`` skips.
    ``source_event_id`` is the store id of the event's ``source_event`` row (the first
    recording's, for a duplicate), so that a caller in the same transaction need not look
    it up again; ``None`` where a result is not read from the store.
    """

    kind: str
    event_id: str
    credits: int
    duplicate: bool = False
    skipped: tuple[CreditSkipped, ...] = ()
    late: int = 0
    source_event_id: int | None = None


@attrs.frozen
class ObligationChange:
    """One entry of an obligation's audit log (``from_status`` is ``None`` at issue)."""

    id: int
    obligation_id: int
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    at: datetime
    payout_id: int | None = None


@attrs.frozen
class Payout:
    """What one collaborator is paid in one currency by one fulfillment.

    ``status``: ``unpaid`` → ``processing`` → ``paid`` | ``failed``.
    """

    id: int
    fulfillment_id: int
    collaborator: str
    amount: int
    units: str
    status: str
    obligation_ids: tuple[int, ...]
    created_at: datetime
    updated_at: datetime
    reference: str | None = None
    reason: str | None = None
    collaborator_email: str | None = None


@attrs.frozen
class Fulfillment:
    """A batch of payouts: ``pending`` → ``processing`` → ``complete`` | ``failed``."""

    id: int
    status: str
    actor: str
    created_at: datetime
    updated_at: datetime
    payouts: tuple[Payout, ...] = ()

    @property
    def payout_count(self) -> int:
        return len(self.payouts)

    @property
    def totals(self) -> dict[str, int]:
        """Total per currency, over every payout."""
        result: dict[str, int] = {}
        for payout in self.payouts:
            result[payout.units] = result.get(payout.units, 0) + payout.amount
        return result
