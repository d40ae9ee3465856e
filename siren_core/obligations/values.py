"""The vocabulary of obligations: statuses and their Siren spellings, the transitions, the
checks of what callers pass in, and the results of bulk actions and fulfillment batches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from siren_core.domain import (
    MAX_AMOUNT,
    Fulfillment,
    check_bounded,
    text_problem,
)
from siren_core.errors import Conflict, InvalidInput
from siren_core.money import currency

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


def choice(value: Any, allowed: Sequence[str], field: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, value, f"is not one of {', '.join(allowed)}")
    return value


def note_text(value: Any, field: str, *, limit: int = MAX_TEXT, required: bool = False
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


def id_list(values: Any, field: str) -> list[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInput(field, values, "is not a list of obligation ids")
    result: list[int] = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidInput(f"{field}[{index}]", value, "is not an obligation id")
        result.append(value)
    return result


def store_key(value: Any, field: str) -> int:
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
    approved: tuple[int, ...] = ()
    """Pending obligations approved to join the batch (``include_pending``), by id."""
