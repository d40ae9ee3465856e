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
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from siren_core.domain import Allocation, Distribution
from siren_core.records import Metric

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


Listener = Callable[[Event], None]


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

    def dispatch(self, event: Event) -> None:
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
