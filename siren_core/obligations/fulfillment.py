"""Fulfillment: approved obligations batched into payouts, one per collaborator and
currency (minimum payouts carried forward, totals the store cannot keep split), payouts and
fulfillments marked processing, paid or failed; a paid payout fulfils its obligations.

Locks follow the order of :mod:`siren_core.obligations.lifecycle`: the fulfillment, then
its payouts by id, then obligations by id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from siren_core import outbox
from siren_core.domain import (
    STORABLE_MAX,
    Fulfillment,
    Obligation,
    Payout,
)
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import (
    Event,
    EventBus,
    FulfillmentCreated,
    FulfillmentStatusChanged,
    ObligationCompleted,
    PayoutCreated,
    PayoutFailed,
    PayoutPaid,
)
from siren_core.obligations.lifecycle import announce_status_changes, status_change_events
from siren_core.obligations.values import (
    FULFILLMENT_STATUSES,
    MAX_ACTOR,
    PAYOUT_STATUSES,
    CarriedForward,
    GenerateResult,
    IllegalTransition,
    ObligationOutcome,
    check_minimum,
    choice,
    id_list,
    note_text,
    store_key,
)
from siren_core.store import Connection, Engine, IntegrityError, retrying, unit_of_work
from siren_core.store import obligation_queries as oq


def _group(rows: Sequence[oq.CandidateRow]
           ) -> dict[tuple[str, str], tuple[int, list[tuple[int, int]]]]:
    """(collaborator id, units) → (collaborator store id, [(obligation id, amount)])."""
    groups: dict[tuple[str, str], tuple[int, list[tuple[int, int]]]] = {}
    for key, collaborator_key, collaborator, units, amount, _status in rows:
        groups.setdefault((collaborator, units), (collaborator_key, []))[1].append((key, amount))
    return dict(sorted(groups.items()))


def _approval(fulfillment_id: int | None) -> str:
    return f"approved to join fulfillment {fulfillment_id} (include_pending)"


def _storable(items: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """``items`` (obligation id, amount) cut, in id order, into runs whose totals the store
    can keep: one run (one payout) unless the total exceeds 2**63 - 1."""
    runs: list[list[tuple[int, int]]] = [[]]
    total = 0
    for item in items:
        if runs[-1] and total + item[1] > STORABLE_MAX:
            runs.append([])
            total = 0
        runs[-1].append(item)
        total += item[1]
    return runs

def _settlement(status: str, actor: str, reference: str | None, reason: str | None) -> str:
    """Check the arguments of marking a payout or a fulfillment; the target status."""
    target = choice(status, ("processing", "paid", "failed"), "status")
    note_text(actor, "actor", limit=MAX_ACTOR, required=True)
    note_text(reference, "reference", limit=255)
    note_text(reason, "reason")
    return target


class FulfillmentService:
    """Fulfillment batches and payouts over one engine; events after each commit."""

    def __init__(self, engine: Engine, bus: EventBus, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._bus = bus
        self._clock = clock

    def generate(self, obligation_ids: Iterable[int] | None = None, *,
                 minimum: Mapping[str, int] | None = None, actor: str = "api",
                 include_pending: bool = False) -> GenerateResult:
        """Batch approved obligations (all, or the chosen ids) into one payout per
        collaborator and currency. A total under ``minimum[units]`` is carried forward.

        ``include_pending`` takes pending obligations too, as Siren's generation does:
        those that join a payout are approved in the same transaction (audited, with
        ``ObligationStatusChanged``); those carried forward stay pending.
        """
        chosen = None if obligation_ids is None else id_list(obligation_ids, "obligation_ids")
        floors = check_minimum(minimum)
        note_text(actor, "actor", limit=MAX_ACTOR, required=True)
        if not isinstance(include_pending, bool):
            raise InvalidInput("include_pending", include_pending, "is not true or false")
        statuses = ("approved", "pending") if include_pending else ("approved",)
        now = self._clock()

        def batch() -> tuple[list[ObligationOutcome], list[CarriedForward], int | None,
                             list[int]]:
            with unit_of_work(self._engine) as conn:
                states = {} if chosen is None else oq.lock_obligations(conn, chosen)
                rows = oq.fulfillable(conn, chosen, statuses=statuses)
                refused = self._unfulfillable(chosen, rows, states, statuses)
                carried, payable = self._split(rows, floors)
                pending = self._pending_in(rows, payable)
                created = (self._create(conn, payable, pending, actor, now) if payable
                           else None)
                if created is not None:
                    outbox.record(conn, lambda: self._generated_events(conn, created, pending,
                                                                       actor))
            return refused, carried, created, pending

        try:
            refused, carried, created, approved = retrying(self._engine, batch)
        except IntegrityError as exc:
            raise Conflict("an obligation was put into another open payout concurrently; "
                           "nothing was generated") from exc
        fulfillment = None if created is None else self.fulfillment(created)
        if fulfillment is not None:
            self._announce_approved(approved, actor, created)
            self._bus.dispatch_all([FulfillmentCreated(fulfillment=fulfillment)])
            self._bus.dispatch_all(PayoutCreated(payout=value) for value in fulfillment.payouts)
        return GenerateResult(fulfillment, tuple(carried), tuple(refused), tuple(approved))

    @staticmethod
    def _pending_in(rows: Sequence[oq.CandidateRow], payable: Sequence[oq.PayoutPlan]
                    ) -> list[int]:
        """The pending obligations among those going into payouts, by id."""
        pending = {row[0] for row in rows if row[5] == "pending"}
        return sorted(key for _c, _u, items in payable for key, _a in items if key in pending)

    @staticmethod
    def _generated_events(conn: Connection, created: int, approved: Sequence[int],
                          actor: str) -> list[Event]:
        """What a new fulfillment reports, in the order its events fire."""
        fulfillment = oq.get_fulfillment(conn, created)
        assert fulfillment is not None
        return [*status_change_events(conn, approved, dict.fromkeys(approved, "pending"),
                                      actor, _approval(created)),
                FulfillmentCreated(fulfillment=fulfillment),
                *(PayoutCreated(payout=value) for value in fulfillment.payouts)]

    def _announce_approved(self, keys: Sequence[int], actor: str,
                           fulfillment_id: int | None) -> None:
        announce_status_changes(self._engine, self._bus, keys, dict.fromkeys(keys, "pending"),
                                actor, _approval(fulfillment_id))

    @staticmethod
    def _unfulfillable(chosen: Sequence[int] | None, rows: Sequence[oq.CandidateRow],
                       states: Mapping[int, oq.StateRow], statuses: Sequence[str]
                       ) -> list[ObligationOutcome]:
        """The chosen ids (all locked already, with their ``states``) not in ``rows``."""
        if chosen is None:
            return []
        taken = {row[0] for row in rows}
        missing = sorted(set(chosen) - taken)
        refused = []
        for key in missing:
            state = states.get(key)
            if state is None:
                reason = "no such obligation"
            elif state[0] not in statuses:
                reason = f"is {state[0]}, not {' or '.join(statuses)}"
            else:
                reason = f"is in open payout {state[1]}"
            status = None if state is None else state[0]
            refused.append(ObligationOutcome(key, "refused", status, status, reason))
        return refused

    @staticmethod
    def _split(rows: Sequence[oq.CandidateRow], floors: Mapping[str, int]
               ) -> tuple[list[CarriedForward], list[tuple[int, str, list[tuple[int, int]]]]]:
        carried: list[CarriedForward] = []
        payable: list[tuple[int, str, list[tuple[int, int]]]] = []
        for (collaborator, units), (collaborator_key, items) in _group(rows).items():
            total = sum(amount for _key, amount in items)
            floor = floors.get(units, 0)
            if total < floor or total <= 0:
                carried.append(CarriedForward(collaborator, units, total, floor,
                                              tuple(key for key, _amount in items)))
            else:
                payable.extend((collaborator_key, units, part) for part in _storable(items))
        return carried, payable

    @staticmethod
    def _create(conn: Connection, payable: Sequence[oq.PayoutPlan], pending: Sequence[int],
                actor: str, now: datetime) -> int:
        fulfillment_key = oq.insert_fulfillment(conn, actor, now)
        oq.move_obligations(conn, pending, "pending", "approved", actor,
                            _approval(fulfillment_key), now)
        payout_keys = oq.insert_payouts(conn, fulfillment_key, payable, now)
        oq.audit_payout_items(conn, payout_keys, "approved", "approved", actor, now,
                              prefix="added to payout ", suffix="", with_fulfillment=True)
        return fulfillment_key

    def fulfillment(self, fulfillment_id: int) -> Fulfillment:
        key = store_key(fulfillment_id, "fulfillment")
        with unit_of_work(self._engine, write=False) as conn:
            found = oq.get_fulfillment(conn, key)
        if found is None:
            raise NotFound("fulfillment", fulfillment_id)
        return found

    def fulfillments(self, *, status: str | None = None) -> list[Fulfillment]:
        if status is not None:
            choice(status, FULFILLMENT_STATUSES, "status")
        with unit_of_work(self._engine, write=False) as conn:
            return oq.list_fulfillments(conn, status=status)

    def payout(self, payout_id: int) -> Payout:
        key = store_key(payout_id, "payout")
        with unit_of_work(self._engine, write=False) as conn:
            found = oq.get_payout(conn, key)
        if found is None:
            raise NotFound("payout", payout_id)
        return found

    def payouts(self, *, fulfillment_id: int | None = None,
                status: str | None = None) -> list[Payout]:
        if status is not None:
            choice(status, PAYOUT_STATUSES, "status")
        with unit_of_work(self._engine, write=False) as conn:
            return oq.list_payouts(conn, fulfillment_id=fulfillment_id, status=status)

    # -- payouts -----------------------------------------------------------------------

    def mark_payout(self, payout_id: int, status: str, *, actor: str = "api",
                    reference: str | None = None, reason: str | None = None) -> Payout:
        """Move one payout to ``processing``, ``paid`` or ``failed``.

        Paid: its obligations become ``fulfilled`` (``ObligationCompleted`` each). Failed:
        they are released, still ``approved``, for a later batch. ``paid`` and ``failed``
        are final; asking for the status a payout already has changes nothing.
        """
        key = store_key(payout_id, "payout")
        target = _settlement(status, actor, reference, reason)
        now = self._clock()

        def settle() -> Payout | tuple[list[tuple[int, str, list[int]]], tuple[int, str] | None]:
            with unit_of_work(self._engine) as conn:
                # lock order everywhere: fulfillment → payout → obligations
                batch = oq.payout_fulfillment(conn, key)
                if batch is None:
                    raise NotFound("payout", payout_id)
                oq.lock_fulfillment(conn, batch)
                state = oq.lock_payout(conn, key)
                assert state is not None
                if state[1] == target:
                    return self._payout_now(conn, key)
                settled = self._move_payouts(conn, [state], target, actor, reference, reason,
                                             now)
                change = self._settle_fulfillment(conn, state[2], now)
                outbox.record(conn, lambda: self._payout_events(conn, settled, change))
                return settled, change

        outcome = retrying(self._engine, settle)
        if isinstance(outcome, Payout):
            return outcome
        self._announce_payouts(*outcome)
        return self.payout(key)

    @staticmethod
    def _payout_now(conn: Connection, key: int) -> Payout:
        found = oq.get_payout(conn, key)
        assert found is not None
        return found

    @staticmethod
    def _move_payouts(conn: Connection, states: Sequence[oq.PayoutState], target: str,
                      actor: str, reference: str | None, reason: str | None,
                      now: datetime) -> list[tuple[int, str, list[int]]]:
        """Move locked payouts to ``target``, set-based; returns [(payout id, new status,
        obligation ids)] for the events."""
        for key, status, _fulfillment in states:
            if status in ("paid", "failed") or (status, target) == ("processing", "unpaid"):
                raise IllegalTransition("payout", key, f"cannot go from {status} to {target}")
        keys = [state[0] for state in states]
        if target == "processing":
            oq.set_payout_status(conn, keys, "processing", now, reference=reference)
            return [(key, "processing", []) for key in keys]
        items = oq.open_items(conn, keys)
        oq.lock_obligations(conn, [item for found in items.values() for item in found])
        paid = target == "paid"
        failure = f": {reason}" if reason else ""
        oq.audit_payout_items(conn, keys, "approved", "fulfilled" if paid else "approved",
                              actor, now, prefix="payout ",
                              suffix=" paid" if paid
                              else f" failed{failure}; back in the approved pool")
        oq.settle_payout_items(conn, keys, sum(len(found) for found in items.values()),
                               paid=paid, now=now)
        oq.set_payout_status(conn, keys, target, now, reference=reference, reason=reason)
        return [(key, target, items[key]) for key in keys]

    @staticmethod
    def _settle_fulfillment(conn: Connection, fulfillment_id: int,
                            now: datetime) -> tuple[int, str] | None:
        """Derive the fulfillment's status from its payouts; (id, old status) if changed."""
        current = oq.lock_fulfillment(conn, fulfillment_id)
        assert current is not None
        statuses = oq.payout_statuses(conn, fulfillment_id)
        if all(status in ("paid", "failed") for status in statuses):
            wanted = "complete" if "paid" in statuses else "failed"
        elif any(status != "unpaid" for status in statuses):
            wanted = "processing"
        else:
            wanted = current
        if wanted == current:
            return None
        oq.set_fulfillment_status(conn, fulfillment_id, wanted, now)
        return fulfillment_id, current

    def _announce_payouts(self, settled: Sequence[tuple[int, str, list[int]]],
                          fulfillment_change: tuple[int, str] | None) -> None:
        if not self._bus.listening:
            return
        with unit_of_work(self._engine, write=False) as conn:
            events = self._payout_events(conn, settled, fulfillment_change)
        self._bus.dispatch_all(events)

    @staticmethod
    def _payout_events(conn: Connection, settled: Sequence[tuple[int, str, list[int]]],
                       fulfillment_change: tuple[int, str] | None) -> list[Event]:
        """What settling payouts reports: per paid payout its completed obligations and
        ``PayoutPaid``, per failed one ``PayoutFailed``, then the fulfillment's change."""
        events: list[Event] = []
        payouts = {p.id: p for p in oq.payouts_by_id(conn, [key for key, *_ in settled])}
        paid = [item for _key, status, items in settled if status == "paid" for item in items]
        fulfilled: dict[int, list[Obligation]] = {}
        for value in oq.list_obligations(conn, ids=paid) if paid else []:
            fulfilled.setdefault(value.payout_id or 0, []).append(value)
        batch = (None if fulfillment_change is None
                 else oq.get_fulfillment(conn, fulfillment_change[0]))
        for key, status, _items in settled:
            if status == "paid":
                events.extend(ObligationCompleted(obligation=o, payout_id=key)
                              for o in fulfilled.get(key, []))
                events.append(PayoutPaid(payout=payouts[key]))
            elif status == "failed":
                events.append(PayoutFailed(payout=payouts[key]))
        if batch is not None and fulfillment_change is not None:
            events.append(FulfillmentStatusChanged(fulfillment=batch,
                                                   from_status=fulfillment_change[1]))
        return events

    def mark_fulfillment(self, fulfillment_id: int, status: str, *, actor: str = "api",
                         reference: str | None = None, reason: str | None = None
                         ) -> Fulfillment:
        """Move every open payout of a fulfillment to ``processing``, ``paid`` or
        ``failed`` (the fulfillment's own status follows from its payouts)."""
        key = store_key(fulfillment_id, "fulfillment")
        target = _settlement(status, actor, reference, reason)
        now = self._clock()

        def settle() -> tuple[list[tuple[int, str, list[int]]], tuple[int, str] | None]:
            with unit_of_work(self._engine) as conn:
                current = oq.lock_fulfillment(conn, key)
                if current is None:
                    raise NotFound("fulfillment", fulfillment_id)
                if current in ("complete", "failed"):
                    raise IllegalTransition("fulfillment", key, f"is {current}, which is final")
                moving = [state for state in oq.open_payouts_of(conn, key)
                          if state[1] != target]
                settled = self._move_payouts(conn, moving, target, actor, reference, reason,
                                             now) if moving else []
                change = self._settle_fulfillment(conn, key, now)
                if change is None and target == "processing" and current == "pending":
                    oq.set_fulfillment_status(conn, key, "processing", now)
                    change = (key, current)
                outbox.record(conn, lambda: self._payout_events(conn, settled, change))
            return settled, change

        self._announce_payouts(*retrying(self._engine, settle))
        return self.fulfillment(key)

