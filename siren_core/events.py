"""Event records and their dispatch.

Every event is a frozen attrs class with a stable ``event_id`` string. The kernel
dispatches an event *after* the transaction that made it true has committed, so listeners
only ever see committed facts. Listeners are plugins implementing ``siren_on_event`` or
callables an embedding application passes to ``Kernel.subscribe``.

``DistributionCompleted`` has the event id ``distribution_completed``. Siren itself uses
``distribution_initialized`` for this event (a leftover from when initialisation and
completion were two steps); we kept the name that says what happened and expose Siren's as
``DistributionCompleted.siren_event_id`` for code that bridges the two.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from siren_core.domain import (
    Allocation,
    Collaborator,
    Distribution,
    Distributor,
    Fulfillment,
    Obligation,
    Payout,
)
from siren_core.records import ExchangeRate, Metric

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger(__name__)


@attrs.frozen
class Event:
    """Base class of every event."""

    event_id: ClassVar[str] = "event"


@attrs.frozen
class DistributionHeartbeatInitialized(Event):
    """A heartbeat started; ``now`` is the instant it distributes up to."""

    event_id: ClassVar[str] = "distribution_heartbeat_initialized"
    now: datetime


@attrs.frozen
class DistributionCompleted(Event):
    """A period was distributed and committed (including periods that paid no one)."""

    event_id: ClassVar[str] = "distribution_completed"
    siren_event_id: ClassVar[str] = "distribution_initialized"
    distribution: Distribution


@attrs.frozen
class AllocationCompleted(Event):
    """One allocation of a committed distribution."""

    event_id: ClassVar[str] = "allocation_completed"
    allocation: Allocation


@attrs.frozen
class MetricsTriggered(Event):
    """A trigger strategy recorded metrics from one source event."""

    event_id: ClassVar[str] = "metrics_triggered"
    strategy_id: str
    source_event_id: str
    metrics: tuple[Metric, ...]


@attrs.frozen
class ManualMetricRequested(Event):
    """An operator asked to credit ``collaborator`` (``Kernel.credit_metric``).

    Fired before the ``manual`` source event ``id`` is recorded; the manual trigger
    strategy then credits every active distributor tracking the ``manual`` metric type.
    """

    event_id: ClassVar[str] = "manual_metric_requested"
    collaborator: str
    id: str
    at: datetime


Listener = Callable[[Event], None]


_deferred: ContextVar[list[tuple[EventBus, Event]] | None] = ContextVar(
    "siren_deferred_events", default=None)


@contextmanager
def deferred_events() -> Iterator[None]:
    """Hold back events dispatched inside the block; deliver them, in order, when it ends
    without an exception (and drop them if it raises)."""
    queue: list[tuple[EventBus, Event]] = []
    token = _deferred.set(queue)
    try:
        yield
    finally:
        _deferred.reset(token)
    for bus, event in queue:
        bus.dispatch(event)


class EventBus:
    """Delivers events to plugin listeners and subscribed callables, in that order.

    A listener that raises does not stop delivery to the others and cannot undo the
    committed fact the event reports: the error is logged with the listener's name.
    """

    def __init__(self, hook_caller: pluggy.HookRelay | None, kernel: Any) -> None:
        self._hooks = hook_caller
        self._kernel = kernel
        self._subscribers: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it again."""
        self._subscribers.append(listener)
        return lambda: self._subscribers.remove(listener)

    @property
    def listening(self) -> bool:
        """Whether any listener would receive an event (if not, events need not be built)."""
        return bool(self._subscribers) or bool(
            self._hooks is not None and self._hooks.siren_on_event.get_hookimpls())

    def dispatch_all(self, events: Iterable[Event]) -> None:
        """Deliver several events, in order (see :meth:`dispatch`)."""
        for event in events:
            self.dispatch(event)

    def dispatch(self, event: Event, *, immediately: bool = False) -> None:
        """Deliver ``event`` now, or at the end of an enclosing :func:`deferred_events`.

        ``immediately`` delivers even inside ``deferred_events`` (for events that by
        contract fire before their change, such as ``collaborator_group_deleted``).
        """
        queue = _deferred.get()
        if queue is not None and not immediately:
            queue.append((self, event))
            return
        arguments = {"event": event, "kernel": self._kernel}
        if self._hooks is not None:
            for impl in reversed(self._hooks.siren_on_event.get_hookimpls()):
                wanted = {name: arguments[name] for name in impl.argnames}
                self._deliver(impl.plugin_name, partial(impl.function, **wanted))
        for listener in list(self._subscribers):
            self._deliver(getattr(listener, "__qualname__", repr(listener)),
                          partial(listener, event))
        log.debug("dispatched %s", event.event_id)

    @staticmethod
    def _deliver(name: str, call: Callable[[], object]) -> None:
        try:
            call()
        except Exception:
            log.exception("event listener %s failed", name)


