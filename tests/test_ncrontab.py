"""NCRONTAB schedules fire at the moments an Azure Functions timer trigger would."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ncrontab import NcrontabError, Schedule


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_daily_window_fires_at_its_start_right_after_the_previous_second() -> None:
    regional_window = Schedule.parse("0 0 6 * * *")
    assert regional_window.next_after(utc(2024, 5, 1, 5, 59, 59)) == utc(2024, 5, 1, 6, 0, 0)


def test_a_moment_with_microseconds_still_fires_at_the_next_whole_second() -> None:
    schedule = Schedule.parse("0 0 6 * * *")
    moment = utc(2024, 5, 1, 5, 59, 59).replace(microsecond=500_000)
    assert schedule.next_after(moment) == utc(2024, 5, 1, 6, 0, 0)


def test_next_after_is_strictly_after_an_occurrence() -> None:
    schedule = Schedule.parse("0 0 6 * * *")
    assert schedule.next_after(utc(2024, 5, 1, 6, 0, 0)) == utc(2024, 5, 2, 6, 0, 0)


def test_every_15_minutes_from_2350_rolls_over_to_midnight_next_day() -> None:
    schedule = Schedule.parse("0 */15 * * * *")
    assert schedule.next_after(utc(2024, 12, 31, 23, 50)) == utc(2025, 1, 1, 0, 0)


def test_feb_29_schedule_jumps_to_the_next_leap_year() -> None:
    schedule = Schedule.parse("0 0 0 29 2 *")
    assert schedule.next_after(utc(2024, 3, 1)) == utc(2028, 2, 29)


def test_day_31_skips_months_without_one() -> None:
    schedule = Schedule.parse("0 0 12 31 * *")
    assert schedule.next_after(utc(2024, 1, 31, 12)) == utc(2024, 3, 31, 12)


def test_five_field_expression_has_no_seconds_field_and_fires_at_second_zero() -> None:
    schedule = Schedule.parse("*/5 * * * *")
    assert schedule.next_after(utc(2024, 5, 1, 10, 2, 30)) == utc(2024, 5, 1, 10, 5, 0)


def test_day_of_month_and_day_of_week_must_both_match_as_in_ncrontab() -> None:
    friday_13th = Schedule.parse("0 0 0 13 * FRI")
    assert list(friday_13th.occurrences_between(utc(2024, 1, 1), utc(2024, 12, 31))) == [
        utc(2024, 9, 13),
        utc(2024, 12, 13),
    ]


def test_month_and_day_names_are_case_insensitive_and_match_numbers() -> None:
    named = Schedule.parse("0 30 9 * jan,Jul Mon-fri")
    numbered = Schedule.parse("0 30 9 * 1,7 1-5")
    window = (utc(2024, 1, 1), utc(2025, 1, 1))
    assert list(named.occurrences_between(*window)) == list(numbered.occurrences_between(*window))


def test_day_of_week_7_is_sunday_too() -> None:
    window = (utc(2024, 1, 1), utc(2024, 3, 1))
    sundays = list(Schedule.parse("0 0 0 * * SUN").occurrences_between(*window))
    assert list(Schedule.parse("0 0 0 * * 7").occurrences_between(*window)) == sundays
    assert list(Schedule.parse("0 0 0 * * 0").occurrences_between(*window)) == sundays
    assert all(moment.weekday() == 6 for moment in sundays) and len(sundays) == 8


def test_stepped_range_and_stepped_start_pick_the_right_minutes() -> None:
    in_range = Schedule.parse("0 10-50/20 * * * *")
    from_start = Schedule.parse("0 45/5 * * * *")
    hour = (utc(2024, 5, 1, 9, 59, 59), utc(2024, 5, 1, 10, 59, 59))
    assert [t.minute for t in in_range.occurrences_between(*hour)] == [10, 30, 50]
    assert [t.minute for t in from_start.occurrences_between(*hour)] == [45, 50, 55]


def test_occurrences_between_excludes_start_includes_end_and_chains_without_gaps() -> None:
    schedule = Schedule.parse("0 */10 * * * *")
    first = list(schedule.occurrences_between(utc(2024, 5, 1, 10, 0), utc(2024, 5, 1, 10, 20)))
    second = list(schedule.occurrences_between(utc(2024, 5, 1, 10, 20), utc(2024, 5, 1, 10, 40)))
    assert first == [utc(2024, 5, 1, 10, 10), utc(2024, 5, 1, 10, 20)]
    assert second == [utc(2024, 5, 1, 10, 30), utc(2024, 5, 1, 10, 40)]


def test_other_time_zones_are_read_as_the_same_instant_and_answered_in_utc() -> None:
    schedule = Schedule.parse("0 0 6 * * *")
    five_am_utc_in_berlin = datetime(2024, 1, 1, 6, 0, tzinfo=timezone(timedelta(hours=1)))
    answer = schedule.next_after(five_am_utc_in_berlin)
    assert answer == utc(2024, 1, 1, 6, 0) and answer.tzinfo is UTC


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Schedule.parse("0 0 6 * * *").next_after(datetime(2024, 1, 1))


def test_timespan_fires_every_interval_counted_from_midnight_utc() -> None:
    every_five_minutes = Schedule.parse("00:05:00")
    assert every_five_minutes.next_after(utc(2024, 5, 1, 10, 2)) == utc(2024, 5, 1, 10, 5)


def test_timespan_not_dividing_a_day_restarts_at_midnight() -> None:
    every_seven_hours = Schedule.parse("07:00:00")
    fires = list(every_seven_hours.occurrences_between(utc(2024, 5, 1), utc(2024, 5, 2, 7)))
    assert [t.hour for t in fires] == [7, 14, 21, 0, 7]


def test_sparse_schedule_far_ahead_is_found() -> None:
    """Twenty years ahead: found by jumping field by field (stepping second by second
    would take minutes; the suite's timeout catches that, no stopwatch here)."""
    leap_day_monday = Schedule.parse("0 0 0 29 2 MON")
    assert leap_day_monday.next_after(utc(2024, 3, 1)) == utc(2044, 2, 29)


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        (
            "*/20 */15 9-17 * * MON-FRI",
            lambda t: (
                t.second % 20 == 0 and t.minute % 15 == 0 and 9 <= t.hour <= 17 and t.weekday() < 5
            ),
        ),
        (
            "30 59 23 28-31 * *",
            lambda t: (t.hour, t.minute, t.second) == (23, 59, 30) and t.day >= 28,
        ),
        (
            "0 0,30 1-3,22 * * SAT,SUN",
            lambda t: (
                t.second == 0
                and t.minute in (0, 30)
                and t.hour in (1, 2, 3, 22)
                and t.weekday() >= 5
            ),
        ),
    ],
)
def test_occurrences_agree_with_checking_every_second(
    expression: str, matches: Callable[[datetime], bool]
) -> None:
    start, end = utc(2024, 2, 27, 12), utc(2024, 3, 2, 12)
    expected = []
    moment = start + timedelta(seconds=1)
    while moment <= end:
        if matches(moment):
            expected.append(moment)
        moment += timedelta(seconds=1)
    assert expected, "the window should contain occurrences"
    assert list(Schedule.parse(expression).occurrences_between(start, end)) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 61 * * * *", "invalid NCRONTAB '0 61 * * * *': minutes value 61 is out of range 0-59"),
        ("60 * * * * *", "seconds value 60 is out of range 0-59"),
        ("0 0 24 * * *", "hours value 24 is out of range 0-23"),
        ("0 0 0 0 * *", "day of month value 0 is out of range 1-31"),
        ("0 0 0 * 13 *", "month value 13 is out of range 1-12"),
        ("0 0 0 * * 8", "day of week value 8 is out of range 0-7"),
        ("0 0 0 * FOO *", "month value 'FOO' is not a number or a month name (JAN-DEC)"),
        ("0 0 0 * * FUN", "day of week value 'FUN' is not a number or a day name (SUN-SAT)"),
        ("0 */0 * * * *", "minutes step 0 must be at least 1"),
        ("0 50-10 * * * *", "minutes range '50-10' runs backwards"),
        ("0 1,,2 * * * *", "minutes has an empty list element"),
        ("0 0 6 * *  * *", "expected 6 fields"),
        ("0 0 0 30 2 *", "day of month 30 never occurs in month FEB"),
        ("25:00:00", "TimeSpan hh:mm:ss needs hours 0-23"),
        ("00:00:00", "TimeSpan interval must be longer than zero"),
    ],
)
def test_bad_expression_names_the_field_and_the_fault(expression: str, message: str) -> None:
    with pytest.raises(NcrontabError) as caught:
        Schedule.parse(expression)
    assert message in str(caught.value)
    assert repr(expression) in str(caught.value)
