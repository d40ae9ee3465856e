"""Tests for siren_core.schedule: periods, boundaries, DST handling and Siren modifiers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siren_core.errors import InvalidInput
from siren_core.schedule import (
    FREQUENCIES,
    SIREN,
    Schedule,
    boundary,
    local_to_utc,
    parse_siren_schedule,
    period,
    period_index_at,
)

US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local_dates(schedule: Schedule, count: int) -> list[date]:
    tz = ZoneInfo(schedule.timezone)
    return [boundary(schedule, k).astimezone(tz).date() for k in range(count)]


# ----------------------------------------------------------------- calendar frequencies


def test_frequencies_constant() -> None:
    assert FREQUENCIES == ("daily", "weekly", "monthly", "quarterly", "yearly")


def test_monthly_month_end_anchor() -> None:
    schedule = Schedule("monthly", date(2026, 1, 31))
    assert local_dates(schedule, 5) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    # Twelve months on, still the 31st: no drift towards the 28th.
    assert boundary(schedule, 12) == utc(2027, 1, 31)
    assert boundary(schedule, 13) == utc(2027, 2, 28)
    assert boundary(schedule, 14) == utc(2027, 3, 31)


def test_monthly_month_end_anchor_in_leap_year() -> None:
    schedule = Schedule("monthly", date(2028, 1, 31))
    assert local_dates(schedule, 4) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
    ]


def test_monthly_anchor_on_30th() -> None:
    schedule = Schedule("monthly", date(2026, 1, 30))
    assert local_dates(schedule, 4) == [
        date(2026, 1, 30),
        date(2026, 2, 28),
        date(2026, 3, 30),
        date(2026, 4, 30),
    ]


def test_monthly_with_interval() -> None:
    schedule = Schedule("monthly", date(2026, 8, 31), interval=2)
    assert local_dates(schedule, 4) == [
        date(2026, 8, 31),
        date(2026, 10, 31),
        date(2026, 12, 31),
        date(2027, 2, 28),
    ]


def test_quarterly() -> None:
    schedule = Schedule("quarterly", date(2025, 11, 30))
    assert local_dates(schedule, 6) == [
        date(2025, 11, 30),
        date(2026, 2, 28),
        date(2026, 5, 30),
        date(2026, 8, 30),
        date(2026, 11, 30),
        date(2027, 2, 28),
    ]


def test_yearly_feb_29() -> None:
    schedule = Schedule("yearly", date(2024, 2, 29))
    assert local_dates(schedule, 6) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2029, 2, 28),
    ]
    assert boundary(Schedule("yearly", date(2024, 2, 29), interval=4), 1) == utc(2028, 2, 29)


def test_weekly() -> None:
    schedule = Schedule("weekly", date(2026, 1, 5))
    assert local_dates(schedule, 3) == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]
    fortnightly = Schedule("weekly", date(2026, 1, 5), interval=2)
    assert period(fortnightly, 1) == (utc(2026, 1, 19), utc(2026, 2, 2))


def test_daily_interval_two() -> None:
    schedule = Schedule("daily", date(2026, 2, 27), interval=2)
    assert local_dates(schedule, 4) == [
        date(2026, 2, 27),
        date(2026, 3, 1),
        date(2026, 3, 3),
        date(2026, 3, 5),
    ]
    assert period(schedule, 0) == (utc(2026, 2, 27), utc(2026, 3, 1))


def test_new_york_monthly_across_dst() -> None:
    schedule = Schedule("monthly", date(2026, 1, 1), timezone="America/New_York")
    assert boundary(schedule, 0) == utc(2026, 1, 1, 5)
    assert boundary(schedule, 3) == utc(2026, 4, 1, 4)
    assert boundary(schedule, 11) == utc(2026, 12, 1, 5)
    assert boundary(schedule, 0).tzinfo is UTC


def test_sydney_monthly() -> None:
    schedule = Schedule("monthly", date(2026, 1, 1), timezone="Australia/Sydney")
    assert boundary(schedule, 0) == utc(2025, 12, 31, 13)  # AEDT, +11
    assert boundary(schedule, 3) == utc(2026, 3, 31, 13)  # Apr 1, DST ends on Apr 5
    assert boundary(schedule, 4) == utc(2026, 4, 30, 14)  # May 1, AEST, +10
    assert boundary(schedule, 9) == utc(2026, 9, 30, 14)  # Oct 1, DST starts on Oct 4
    assert boundary(schedule, 10) == utc(2026, 10, 31, 13)  # Nov 1, AEDT again


# ------------------------------------------------------------------ daily across DST


def daily_lengths(zone: str, start: date, days: int) -> dict[date, timedelta]:
    """Period lengths of a daily schedule, keyed by the local date each period starts on."""
    schedule = Schedule("daily", start, timezone=zone)
    tz = ZoneInfo(zone)
    lengths = {}
    for k in range(days):
        begin, end = period(schedule, k)
        local = begin.astimezone(tz)
        # No local date is skipped or repeated.
        assert local.date() == start + timedelta(days=k)
        lengths[local.date()] = end - begin
    return lengths


@pytest.mark.parametrize(
    ("zone", "short_day", "long_day"),
    [
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
        ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
    ],
)
def test_daily_across_dst(zone: str, short_day: date, long_day: date) -> None:
    lengths = daily_lengths(zone, date(2026, 1, 1), 365)
    schedule = Schedule("daily", date(2026, 1, 1), timezone=zone)
    tz = ZoneInfo(zone)
    for k in range(365):
        # Every boundary is exactly a local midnight in these zones.
        assert boundary(schedule, k).astimezone(tz).time() == time(0)
    assert {day for day, length in lengths.items() if length == 23 * HOUR} == {short_day}
    assert {day for day, length in lengths.items() if length == 25 * HOUR} == {long_day}
    assert all(
        length == 24 * HOUR for day, length in lengths.items() if day not in {short_day, long_day}
    )


def test_daily_lord_howe_half_hour_shift() -> None:
    lengths = daily_lengths("Australia/Lord_Howe", date(2026, 1, 1), 365)
    assert lengths[date(2026, 4, 5)] == timedelta(hours=24, minutes=30)
    assert lengths[date(2026, 10, 4)] == timedelta(hours=23, minutes=30)
    others = {
        length
        for day, length in lengths.items()
        if day not in {date(2026, 4, 5), date(2026, 10, 4)}
    }
    assert others == {24 * HOUR}


def test_daily_santiago_midnight_gap_moves_forward() -> None:
    # Chile springs forward at 00:00 local: 2026-09-06 00:00 does not exist, 01:00 does.
    schedule = Schedule("daily", date(2026, 1, 1), timezone="America/Santiago")
    tz = ZoneInfo("America/Santiago")
    k = (date(2026, 9, 6) - date(2026, 1, 1)).days
    assert boundary(schedule, k) == utc(2026, 9, 6, 4)
    assert boundary(schedule, k).astimezone(tz).replace(tzinfo=None) == datetime(2026, 9, 6, 1)
    lengths = daily_lengths("America/Santiago", date(2026, 1, 1), 365)
    assert all(length > timedelta(0) for length in lengths.values())
    assert set(lengths.values()) == {23 * HOUR, 24 * HOUR, 25 * HOUR}
    assert lengths[date(2026, 9, 6)] == 23 * HOUR
    # Falls back at 00:00 -03 to 23:00 -04 on Apr 4: that day has 25 hours.
    assert lengths[date(2026, 4, 4)] == 25 * HOUR
    # Midnight right after a gap-shifted boundary belongs to the right period.
    assert period_index_at(schedule, utc(2026, 9, 6, 3, 59, 59)) == k - 1
    assert period_index_at(schedule, utc(2026, 9, 6, 4)) == k


def test_midnight_gap_moves_boundary_forward() -> None:
    # Zones whose clocks spring forward at 00:00 local: that midnight does not exist and
    # the boundary moves to 01:00, the first instant after the gap.
    weekly = Schedule("weekly", date(2026, 8, 30), timezone="America/Santiago")
    assert boundary(weekly, 1) == utc(2026, 9, 6, 4)  # 01:00 -03 instead of 00:00
    havana = Schedule("monthly", date(2026, 1, 8), timezone="America/Havana")
    assert boundary(havana, 2) == utc(2026, 3, 8, 5)  # 01:00 CDT instead of 00:00 CST
    beirut = Schedule("daily", date(2010, 3, 27), timezone="Asia/Beirut")
    assert boundary(beirut, 1) == utc(2010, 3, 27, 22)  # 01:00 +03 instead of 00:00 +02
    assert boundary(beirut, 1) - boundary(beirut, 0) == 24 * HOUR
    assert boundary(beirut, 2) - boundary(beirut, 1) == 23 * HOUR


def test_skipped_local_date_gives_empty_period() -> None:
    # Samoa skipped 2011-12-30 entirely; that date's period is empty and never answered.
    schedule = Schedule("daily", date(2011, 12, 28), timezone="Pacific/Apia")
    assert boundary(schedule, 2) == boundary(schedule, 3) == utc(2011, 12, 30, 10)
    assert period_index_at(schedule, utc(2011, 12, 30, 10)) == 3
    assert period_index_at(schedule, utc(2011, 12, 30, 10) - US) == 1
    assert all(boundary(schedule, k) <= boundary(schedule, k + 1) for k in range(10))


# -------------------------------------------------------------------------- local_to_utc


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        # Spring forward: 02:30 does not exist; the first instant after the gap is 03:00.
        ("America/New_York", datetime(2026, 3, 8, 2, 30), utc(2026, 3, 8, 7)),
        ("America/New_York", datetime(2026, 3, 8, 2, 0), utc(2026, 3, 8, 7)),
        ("America/New_York", datetime(2026, 3, 8, 2, 59, 59, 999999), utc(2026, 3, 8, 7)),
        ("Europe/Berlin", datetime(2026, 3, 29, 2, 30), utc(2026, 3, 29, 1)),
        # Fall back: the first occurrence (daylight time) wins.
        ("America/New_York", datetime(2026, 11, 1, 1, 30), utc(2026, 11, 1, 5, 30)),
        ("Europe/Berlin", datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),
        # Lord Howe moves by 30 minutes: 02:00-02:30 does not exist...
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 0), utc(2026, 10, 3, 15, 30)),
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 15), utc(2026, 10, 3, 15, 30)),
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 2, 30), utc(2026, 10, 3, 15, 30)),
        ("Australia/Lord_Howe", datetime(2026, 10, 4, 1, 59), utc(2026, 10, 3, 15, 29)),
        # ...and 01:30-02:00 happens twice (first at +11, then at +10:30).
        ("Australia/Lord_Howe", datetime(2026, 4, 5, 1, 30), utc(2026, 4, 4, 14, 30)),
        ("Australia/Lord_Howe", datetime(2026, 4, 5, 1, 45), utc(2026, 4, 4, 14, 45)),
        ("Australia/Lord_Howe", datetime(2026, 4, 5, 2, 0), utc(2026, 4, 4, 15, 30)),
        # Midnight gaps.
        ("America/Santiago", datetime(2026, 9, 6), utc(2026, 9, 6, 4)),
        ("America/Havana", datetime(2026, 3, 8), utc(2026, 3, 8, 5)),
        # Ordinary times.
        ("America/New_York", datetime(2026, 7, 1, 12), utc(2026, 7, 1, 16)),
        ("UTC", datetime(2026, 7, 1, 12), utc(2026, 7, 1, 12)),
    ],
)
def test_local_to_utc(zone: str, wall: datetime, expected: datetime) -> None:
    result = local_to_utc(wall, ZoneInfo(zone))
    assert result == expected
    assert result.tzinfo is UTC


def test_local_to_utc_gap_lands_after_the_gap() -> None:
    tz = ZoneInfo("America/New_York")
    result = local_to_utc(datetime(2026, 3, 8, 2, 30), tz)
    assert result.astimezone(tz).replace(tzinfo=None) == datetime(2026, 3, 8, 3)
    # One microsecond earlier is still standard time, before the gap.
    assert (result - US).astimezone(tz).replace(tzinfo=None) < datetime(2026, 3, 8, 2)


def test_local_to_utc_refuses_aware() -> None:
    with pytest.raises(InvalidInput) as info:
        local_to_utc(utc(2026, 1, 1), ZoneInfo("UTC"))
    assert info.value.field == "local"


# ------------------------------------------------------------------------ period_index_at


def test_period_index_at_boundaries() -> None:
    schedule = Schedule("monthly", date(2026, 1, 31), timezone="Europe/Berlin")
    start = boundary(schedule, 3)
    assert period_index_at(schedule, start) == 3
    assert period_index_at(schedule, start - US) == 2
    assert period_index_at(schedule, boundary(schedule, 0)) == 0
    assert period_index_at(schedule, boundary(schedule, 0) - US) == -1
    assert period_index_at(schedule, utc(1999, 1, 1)) == -1
    # Any timezone-aware instant is accepted.
    berlin = ZoneInfo("Europe/Berlin")
    assert period_index_at(schedule, datetime(2026, 3, 31, tzinfo=berlin)) == 2
    assert period_index_at(schedule, datetime(2026, 3, 30, 23, 59, tzinfo=berlin)) == 1


def test_period_index_at_refuses_naive() -> None:
    schedule = Schedule("daily", date(2026, 1, 1))
    with pytest.raises(InvalidInput) as info:
        period_index_at(schedule, datetime(2026, 1, 2))
    assert info.value.field == "instant"
    assert "instant" in str(info.value)
    assert "2026, 1, 2" in str(info.value)


def test_period_index_at_far_away() -> None:
    schedule = Schedule("daily", date(2000, 1, 1), timezone="America/New_York")
    k = 12345
    assert period_index_at(schedule, boundary(schedule, k)) == k
    assert period_index_at(schedule, boundary(schedule, k) + 12 * HOUR) == k
    assert period_index_at(schedule, boundary(schedule, k) - US) == k - 1


ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
]

starts = st.one_of(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    st.builds(
        lambda year, month, day: date(year, month, min(day, 28 if month == 2 else 30)),
        st.integers(2000, 2040),
        st.integers(1, 12),
        st.sampled_from([28, 29, 30, 31]),
    ),
    st.builds(
        lambda year, month: date(year, month % 12 + 1, 1) - timedelta(days=1),
        st.integers(2000, 2040),
        st.integers(1, 12),
    ),
    st.builds(lambda year: date(year, 2, 29), st.sampled_from(range(2000, 2041, 4))),
)

calendar_schedules = st.builds(
    Schedule,
    frequency=st.sampled_from(FREQUENCIES),
    start=starts,
    timezone=st.sampled_from(ZONES),
    interval=st.integers(1, 3),
)


@settings(max_examples=300, deadline=None)
@given(schedule=calendar_schedules, k=st.integers(0, 500))
def test_period_index_at_inverts_boundary(schedule: Schedule, k: int) -> None:
    start, end = period(schedule, k)
    assert start < end
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC
    assert period_index_at(schedule, start) == k
    assert period_index_at(schedule, end - US) == k
    assert period_index_at(schedule, end) == k + 1
    if k > 0:
        assert boundary(schedule, k - 1) < start


@settings(max_examples=100, deadline=None)
@given(schedule=calendar_schedules)
def test_boundaries_strictly_increase(schedule: Schedule) -> None:
    bounds = [boundary(schedule, k) for k in range(40)]
    assert all(a < b for a, b in pairwise(bounds))
    assert period_index_at(schedule, bounds[0] - US) == -1


# ----------------------------------------------------------------------- siren modifiers


def test_first_day_of_next_month() -> None:
    for day in (1, 15, 30, 31):
        schedule = parse_siren_schedule(["first day of next month"], date(2026, 1, day))
        assert schedule.frequency == SIREN
        assert boundary(schedule, 1) == utc(2026, 2, 1)
        assert boundary(schedule, 2) == utc(2026, 3, 1)


def test_first_day_of_next_month_plus_14_days() -> None:
    schedule = parse_siren_schedule(["first day of next month", "+14 days"], date(2026, 1, 1))
    assert local_dates(schedule, 4) == [
        date(2026, 1, 1),
        date(2026, 2, 15),
        date(2026, 3, 15),
        date(2026, 4, 15),
    ]


def test_fortnightly() -> None:
    schedule = parse_siren_schedule(["+14 days"], date(2026, 1, 1), timezone="Europe/Berlin")
    assert local_dates(schedule, 4) == [
        date(2026, 1, 1),
        date(2026, 1, 15),
        date(2026, 1, 29),
        date(2026, 2, 12),
    ]
    assert boundary(schedule, 0) == utc(2025, 12, 31, 23)
    # The same as an anchored fortnightly schedule, however far out.
    weekly = Schedule("weekly", date(2026, 1, 1), timezone="Europe/Berlin", interval=2)
    for k in (0, 1, 255, 256, 257, 1000, 3000):
        assert boundary(schedule, k) == boundary(weekly, k)
    assert period_index_at(schedule, boundary(weekly, 2999) + HOUR) == 2999


def test_last_day_of_next_month() -> None:
    schedule = parse_siren_schedule(["last day of next month"], date(2026, 1, 10))
    assert local_dates(schedule, 4) == [
        date(2026, 1, 10),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


def test_plus_months_overflows_like_php() -> None:
    # PHP: (new DateTime('2026-01-31'))->modify('+1 month') is 2026-03-03.
    schedule = parse_siren_schedule(["+1 month"], date(2026, 1, 31))
    assert local_dates(schedule, 4) == [
        date(2026, 1, 31),
        date(2026, 3, 3),
        date(2026, 4, 3),
        date(2026, 5, 3),
    ]
    plain = parse_siren_schedule(["+2 months"], date(2026, 1, 15))
    assert local_dates(plain, 3) == [date(2026, 1, 15), date(2026, 3, 15), date(2026, 5, 15)]


def test_modifier_spelling_is_lenient() -> None:
    schedule = parse_siren_schedule(["  +1   Week ", "First Day Of Next Month"], date(2026, 1, 1))
    assert local_dates(schedule, 3) == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert boundary(parse_siren_schedule(["+1 days"], date(2026, 1, 1)), 1) == utc(2026, 1, 2)
    assert boundary(parse_siren_schedule(["+3 day"], date(2026, 1, 1)), 1) == utc(2026, 1, 4)


def test_siren_period_index_at() -> None:
    schedule = parse_siren_schedule(
        ["first day of next month", "+14 days"], date(2026, 1, 1), timezone="America/New_York"
    )
    assert period_index_at(schedule, utc(2025, 12, 31)) == -1
    assert period_index_at(schedule, boundary(schedule, 1)) == 1
    assert period_index_at(schedule, boundary(schedule, 1) - US) == 0
    assert period_index_at(schedule, utc(2026, 3, 20)) == 2


modifier_lists = st.lists(
    st.sampled_from(
        [
            "first day of next month",
            "last day of next month",
            "+1 day",
            "+14 days",
            "+1 week",
            "+2 weeks",
            "+1 month",
            "+3 months",
        ]
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(
    modifiers=modifier_lists,
    start=starts,
    zone=st.sampled_from(ZONES),
    k=st.integers(0, 300),
)
def test_siren_period_index_at_inverts_boundary(
    modifiers: list[str], start: date, zone: str, k: int
) -> None:
    schedule = parse_siren_schedule(modifiers, start, timezone=zone)
    begin, end = period(schedule, k)
    assert begin < end
    assert period_index_at(schedule, begin) == k
    assert period_index_at(schedule, end - US) == k


@pytest.mark.parametrize(
    ("modifiers", "index", "bad"),
    [
        (["next tuesday"], 0, "next tuesday"),
        (["+14 days", "-1 day"], 1, "-1 day"),
        (["+1 day", "+1 fortnight"], 1, "+1 fortnight"),
        (["+0 days"], 0, "+0 days"),
        (["+1 day", "+2 days", "first day of last month"], 2, "first day of last month"),
        (["+99999999 days"], 0, "+99999999 days"),
        (["+1 day", 7], 1, 7),
    ],
)
def test_unknown_modifier_names_index(modifiers: list[Any], index: int, bad: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_siren_schedule(modifiers, date(2026, 1, 1))
    field = f"schedule.modifiers[{index}]"
    assert info.value.field == field
    assert info.value.value == bad
    assert field in str(info.value)
    assert repr(bad) in str(info.value)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"frequency": "hourly"}, "schedule.frequency", "hourly"),
        ({"frequency": "Monthly"}, "schedule.frequency", "Monthly"),
        ({"frequency": None}, "schedule.frequency", None),
        ({"interval": 0}, "schedule.interval", 0),
        ({"interval": -2}, "schedule.interval", -2),
        ({"interval": True}, "schedule.interval", True),
        ({"interval": 1.5}, "schedule.interval", 1.5),
        ({"interval": "2"}, "schedule.interval", "2"),
        ({"timezone": "Mars/Olympus_Mons"}, "schedule.timezone", "Mars/Olympus_Mons"),
        ({"timezone": "America"}, "schedule.timezone", "America"),
        ({"timezone": "../../etc/passwd"}, "schedule.timezone", "../../etc/passwd"),
        ({"timezone": ""}, "schedule.timezone", ""),
        ({"timezone": "localtime"}, "schedule.timezone", "localtime"),
        ({"timezone": 5}, "schedule.timezone", 5),
        ({"start": "2026-01-01"}, "schedule.start", "2026-01-01"),
        ({"start": datetime(2026, 1, 1)}, "schedule.start", datetime(2026, 1, 1)),
        ({"modifiers": ("+1 day",)}, "schedule.modifiers", ("+1 day",)),
        ({"frequency": "siren"}, "schedule.modifiers", ()),
        ({"frequency": "siren", "modifiers": "+1 day"}, "schedule.modifiers", "+1 day"),
        (
            {"frequency": "siren", "modifiers": ("+1 day",), "interval": 2},
            "schedule.interval",
            2,
        ),
        (
            {"frequency": "siren", "modifiers": ("+1 day", "tomorrow")},
            "schedule.modifiers[1]",
            "tomorrow",
        ),
    ],
)
def test_invalid_schedule(changes: dict[str, Any], field: str, value: Any) -> None:
    arguments: dict[str, Any] = {"frequency": "monthly", "start": date(2026, 1, 1)}
    arguments.update(changes)
    with pytest.raises(InvalidInput) as info:
        Schedule(**arguments)
    assert info.value.field == field
    assert info.value.value == value
    assert field in str(info.value)
    assert repr(value) in str(info.value)


def test_modifiers_given_as_list_are_stored_as_tuple() -> None:
    schedule = Schedule(SIREN, date(2026, 1, 1), modifiers=["+1 day"])
    assert schedule.modifiers == ("+1 day",)
    assert schedule == parse_siren_schedule(("+1 day",), date(2026, 1, 1))
    assert hash(schedule) == hash(parse_siren_schedule(["+1 day"], date(2026, 1, 1)))


def test_parse_siren_schedule_refuses_a_string() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_siren_schedule("+1 day", date(2026, 1, 1))
    assert info.value.field == "schedule.modifiers"
    assert "'+1 day'" in str(info.value)


def test_parse_siren_schedule_checks_start_and_timezone() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_siren_schedule(["+1 day"], date(2026, 1, 1), timezone="Nowhere/Town")
    assert info.value.field == "schedule.timezone"
    with pytest.raises(InvalidInput) as info:
        parse_siren_schedule(["+1 day"], "2026-01-01")  # type: ignore[arg-type]
    assert info.value.field == "schedule.start"


@pytest.mark.parametrize("k", [-1, True, 1.0, "3"])
def test_invalid_k(k: Any) -> None:
    schedule = Schedule("daily", date(2026, 1, 1))
    for function in (boundary, period):
        with pytest.raises(InvalidInput) as info:
            function(schedule, k)
        assert info.value.field == "k"
        assert repr(k) in str(info.value)


def test_k_past_the_last_date() -> None:
    schedule = Schedule("yearly", date(2026, 1, 1))
    assert boundary(schedule, 7973) == utc(9999, 1, 1)
    with pytest.raises(InvalidInput) as info:
        boundary(schedule, 7974)
    assert info.value.field == "k"
    with pytest.raises(InvalidInput):
        period(schedule, 7973)
    # The last representable period has no end; instants in it still find it.
    assert period_index_at(schedule, utc(9999, 6, 1)) == 7973