# -- obligations and fulfillment (see docs/obligations.md) -------------------------------

@attrs.frozen
class ObligationIssued(Event):
    """An obligation was created (status ``pending``). ``conversion_id`` is ``None`` for
    obligations from distributions and other non-conversion sources."""

    event_id: ClassVar[str] = "obligation_issued"
    obligation: Obligation
    conversion_id: str | None = None


@attrs.frozen
class ObligationStatusChanged(Event):
    """An obligation moved from ``from_status`` to ``obligation.status`` (approval,
    rejection, cancellation, back to pending); fulfilment fires ``ObligationCompleted``."""

    event_id: ClassVar[str] = "obligation_status_changed"
    obligation: Obligation
    from_status: str
    actor: str
    reason: str | None = None


@attrs.frozen
class ObligationCompleted(Event):
    """The obligation was settled by a paid payout: its status is already ``fulfilled``
    and ``obligation.payout_id`` is set."""

    event_id: ClassVar[str] = "obligation_completed"
    obligation: Obligation
    payout_id: int


@attrs.frozen
class FulfillmentCreated(Event):
    """A new batch of payouts was generated (fires before its ``PayoutCreated`` events)."""

    event_id: ClassVar[str] = "fulfillment_created"
    fulfillment: Fulfillment


@attrs.frozen
class FulfillmentStatusChanged(Event):
    """A fulfillment moved from ``from_status`` to ``fulfillment.status``."""

    event_id: ClassVar[str] = "fulfillment_status_changed"
    fulfillment: Fulfillment
    from_status: str


@attrs.frozen
class PayoutCreated(Event):
    """One payout of a new fulfillment (one per collaborator and currency)."""

    event_id: ClassVar[str] = "payout_created"
    payout: Payout


@attrs.frozen
class PayoutPaid(Event):
    """A payout was marked paid; its obligations are fulfilled."""

    event_id: ClassVar[str] = "payout_paid"
    payout: Payout


@attrs.frozen
class PayoutFailed(Event):
    """A payout failed; its obligations are ``approved`` again and free for a new batch."""

    event_id: ClassVar[str] = "payout_failed"
    payout: Payout


# -- collaborator groups and bindings (see docs/groups.md) --------------------------------
# Groups, distributors and programs are named by their external ids. Every one of these
# fires after commit, except CollaboratorGroupDeleted, which fires *before* the delete so
# that listeners can still read the group and its members.

@attrs.frozen
class CollaboratorGroupCreated(Event):
    """A group was created (its initial members then fire one Added event each)."""

    event_id: ClassVar[str] = "collaborator_group_created"
    group: str


@attrs.frozen
class CollaboratorGroupRenamed(Event):
    """A group's name really changed (a no-op update fires nothing)."""

    event_id: ClassVar[str] = "collaborator_group_renamed"
    group: str
    previous_name: str
    new_name: str


@attrs.frozen
class CollaboratorGroupStructureChanged(Event):
    """A group's structure really changed; member metadata is not migrated."""

    event_id: ClassVar[str] = "collaborator_group_structure_changed"
    group: str
    previous_structure: str
    new_structure: str


@attrs.frozen
class CollaboratorGroupDeleted(Event):
    """A group is about to be deleted: fired before the delete, the group is still readable."""

    event_id: ClassVar[str] = "collaborator_group_deleted"
    group: str


