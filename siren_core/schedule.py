"""When a distributor distributes: its schedule cut into periods.

A distributor distributes once per period. Its :class:`Schedule` cuts time into
contiguous, half-open periods ``[start, end)``: period ``k`` runs from
``boundary(schedule, k)`` up to, but not including, ``boundary(schedule, k + 1)``, so an
instant lying exactly on a boundary belongs to the period that starts there. Period 0
starts at the schedule's ``start``; instants before it belong to no period
(:func:`period_index_at` answers ``-1``).

Boundaries are local midnights
    Each boundary is a *local date* in the distributor's IANA time zone, taken at
    00:00 wall-clock time and converted to UTC. Every datetime this module returns is
    timezone-aware UTC (``datetime.timezone.utc``). A period is therefore a calendar
    day, week or month *as the distributor lives it*: a daily period is 23 or 25 hours
    long on the days the clocks change.

Calendar frequencies are anchored, never chained
    For ``daily``, ``weekly``, ``monthly``, ``quarterly`` and ``yearly`` schedules the
    local date of boundary ``k`` is computed straight from ``start``: ``start +
    k * interval`` days (weeks), or the day-of-month of ``start`` ``k * interval``
    months (3 months, 12 months) later. When that month is too short the day is
    clamped to its last day, but the anchor is kept, so month ends never drift: a
    monthly schedule starting on January 31 has boundaries on Feb 28 (Feb 29 in a leap
    year), Mar 31, Apr 30, ...; one starting on Jan 30 goes Feb 28, Mar 30, ...; a
    yearly one starting on Feb 29 falls on Feb 28 in common years and on Feb 29 again
    in leap years.

Daylight saving time
    Local midnight does not always exist exactly once. :func:`local_to_utc` resolves
    any wall time the same way:

    * a wall time that does not exist (it falls in a spring-forward gap, e.g. 00:00 in
      America/Santiago, America/Havana or Asia/Beirut on their spring-forward days)
      moves FORWARD to the first instant that exists after the gap, i.e. the instant
      of the transition itself (00:00 becomes 01:00 in those zones);
    * a wall time that happens twice (it falls in a fall-back overlap) takes its FIRST
      occurrence (``fold=0``).

    Boundaries are thus never decreasing. If a whole local date is skipped (Pacific/Apia
    jumped from 2011-12-29 to 2011-12-31), that date's midnight moves forward to the
    next date's midnight and its daily period is empty: ``boundary(k) ==
    boundary(k + 1)``. :func:`period_index_at` never answers the index of an empty
    period. No zone in use today has such a day.

Siren modifier schedules
    ``frequency="siren"`` reproduces Siren's schedules, written as PHP
    ``DateTime::modify`` strings (build one with :func:`parse_siren_schedule`). The
    supported modifiers (case and repeated spaces do not matter) are::

        first day of next month     the 1st of the month after the current date's
        last day of next month      the last day of the month after the current date's
        +N day / +N days            N >= 1 days later
        +N week / +N weeks          7 * N days later
        +N month / +N months        N >= 1 months later, with PHP's overflow

    Following Siren's documented semantics these schedules are CHAINED, not anchored:
    the local date of boundary ``k`` is obtained by applying every modifier, in order,
    to the local date of boundary ``k - 1`` (boundary 0 is ``start``). From 2026-01-01,
    ``("first day of next month", "+14 days")`` gives 2026-02-15, then 2026-03-15, ...;
    ``("+14 days",)`` is a fortnightly cycle. ``+N months`` behaves exactly as in PHP:
    the day of month is kept and, when the target month is too short, the surplus
    days overflow into the following month (2026-01-31 ``+1 month`` is 2026-03-03), so
    such a schedule can drift; that is what Siren does. Every supported modifier moves
    the date forward, so boundaries strictly increase in local dates. The local dates
    are then turned into UTC instants by the same DST rules as above. ``interval``
    must be 1 for such schedules: the modifiers alone describe the step.
"""

from __future__ import annotations

import calendar
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from siren_core.errors import InvalidInput

__all__ = [
    "FREQUENCIES",
    "SIREN",
    "Schedule",
    "boundary",
    "local_to_utc",
    "parse_siren_schedule",
    "period",
    "period_index_at",
]

#: The calendar frequencies, whose boundaries are anchored on ``start``.
FREQUENCIES = ("daily", "weekly", "monthly", "quarterly", "yearly")

