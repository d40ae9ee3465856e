"""Obligations and fulfillment: from allocation to paid, never losing or double-paying money.

An obligation is money owed to a collaborator. It is issued ``pending`` (from an allocation
of a distribution, or from any other source through :meth:`ObligationService.issue`),
approved by hand or automatically when its distributor's hold period ends, and fulfilled
only when a payout holding it is marked paid. Every status change is written to the
``obligation_audit`` table with who made it, when and why; events fire after the commit.

Statuses have one canonical spelling each (:data:`STATUSES`); Siren's aliases and bulk
action names are mapped at the edges by :func:`canonical_status` and :func:`target_of`.
See ``docs/obligations.md`` for the lifecycle, bulk outcomes, fulfillment and CSV export.

Concurrency. Every transaction that changes rows takes its row locks (``FOR UPDATE`` on
PostgreSQL) in one order: the fulfillment, then its payouts by id, then obligations by id,
all of an operation's obligations in one ascending pass (the ids it names, not just those
it will change). Rows a transaction creates are invisible to the others until it commits.
PostgreSQL may still pick a deadlock or serialization victim (foreign-key checks take
locks of their own): each operation is one unit of work that
:func:`~siren_core.store.engine.retrying` runs again a few times, and a victim whose
attempts are spent is a :class:`Conflict` that changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from siren_core import outbox
from siren_core.domain import (
    MAX_AMOUNT,
    Obligation,
    ObligationChange,
    check_bounded,
)
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import (
    EventBus,
    ObligationIssued,
    ObligationStatusChanged,
)
from siren_core.money import currency
from siren_core.obligations.values import (
    FINAL_STATUSES,
    MAX_ACTOR,
    TRANSITIONS,
    BulkResult,
    IllegalTransition,
    ObligationOutcome,
    canonical_status,
    id_list,
    note_text,
    store_key,
    target_of,
)
from siren_core.store import (
    Connection,
    Engine,
    IntegrityError,
    retrying,
    single_read,
    unit_of_work,
)
from siren_core.store import obligation_queries as oq


def _refusal(key: int, state: oq.StateRow | None, target: str) -> str | None:
    """Why ``key`` cannot move to ``target`` (``None``: it can)."""
    if state is None:
        return "no such obligation"
    status, payout_key = state
    if status in FINAL_STATUSES:
        return f"{status} is final"
    if target == "fulfilled":
        return "only a paid payout fulfils an obligation (mark its payout paid)"
    if target not in TRANSITIONS[status]:
        return f"cannot go from {status} to {target}"
    if payout_key is not None:
        return f"is in open payout {payout_key}; mark that payout paid or failed first"
    return None


def _outcome(key: int, state: oq.StateRow | None, target: str) -> ObligationOutcome:
    if state is not None and state[0] == target:
        return ObligationOutcome(key, "skipped", target, target, f"already {target}")
    reason = _refusal(key, state, target)
    previous = None if state is None else state[0]
    if reason is not None:
        return ObligationOutcome(key, "refused", previous, previous, reason)
    return ObligationOutcome(key, "done", target, previous)

def _cutoff(now: datetime, hold_days: int) -> datetime | None:
    """Obligations issued at or before this moment have served ``hold_days``; ``None``
    when that moment is before the calendar's first day (a hold stored before holds were
    bounded), so none has."""
    try:
        return now - timedelta(days=hold_days)
    except OverflowError:
        return None

def announce_status_changes(engine: Engine, bus: EventBus, keys: Sequence[int],
                            previous: Mapping[int, str], actor: str,
                            reason: str | None) -> None:
    """Fire ``ObligationStatusChanged`` for committed changes of the obligations ``keys``
    (``previous``: each one's status before); nothing is read back when no one listens."""
    if not keys or not bus.listening:
        return
    with unit_of_work(engine, write=False) as conn:
        events = status_change_events(conn, keys, previous, actor, reason)
    bus.dispatch_all(events)


def status_change_events(conn: Connection, keys: Sequence[int], previous: Mapping[int, str],
                         actor: str, reason: str | None) -> list[ObligationStatusChanged]:
    """``ObligationStatusChanged`` of the obligations ``keys``, as ``conn`` sees them."""
    values = oq.list_obligations(conn, ids=keys) if keys else []
    return [ObligationStatusChanged(obligation=value, from_status=previous[value.id],
                                    actor=actor, reason=reason) for value in values]


class ObligationService:
    """The obligation lifecycle over one engine; events go to ``bus`` after each commit."""

    def __init__(self, engine: Engine, bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._bus = bus
        self._clock = clock

    # -- reading -----------------------------------------------------------------------

    def get(self, obligation_id: int) -> Obligation:
        key = store_key(obligation_id, "obligation")
        with unit_of_work(self._engine, write=False) as conn:
            found = oq.list_obligations(conn, ids=[key])
        if not found:
            raise NotFound("obligation", obligation_id)
        return found[0]

    def find(self, *, collaborator: str | None = None, status: str | None = None,
             award_type: str | None = None, payout_id: int | None = None,
             source: str | None = None, ids: Sequence[int] | None = None
             ) -> list[Obligation]:
        wanted = None if status is None else canonical_status(status)
        chosen = None if ids is None else id_list(ids, "ids")
        with unit_of_work(self._engine, write=False) as conn:
            return oq.list_obligations(conn, ids=chosen, collaborator_id=collaborator,
                                       status=wanted, award_type=award_type,
                                       payout_id=payout_id, source=source)

    def history(self, obligation_id: int) -> list[ObligationChange]:
        key = store_key(obligation_id, "obligation")
        with unit_of_work(self._engine, write=False) as conn:
            if not oq.list_obligations(conn, ids=[key]):
                raise NotFound("obligation", obligation_id)
            return oq.history(conn, key)

    # -- issuing -----------------------------------------------------------------------

    def issue(self, collaborator: str, amount: int, units: str, *, source: str,
              source_id: int, award_type: str = "manual", actor: str = "api",
              reason: str | None = None) -> Obligation:
        """Issue a pending obligation from a source other than a distribution.

        ``(source, source_id)`` is the idempotency key: issuing the same one again with
        the same content returns the existing obligation (and fires nothing); with other
        content it is a :class:`Conflict`.
        """
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidInput("amount", amount, "is not a positive int of minor units")
        check_bounded("amount", amount, 1, MAX_AMOUNT)
        currency(units, field="units")
        note_text(source, "source", limit=32, required=True)
        if source == "allocation":
            raise InvalidInput("source", source, "is reserved for distributions' allocations")
        store_key(source_id, "source_id")
        note_text(award_type, "award_type", limit=32, required=True)
        note_text(actor, "actor", limit=MAX_ACTOR, required=True)
        note_text(reason, "reason")
        if not isinstance(collaborator, str):
            raise InvalidInput("collaborator", collaborator, "is not a collaborator id")
        now = self._clock()

        def insert() -> Obligation | int:
            with unit_of_work(self._engine) as conn:
                existing = self._existing(conn, collaborator, amount, units, source,
                                          source_id, award_type)
                if existing is not None:
                    return existing
                collaborator_key = oq.collaborator_key(conn, collaborator)
                if collaborator_key is None:
                    raise InvalidInput("collaborator", collaborator, "does not exist")
                key = oq.insert_obligation(
                    conn, collaborator_key=collaborator_key, amount=amount, units=units,
                    source=source, source_id=source_id, award_type=award_type, now=now)
                oq.insert_audit(conn, [(key, None, "pending", reason or f"issued by {source}",
                                        None)], actor, now)
                outbox.record(conn, lambda: [ObligationIssued(
                    obligation=oq.list_obligations(conn, ids=[key])[0])])
                return key

        try:
            outcome = retrying(self._engine, insert)
        except IntegrityError as exc:
            # a concurrent issue of the same key committed first: its obligation is the
            # answer, as if this call had come second
            with unit_of_work(self._engine, write=False) as conn:
                existing = self._existing(conn, collaborator, amount, units, source,
                                          source_id, award_type)
            if existing is None:
                raise Conflict(f"obligation for {source} #{source_id} could not be issued: "
                               "a concurrent change got in the way; try again") from exc
            return existing
        if isinstance(outcome, Obligation):
            return outcome
        issued = self.get(outcome)
        self._bus.dispatch_all([ObligationIssued(obligation=issued)])
        return issued

    @staticmethod
    def _existing(conn: Connection, collaborator: str, amount: int, units: str, source: str,
                  source_id: int, award_type: str) -> Obligation | None:
        key = oq.obligation_by_source(conn, source, source_id)
        if key is None:
            return None
        found = oq.list_obligations(conn, ids=[key])[0]
        if (found.collaborator, found.amount, found.units, found.award_type) != (
                collaborator, amount, units, award_type):
            raise Conflict(f"obligation {key} was already issued for {source} #{source_id} "
                           "with other content")
        return found

    # -- approval ----------------------------------------------------------------------

    def apply(self, action: str, ids: Iterable[int], *, actor: str = "api",
              reason: str | None = None) -> BulkResult:
        """Move each obligation in ``ids`` to the status ``action`` names.

        One transaction; every id gets an outcome (unknown ids are ``refused``); an id
        that is refused changes nothing and does not stop the others.
        """
        target = target_of(action)
        keys = id_list(ids, "ids")
        note_text(actor, "actor", limit=MAX_ACTOR, required=True)
        note_text(reason, "reason")
        now = self._clock()

        def move() -> tuple[dict[int, oq.StateRow], list[ObligationOutcome], list[int]]:
            with unit_of_work(self._engine) as conn:
                states = oq.lock_obligations(conn, keys)
                outcomes = [_outcome(key, states.get(key), target) for key in keys]
                changed = sorted({o.id for o in outcomes if o.outcome == "done"})
                for before in sorted({states[key][0] for key in changed}):
                    oq.move_obligations(conn, [key for key in changed
                                               if states[key][0] == before],
                                        before, target, actor, reason, now)
                outbox.record(conn, lambda: status_change_events(
                    conn, changed, {key: states[key][0] for key in changed}, actor, reason))
            return states, outcomes, changed

        states, outcomes, changed = retrying(self._engine, move)
        self._fire_changes(changed, states, actor, reason)
        return BulkResult(target, tuple(self._dedupe(outcomes)))

    @staticmethod
    def _dedupe(outcomes: Sequence[ObligationOutcome]) -> list[ObligationOutcome]:
        """An id given twice is reported once (its first outcome)."""
        seen: set[int] = set()
        result = []
        for outcome in outcomes:
            if outcome.id not in seen:
                seen.add(outcome.id)
                result.append(outcome)
        return result

    def _fire_changes(self, changed: Sequence[int], states: Mapping[int, oq.StateRow],
                      actor: str, reason: str | None) -> None:
        announce_status_changes(self._engine, self._bus, changed,
                                {key: states[key][0] for key in changed}, actor, reason)

    def set_status(self, obligation_id: int, action: str, *, actor: str = "api",
                   reason: str | None = None) -> Obligation:
        """One obligation: like :meth:`apply`, but a refusal raises (``NotFound`` or
        :class:`IllegalTransition`); already being there is fine."""
        key = store_key(obligation_id, "obligation")
        outcome = self.apply(action, [key], actor=actor, reason=reason).outcomes[0]
        if outcome.outcome == "refused":
            if outcome.status is None:
                raise NotFound("obligation", obligation_id)
            raise IllegalTransition("obligation", key, outcome.reason or "refused")
        return self.get(key)

    def approve_held(self, now: datetime) -> tuple[int, ...]:
        """Approve pending distribution obligations whose distributor's hold period ended."""
        with single_read(self._engine) as conn:
            holds = oq.hold_periods(conn)
        if not holds:
            return ()
        keys = retrying(self._engine, lambda: self._approve_held(holds, now))
        self._fire_changes(keys, {key: ("pending", None) for key in keys}, "heartbeat",
                           "hold period ended")
        return tuple(keys)

    def _approve_held(self, holds: Mapping[int, int], now: datetime) -> list[int]:
        """One transaction: find the held obligations of every distributor, lock them all
        in one ascending pass, approve those still pending."""
        with unit_of_work(self._engine) as conn:
            held = {distributor_key: oq.held_obligations(conn, distributor_key, cutoff)
                    for distributor_key, days in sorted(holds.items())
                    if (cutoff := _cutoff(now, days)) is not None}
            states = oq.lock_obligations(conn, [key for keys in held.values() for key in keys])
            changed: list[int] = []
            for distributor_key, keys in held.items():
                still = [key for key in keys if states.get(key, ("", None))[0] == "pending"]
                days = holds[distributor_key]
                oq.move_obligations(conn, still, "pending", "approved", "heartbeat",
                                    f"hold period of {days} days ended", now)
                changed.extend(still)
            outbox.record(conn, lambda: status_change_events(
                conn, sorted(changed), dict.fromkeys(changed, "pending"), "heartbeat",
                "hold period ended"))
        return sorted(changed)

    # -- reconciliation -----------------------------------------------------------

    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(fulfilled obligations, paid payouts), each summed per currency: always equal."""
        with unit_of_work(self._engine, write=False) as conn:
            return oq.fulfilled_totals(conn), oq.paid_totals(conn)