@attrs.frozen
class CollaboratorAddedToCollaboratorGroup(Event):
    """A genuinely new member (re-adding a member fires nothing); metadata as stored."""

    event_id: ClassVar[str] = "collaborator_added_to_collaborator_group"
    group: str
    collaborator: str
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=dict, hash=False)


@attrs.frozen
class CollaboratorRemovedFromCollaboratorGroup(Event):
    """A member left the group (remove, replace, or the collaborator was deleted)."""

    event_id: ClassVar[str] = "collaborator_removed_from_collaborator_group"
    group: str
    collaborator: str


@attrs.frozen
class CollaboratorGroupMemberMetadataChanged(Event):
    """An existing member's metadata was rewritten and differs from before."""

    event_id: ClassVar[str] = "collaborator_group_member_metadata_changed"
    group: str
    collaborator: str
    previous_metadata: Mapping[str, Any] = attrs.field(converter=dict, hash=False)
    new_metadata: Mapping[str, Any] = attrs.field(converter=dict, hash=False)


@attrs.frozen
class DistributorBoundToCollaboratorGroup(Event):
    event_id: ClassVar[str] = "distributor_bound_to_collaborator_group"
    distributor: str
    group: str


@attrs.frozen
class DistributorUnboundFromCollaboratorGroup(Event):
    """A binding that existed was cleared or replaced; ``group`` is the previous group."""

    event_id: ClassVar[str] = "distributor_unbound_from_collaborator_group"
    distributor: str
    group: str


@attrs.frozen
class ProgramBoundToCollaboratorGroup(Event):
    event_id: ClassVar[str] = "program_bound_to_collaborator_group"
    program: str
    group: str


@attrs.frozen
class ProgramUnboundFromCollaboratorGroup(Event):
    """A binding that existed was cleared or replaced; ``group`` is the previous group."""

    event_id: ClassVar[str] = "program_unbound_from_collaborator_group"
    program: str
    group: str


# -- collaborators and distributors: their lifecycle, so that a mirror can reconcile -------
# Fired after commit, and only for a real change (a no-op update fires nothing). Siren
# broadcasts one CollaboratorActionEvent / DistributorActionEvent with an action instead.

@attrs.frozen
class CollaboratorCreated(Event):
    """A collaborator was created; ``collaborator`` is the stored value."""

    event_id: ClassVar[str] = "collaborator_created"
    collaborator: Collaborator


@attrs.frozen
class CollaboratorUpdated(Event):
    """A collaborator's name or email changed; ``collaborator`` is the new value (a status
    change fires ``CollaboratorStatusChanged``)."""

    event_id: ClassVar[str] = "collaborator_updated"
    collaborator: Collaborator
    previous_name: str
    previous_email: str | None


@attrs.frozen
class CollaboratorStatusChanged(Event):
    """A collaborator's status changed (``deleted`` included: it then leaves every group,
    one ``collaborator_removed_from_collaborator_group`` each, fired after this one)."""

    event_id: ClassVar[str] = "collaborator_status_changed"
    collaborator: str
    previous_status: str
    new_status: str


@attrs.frozen
class DistributorCreated(Event):
    """A distributor was created (its first period is open); ``distributor`` holds its
    configuration and ``config_version`` 1."""

    event_id: ClassVar[str] = "distributor_created"
    distributor: Distributor


@attrs.frozen
class DistributorUpdated(Event):
    """A distributor's configuration or status changed (paused, resumed); ``distributor``
    is the new state, ``previous_status`` the status before."""

    event_id: ClassVar[str] = "distributor_updated"
    distributor: Distributor
    previous_status: str


@attrs.frozen
class ExchangeRateSet(Event):
    """An exchange rate was stored (``siren rates set``, ``siren apply``): ``rate`` is the
    rate now in force from ``rate.since``, ``previous`` the one it replaced from that
    date (``None``: a new step of the pair)."""

    event_id: ClassVar[str] = "exchange_rate_set"
    rate: ExchangeRate
    previous: Decimal | None


@attrs.frozen
class DistributorDeleted(Event):
    """A distributor was deleted (status ``deleted``: its history stays readable)."""

    event_id: ClassVar[str] = "distributor_deleted"
    distributor: str
    previous_status: str
