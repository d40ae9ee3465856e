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

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from siren_core.catalog import Catalog
from siren_core.domain import (
    MAX_AMOUNT,
    STORABLE_MAX,
    Fulfillment,
    Obligation,
    ObligationChange,
    Payout,
    check_bounded,
    text_problem,
)
from siren_core.errors import Conflict, InvalidInput, NotFound
from siren_core.events import (
    Event,
    EventBus,
    FulfillmentCreated,
    FulfillmentStatusChanged,
    ObligationCompleted,
    ObligationIssued,
    ObligationStatusChanged,
    PayoutCreated,
    PayoutFailed,
    PayoutPaid,
)
from siren_core.money import currency, format_minor
from siren_core.store import Connection, Engine, IntegrityError, retrying, unit_of_work
from siren_core.store import obligation_queries as oq

STATUSES = ("pending", "approved", "fulfilled", "rejected", "cancelled")
"""Canonical obligation statuses."""

STATUS_ALIASES = {"complete": "fulfilled", "completed": "fulfilled", "draft": "pending",
                  "canceled": "cancelled"}
"""Other spellings found in Siren's data, accepted wherever a status is read."""

ACTIONS = {"approve": "approved", "reject": "rejected", "cancel": "cancelled",
           "markPending": "pending", "markComplete": "fulfilled",
           "mark_pending": "pending", "mark_complete": "fulfilled"}
"""Siren's bulk action names (and snake_case spellings) → the status they set."""

TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"approved", "rejected", "cancelled"}),
    "approved": frozenset({"pending", "rejected", "cancelled", "fulfilled"}),
    "rejected": frozenset({"pending", "approved"}),
    "fulfilled": frozenset(),
    "cancelled": frozenset(),
}
"""Legal moves. ``approved → fulfilled`` happens only when a payout is marked paid."""

FINAL_STATUSES = frozenset({"fulfilled", "cancelled"})
FULFILLMENT_STATUSES = ("pending", "processing", "complete", "failed")
PAYOUT_STATUSES = ("unpaid", "processing", "paid", "failed")

Outcome = Literal["done", "skipped", "refused"]
MAX_TEXT = 1000
MAX_ACTOR = 255


class IllegalTransition(Conflict):
    """A status change the lifecycle does not allow; nothing was changed."""

    def __init__(self, kind: str, key: int, message: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key}: {message}")


# -- vocabulary at the edges -----------------------------------------------------------

def canonical_status(value: Any, *, field: str = "status") -> str:
    """The canonical obligation status for ``value`` (``complete`` → ``fulfilled``...)."""
    if isinstance(value, str):
        status = STATUS_ALIASES.get(value, value)
        if status in STATUSES:
            return status
    raise InvalidInput(field, value, f"is not an obligation status ({', '.join(STATUSES)}; "
                       f"aliases {', '.join(sorted(STATUS_ALIASES))})")


def target_of(action: Any, *, field: str = "action") -> str:
    """The status an action sets: a Siren bulk action name or any status spelling."""
    if isinstance(action, str) and action in ACTIONS:
        return ACTIONS[action]
    if isinstance(action, str) and STATUS_ALIASES.get(action, action) in STATUSES:
        return canonical_status(action)
    raise InvalidInput(field, action, f"is not an obligation action ({', '.join(ACTIONS)}) "
                       "or status")


def _choice(value: Any, allowed: Sequence[str], field: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, value, f"is not one of {', '.join(allowed)}")
    return value


def _text(value: Any, field: str, *, limit: int = MAX_TEXT, required: bool = False
          ) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(field, value, f"must be a non-empty string of at most {limit} "
                           "characters")
    problem = text_problem(value)
    if problem:
        raise InvalidInput(field, value, problem)
    return value