#: The frequency of a schedule described by Siren's ``DateTime::modify`` strings.
SIREN = "siren"

_MONTHS_PER_STEP = {"monthly": 1, "quarterly": 3, "yearly": 12}

_UTC = UTC


# --------------------------------------------------------------------------- modifiers

_Step = Callable[[date], date]


def _add_months_clamped(day: date, months: int) -> date:
    """``day`` moved by ``months`` months, its day-of-month clamped to the month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def _add_months_php(day: date, months: int) -> date:
    """PHP's ``+N months``: keep the day of month, overflowing into the next month."""
    first = _add_months_clamped(day.replace(day=1), months)
    return first + timedelta(days=day.day - 1)


def _first_day_of_next_month(day: date) -> date:
    return _add_months_clamped(day.replace(day=1), 1)


def _last_day_of_next_month(day: date) -> date:
    return _add_months_clamped(day.replace(day=1), 2) - timedelta(days=1)


def _days_step(days: int) -> _Step:
    delta = timedelta(days=days)
    return lambda day: day + delta


def _months_step(months: int) -> _Step:
    return lambda day: _add_months_php(day, months)


_RELATIVE = re.compile(r"\+([0-9]+) ?(day|week|month)s?")
_MAX_DAYS = (date.max - date.min).days
_MAX_COUNT = {"day": _MAX_DAYS, "week": _MAX_DAYS // 7, "month": 12 * 9999}
_FIXED: dict[str, _Step] = {
    "first day of next month": _first_day_of_next_month,
    "last day of next month": _last_day_of_next_month,
}


@lru_cache(maxsize=256)
def _parse_modifier(text: str) -> _Step | str:
    """The step ``text`` describes, or a phrase saying why it is not supported."""
    normal = " ".join(text.lower().split())
    fixed = _FIXED.get(normal)
    if fixed is not None:
        return fixed
    match = _RELATIVE.fullmatch(normal)
    if match is None:
        return (
            "is not a supported modifier (use 'first day of next month', "
            "'last day of next month', '+N days', '+N weeks' or '+N months')"
        )
    count, unit = int(match.group(1)), match.group(2)
    if count < 1:
        return "must move forward by at least one unit"
    if count > _MAX_COUNT[unit]:
        return "moves past the last representable date"
    if unit == "month":
        return _months_step(count)
    return _days_step(count * 7 if unit == "week" else count)


def _steps(modifiers: tuple[str, ...]) -> list[_Step]:
    steps = []
    for text in modifiers:
        step = _parse_modifier(text)
        assert not isinstance(step, str), "modifiers are validated when the schedule is built"
        steps.append(step)
    return steps


def _modifiers_converter(value: Any) -> Any:
    """Accept any list or tuple of modifiers; leave anything else for validation to refuse."""
    return tuple(value) if isinstance(value, list | tuple) else value


# ---------------------------------------------------------------------------- schedule


@attrs.frozen
class Schedule:
    """How often a distributor distributes.

    ``frequency`` is one of :data:`FREQUENCIES`, with ``interval`` of them to a period
    (``frequency="weekly", interval=2`` is fortnightly), or :data:`SIREN` for a
    schedule described by ``modifiers`` (see the module documentation). ``start`` is
    the local date on which period 0 begins, at local midnight in ``timezone`` (an IANA
    name such as ``"Europe/Berlin"``).

    Building an invalid schedule raises :class:`~siren_core.errors.InvalidInput`.
    """

    frequency: str
    start: date
    timezone: str = "UTC"
    interval: int = 1
    modifiers: tuple[str, ...] = attrs.field(default=(), converter=_modifiers_converter)

    def __attrs_post_init__(self) -> None:
        frequency = self.frequency
        if not isinstance(frequency, str) or frequency not in (*FREQUENCIES, SIREN):
            raise InvalidInput(
                "schedule.frequency", frequency, f"is not one of {', '.join((*FREQUENCIES, SIREN))}"
            )
        interval = self.interval
        if isinstance(interval, bool) or not isinstance(interval, int):
            raise InvalidInput("schedule.interval", interval, "must be an integer")
        if interval < 1:
            raise InvalidInput("schedule.interval", interval, "must be at least 1")
        if frequency == SIREN and interval != 1:
            raise InvalidInput(
                "schedule.interval", interval, "must be 1 for a schedule given by modifiers"
            )
        _zone("schedule.timezone", self.timezone)
        start = self.start
        if isinstance(start, datetime) or not isinstance(start, date):
            raise InvalidInput("schedule.start", start, "must be a date (not a datetime)")
        _validate_modifiers(frequency, self.modifiers)

    @property
    def tzinfo(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)


def _zone(field: str, name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise InvalidInput(field, name, "must be an IANA time zone name")
    if name == "localtime":
        raise InvalidInput(field, name, "is this machine's zone, not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(field, name, "is not a known IANA time zone") from None


def _validate_modifiers(frequency: str, modifiers: object) -> None:
    if isinstance(modifiers, str) or not isinstance(modifiers, tuple):
        raise InvalidInput(
            "schedule.modifiers", modifiers, "must be a sequence of modifier strings"
        )
    if frequency != SIREN:
        if modifiers:
            raise InvalidInput(
                "schedule.modifiers", modifiers, f"must be empty for a {frequency} schedule"
            )
        return
    if not modifiers:
        raise InvalidInput(
            "schedule.modifiers", modifiers, "must hold at least one modifier for a siren schedule"
        )
    for index, text in enumerate(modifiers):
        field = f"schedule.modifiers[{index}]"
        if not isinstance(text, str):
            raise InvalidInput(field, text, "must be a string")
        problem = _parse_modifier(text)
        if isinstance(problem, str):
            raise InvalidInput(field, text, problem)


def parse_siren_schedule(modifiers: Sequence[str], start: date, timezone: str = "UTC") -> Schedule:
    """A schedule given by Siren's ``DateTime::modify`` strings, applied in order.

    Each modifier is validated; an unsupported one raises
    :class:`~siren_core.errors.InvalidInput` naming ``schedule.modifiers[i]``.
    """
    if isinstance(modifiers, str) or not isinstance(modifiers, Iterable):
        raise InvalidInput(
            "schedule.modifiers", modifiers, "must be a sequence of modifier strings"
        )
    return Schedule(frequency=SIREN, start=start, timezone=timezone, modifiers=tuple(modifiers))


# ------------------------------------------------------------------------ local → UTC


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clocks of ``tz`` show ``local`` (naive).

    An ambiguous wall time (fall-back overlap) gives its first occurrence; a wall time
    that does not exist (spring-forward gap) gives the first instant that exists after
    the gap, i.e. the instant of the transition.
    """
    if not isinstance(local, datetime) or local.tzinfo is not None:
        raise InvalidInput("local", local, "must be a naive datetime")
    local = local.replace(fold=0)
    first = local.replace(tzinfo=tz).astimezone(_UTC)
    if _wall(first, tz) == local:
        return first
    # ``local`` lies in a gap. With fold=0 it was read with the offset in force before
    # the transition, which lands at or after the transition; with fold=1 with the offset
    # after it, which lands before. Find the transition between the two: the earliest
    # instant whose wall time is not before ``local``.
    other = local.replace(tzinfo=tz, fold=1).astimezone(_UTC)
    low, high = min(first, other), max(first, other)
    if _wall(high, tz) < local or _wall(low, tz) >= local:  # pragma: no cover - not PEP 495
        raise AssertionError(f"cannot resolve {local} in {tz}")
    # Invariant: wall(low) < local <= wall(high); search to the microsecond.
    lo, hi = 0, (high - low) // timedelta(microseconds=1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _wall(low + timedelta(microseconds=mid), tz) >= local:
            hi = mid
        else:
            lo = mid
    return low + timedelta(microseconds=hi)


# --------------------------------------------------------------------------- boundaries

_CHECKPOINT = 256


class _ModifierDates:
    """The local dates of a siren schedule's boundaries, computed by chaining.

    Keeps every ``_CHECKPOINT``-th date so that boundary ``k`` costs at most
    ``_CHECKPOINT`` steps once the dates up to it have been walked once, and memory
    stays small however far a schedule is followed.
    """

    def __init__(self, schedule: Schedule) -> None:
        self._steps = _steps(schedule.modifiers)
        self._checkpoints = [schedule.start]
        self._lock = threading.Lock()

    def _next(self, day: date) -> date:
        for step in self._steps:
            day = step(day)
        return day

    def _extend(self) -> None:
        """Add one checkpoint (the caller holds the lock)."""
        day = self._checkpoints[-1]
        for _ in range(_CHECKPOINT):
            day = self._next(day)
        self._checkpoints.append(day)

    def at(self, k: int) -> date:
        block, rest = divmod(k, _CHECKPOINT)
        with self._lock:
            while len(self._checkpoints) <= block:
                self._extend()
            day = self._checkpoints[block]
        for _ in range(rest):
            day = self._next(day)
        return day

    def last_index_on_or_before(self, target: date) -> int:
        """The largest ``k`` whose date is ``<= target``, or -1 if there is none."""
        with self._lock:
            while self._checkpoints[-1] <= target:
                try:
                    self._extend()
                except (OverflowError, ValueError):
                    break
            block = bisect_right(self._checkpoints, target) - 1
            if block < 0:
                return -1
            day = self._checkpoints[block]
        k = block * _CHECKPOINT
        while True:
            try:
                following = self._next(day)
            except (OverflowError, ValueError):
                return k
            if following > target:
                return k
            day, k = following, k + 1


@lru_cache(maxsize=128)
def _modifier_dates(schedule: Schedule) -> _ModifierDates:
    return _ModifierDates(schedule)


def _local_date(schedule: Schedule, k: int) -> date:
    """The local date of boundary ``k`` (may raise OverflowError/ValueError past year 9999)."""
    frequency = schedule.frequency
    if frequency == "daily":
        return schedule.start + timedelta(days=k * schedule.interval)
    if frequency == "weekly":
        return schedule.start + timedelta(days=7 * k * schedule.interval)
    if frequency == SIREN:
        return _modifier_dates(schedule).at(k)
    return _add_months_clamped(schedule.start, k * schedule.interval * _MONTHS_PER_STEP[frequency])


def _boundary(schedule: Schedule, k: int) -> datetime:
    """Boundary ``k`` without checking ``k``; OverflowError past the last representable day."""
    try:
        day = _local_date(schedule, k)
    except ValueError as error:  # a date past year 9999
        raise OverflowError(str(error)) from None
    return local_to_utc(datetime.combine(day, time()), schedule.tzinfo)


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidInput("k", k, "must be an integer")
    if k < 0:
        raise InvalidInput("k", k, "must be at least 0")
    return k


def boundary(schedule: Schedule, k: int) -> datetime:
    """The UTC instant at which period ``k`` starts, which is where period ``k - 1`` ends."""
    k = _check_k(k)
    try:
        return _boundary(schedule, k)
    except OverflowError:
        raise InvalidInput("k", k, "puts the period outside the representable dates") from None


def period(schedule: Schedule, k: int) -> tuple[datetime, datetime]:
    """Period ``k`` as the half-open UTC interval ``(start, end)``."""
    k = _check_k(k)
    return boundary(schedule, k), boundary(schedule, k + 1)


def _estimate(schedule: Schedule, day: date) -> int:
    """An index at most a couple of periods away from the one holding local date ``day``."""
    frequency, start, interval = schedule.frequency, schedule.start, schedule.interval
    if frequency == SIREN:
        return _modifier_dates(schedule).last_index_on_or_before(day)
    if frequency == "daily":
        return (day - start).days // interval
    if frequency == "weekly":
        return (day - start).days // (7 * interval)
    months = (day.year - start.year) * 12 + day.month - start.month
    return months // (interval * _MONTHS_PER_STEP[frequency])


def period_index_at(schedule: Schedule, instant: datetime) -> int:
    """The ``k`` such that ``boundary(k) <= instant < boundary(k + 1)``.

    ``instant`` must be timezone-aware. An instant before the start of period 0 gives
    ``-1`` (before the first period). Constant time for the calendar frequencies; a
    siren schedule walks its chain of dates (remembered in checkpoints).
    """
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise InvalidInput("instant", instant, "must be a timezone-aware datetime")
    try:
        day = instant.astimezone(schedule.tzinfo).date()
    except OverflowError:
        raise InvalidInput("instant", instant, "is out of the representable range") from None
    k = max(_estimate(schedule, day), -1)
    while k >= 0 and _boundary(schedule, k) > instant:
        k -= 1
    while True:
        try:
            following = _boundary(schedule, k + 1)
        except OverflowError:  # the last representable period never ends
            return k
        if following > instant:
            return k
        k += 1