def _ids(values: Any, field: str) -> list[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInput(field, values, "is not a list of obligation ids")
    result: list[int] = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidInput(f"{field}[{index}]", value, "is not an obligation id")
        result.append(value)
    return result


def _key(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(field, value, "is not an id (a positive int)")
    return value


def check_minimum(minimum: Mapping[str, int] | None) -> dict[str, int]:
    """Validate a per-currency minimum payout in minor units (``{"USD": 5000}``)."""
    if minimum is None:
        return {}
    if not isinstance(minimum, Mapping):
        raise InvalidInput("minimum", minimum, "is not a mapping of currency to minor units")
    result: dict[str, int] = {}
    for code, amount in minimum.items():
        currency(code, field="minimum")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise InvalidInput(f"minimum.{code}", amount,
                               "is not an int of minor units, 0 or more")
        check_bounded(f"minimum.{code}", amount, 0, MAX_AMOUNT)
        result[code] = amount
    return result


# -- results ---------------------------------------------------------------------------

@attrs.frozen
class ObligationOutcome:
    """What a bulk action did to one id: ``done``, ``skipped`` (already there) or
    ``refused`` (with ``reason``; nothing changed)."""

    id: int
    outcome: Outcome
    status: str | None
    """The obligation's status after the action (``None``: no such obligation)."""
    previous: str | None = None
    reason: str | None = None


@attrs.frozen
class BulkResult:
    target: str
    outcomes: tuple[ObligationOutcome, ...]

    def _with(self, outcome: Outcome) -> tuple[ObligationOutcome, ...]:
        return tuple(o for o in self.outcomes if o.outcome == outcome)

    @property
    def done(self) -> tuple[ObligationOutcome, ...]:
        return self._with("done")

    @property
    def skipped(self) -> tuple[ObligationOutcome, ...]:
        return self._with("skipped")

    @property
    def refused(self) -> tuple[ObligationOutcome, ...]:
        return self._with("refused")


@attrs.frozen
class CarriedForward:
    """Approved obligations of one collaborator and currency whose total is under the
    minimum payout: they stay approved for a later batch."""

    collaborator: str
    units: str
    amount: int
    minimum: int
    obligation_ids: tuple[int, ...]


@attrs.frozen
class GenerateResult:
    fulfillment: Fulfillment | None
    """The new batch, or ``None`` when nothing was payable."""
    carried_forward: tuple[CarriedForward, ...] = ()
    refused: tuple[ObligationOutcome, ...] = ()
    """Chosen ids that could not go into the batch, and why."""


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


def _group(rows: Sequence[oq.CandidateRow]
           ) -> dict[tuple[str, str], tuple[int, list[tuple[int, int]]]]:
    """(collaborator id, units) → (collaborator store id, [(obligation id, amount)])."""
    groups: dict[tuple[str, str], tuple[int, list[tuple[int, int]]]] = {}
    for key, collaborator_key, collaborator, units, amount in rows:
        groups.setdefault((collaborator, units), (collaborator_key, []))[1].append((key, amount))
    return dict(sorted(groups.items()))


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


def _cutoff(now: datetime, hold_days: int) -> datetime | None:
    """Obligations issued at or before this moment have served ``hold_days``; ``None``
    when that moment is before the calendar's first day (a hold stored before holds were
    bounded), so none has."""
    try:
        return now - timedelta(days=hold_days)
    except OverflowError:
        return None


def _settlement(status: str, actor: str, reference: str | None, reason: str | None) -> str:
    """Check the arguments of marking a payout or a fulfillment; the target status."""
    target = _choice(status, ("processing", "paid", "failed"), "status")
    _text(actor, "actor", limit=MAX_ACTOR, required=True)
    _text(reference, "reference", limit=255)
    _text(reason, "reason")
    return target


class ObligationService:
    """The obligation lifecycle over one engine; events go to ``bus`` after each commit."""

    def __init__(self, engine: Engine, bus: EventBus, clock: Callable[[], datetime],
                 catalog: Catalog) -> None:
        self._engine = engine
        self._bus = bus
        self._clock = clock
        self._catalog = catalog

    def _fire(self, events: Iterable[Event]) -> None:
        for event in events:
            self._bus.dispatch(event)

    # -- reading -----------------------------------------------------------------------

    def get(self, obligation_id: int) -> Obligation:
        key = _key(obligation_id, "obligation")
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
        chosen = None if ids is None else _ids(ids, "ids")
        with unit_of_work(self._engine, write=False) as conn:
            return oq.list_obligations(conn, ids=chosen, collaborator_id=collaborator,
                                       status=wanted, award_type=award_type,
                                       payout_id=payout_id, source=source)

    def history(self, obligation_id: int) -> list[ObligationChange]:
        key = _key(obligation_id, "obligation")
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
        _text(source, "source", limit=32, required=True)
        if source == "allocation":
            raise InvalidInput("source", source, "is reserved for distributions' allocations")
        _key(source_id, "source_id")
        _text(award_type, "award_type", limit=32, required=True)
        _text(actor, "actor", limit=MAX_ACTOR, required=True)
        _text(reason, "reason")
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
        self._fire([ObligationIssued(obligation=issued)])
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

    def announce_distribution(self, distribution_id: int) -> None:
        """Fire ``ObligationIssued`` for a committed distribution's obligations."""
        with unit_of_work(self._engine, write=False) as conn:
            issued = oq.distribution_obligations(conn, distribution_id)
        self._fire(ObligationIssued(obligation=value) for value in issued)

    # -- approval ----------------------------------------------------------------------

    def apply(self, action: str, ids: Iterable[int], *, actor: str = "api",
              reason: str | None = None) -> BulkResult:
        """Move each obligation in ``ids`` to the status ``action`` names.

        One transaction; every id gets an outcome (unknown ids are ``refused``); an id
        that is refused changes nothing and does not stop the others.
        """
        target = target_of(action)
        keys = _ids(ids, "ids")
        _text(actor, "actor", limit=MAX_ACTOR, required=True)
        _text(reason, "reason")
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
        if not changed or not self._bus.listening:
            return
        with unit_of_work(self._engine, write=False) as conn:
            values = oq.list_obligations(conn, ids=changed)
        self._fire(ObligationStatusChanged(obligation=value, from_status=states[value.id][0],
                                           actor=actor, reason=reason) for value in values)

    def set_status(self, obligation_id: int, action: str, *, actor: str = "api",
                   reason: str | None = None) -> Obligation:
        """One obligation: like :meth:`apply`, but a refusal raises (``NotFound`` or
        :class:`IllegalTransition`); already being there is fine."""
        key = _key(obligation_id, "obligation")
        outcome = self.apply(action, [key], actor=actor, reason=reason).outcomes[0]
        if outcome.outcome == "refused":
            if outcome.status is None:
                raise NotFound("obligation", obligation_id)
            raise IllegalTransition("obligation", key, outcome.reason or "refused")
        return self.get(key)

    def approve_held(self, now: datetime) -> tuple[int, ...]:
        """Approve pending distribution obligations whose distributor's hold period ended."""
        with unit_of_work(self._engine, write=False) as conn:
            holds = {d.key: d.spec.hold_days for d in self._catalog.all(conn)
                     if d.spec.hold_days is not None}
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
        return sorted(changed)

    # -- fulfillment -------------------------------------------------------------------

    def generate(self, obligation_ids: Iterable[int] | None = None, *,
                 minimum: Mapping[str, int] | None = None,
                 actor: str = "api") -> GenerateResult:
        """Batch approved obligations (all, or the chosen ids) into one payout per
        collaborator and currency. A total under ``minimum[units]`` is carried forward."""
        chosen = None if obligation_ids is None else _ids(obligation_ids, "obligation_ids")
        floors = check_minimum(minimum)
        _text(actor, "actor", limit=MAX_ACTOR, required=True)
        now = self._clock()

        def batch() -> tuple[list[ObligationOutcome], list[CarriedForward], int | None]:
            with unit_of_work(self._engine) as conn:
                states = {} if chosen is None else oq.lock_obligations(conn, chosen)
                rows = oq.fulfillable(conn, chosen)
                refused = self._unfulfillable(chosen, rows, states)
                carried, payable = self._split(rows, floors)
                created = self._create(conn, payable, actor, now) if payable else None
            return refused, carried, created

        try:
            refused, carried, created = retrying(self._engine, batch)
        except IntegrityError as exc:
            raise Conflict("an obligation was put into another open payout concurrently; "
                           "nothing was generated") from exc
        fulfillment = None if created is None else self.fulfillment(created)
        if fulfillment is not None:
            self._fire([FulfillmentCreated(fulfillment=fulfillment)])
            self._fire(PayoutCreated(payout=value) for value in fulfillment.payouts)
        return GenerateResult(fulfillment, tuple(carried), tuple(refused))

    @staticmethod
    def _unfulfillable(chosen: Sequence[int] | None, rows: Sequence[oq.CandidateRow],
                       states: Mapping[int, oq.StateRow]) -> list[ObligationOutcome]:
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
            elif state[0] != "approved":
                reason = f"is {state[0]}, not approved"
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
    def _create(conn: Connection, payable: Sequence[oq.PayoutPlan], actor: str,
                now: datetime) -> int:
        fulfillment_key = oq.insert_fulfillment(conn, actor, now)
        payout_keys = oq.insert_payouts(conn, fulfillment_key, payable, now)
        oq.audit_payout_items(conn, payout_keys, "approved", "approved", actor, now,
                              prefix="added to payout ", suffix="", with_fulfillment=True)
        return fulfillment_key

    def fulfillment(self, fulfillment_id: int) -> Fulfillment:
        key = _key(fulfillment_id, "fulfillment")
        with unit_of_work(self._engine, write=False) as conn:
            found = oq.get_fulfillment(conn, key)
        if found is None:
            raise NotFound("fulfillment", fulfillment_id)
        return found

    def fulfillments(self, *, status: str | None = None) -> list[Fulfillment]:
        if status is not None:
            _choice(status, FULFILLMENT_STATUSES, "status")
        with unit_of_work(self._engine, write=False) as conn:
            return oq.list_fulfillments(conn, status=status)

    def payout(self, payout_id: int) -> Payout:
        key = _key(payout_id, "payout")
        with unit_of_work(self._engine, write=False) as conn:
            found = oq.get_payout(conn, key)
        if found is None:
            raise NotFound("payout", payout_id)
        return found

    def payouts(self, *, fulfillment_id: int | None = None,
                status: str | None = None) -> list[Payout]:
        if status is not None:
            _choice(status, PAYOUT_STATUSES, "status")
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
        key = _key(payout_id, "payout")
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
                return settled, self._settle_fulfillment(conn, state[2], now)

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
        events: list[Event] = []
        with unit_of_work(self._engine, write=False) as conn:
            payouts = {p.id: p for p in oq.payouts_by_id(conn, [key for key, *_ in settled])}
            paid = [item for _key, status, items in settled if status == "paid"
                    for item in items]
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
        self._fire(events)

    def mark_fulfillment(self, fulfillment_id: int, status: str, *, actor: str = "api",
                         reference: str | None = None, reason: str | None = None
                         ) -> Fulfillment:
        """Move every open payout of a fulfillment to ``processing``, ``paid`` or
        ``failed`` (the fulfillment's own status follows from its payouts)."""
        key = _key(fulfillment_id, "fulfillment")
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
            return settled, change

        self._announce_payouts(*retrying(self._engine, settle))
        return self.fulfillment(key)

    # -- export and reconciliation -----------------------------------------------------

    def export_csv(self, fulfillment_id: int, *, all_payouts: bool = False) -> str:
        """The fulfillment as a mass-payout CSV: one row per open payout (every payout with
        ``all_payouts``)."""
        found = self.fulfillment(fulfillment_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["payout_id", "collaborator", "email", "amount", "currency",
                         "amount_minor", "obligation_ids", "status"])
        for value in found.payouts:
            if all_payouts or value.status in oq.OPEN_PAYOUT_STATUSES:
                writer.writerow([
                    value.id, value.collaborator, value.collaborator_email or "",
                    format_minor(value.amount, currency(value.units)), value.units,
                    value.amount, " ".join(str(key) for key in value.obligation_ids),
                    value.status])
        return out.getvalue()

    def totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(fulfilled obligations, paid payouts), each summed per currency: always equal."""
        with unit_of_work(self._engine, write=False) as conn:
            return oq.fulfilled_totals(conn), oq.paid_totals(conn)
