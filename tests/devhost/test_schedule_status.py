"""The schedule status rules of the Functions host's timer extension, without a host."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devhost.schedule_status import (
    NEVER,
    ScheduleStatus,
    after_firing,
    format_host_time,
    parse_host_time,
    reconcile,
)
from ncrontab import Schedule

HOURLY = Schedule.parse("0 0 * * * *")
T = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def test_times_are_spelled_as_the_host_sends_them() -> None:
    assert format_host_time(None) == NEVER == "0001-01-01T00:00:00"
    assert format_host_time(T) == "2026-12-01T06:00:00+00:00"
    assert format_host_time(T + timedelta(microseconds=7500)) == "2026-12-01T06:00:00.0075+00:00"
    # Json.NET writes seven fractional digits; the year-1 default means "never".
    assert parse_host_time("2026-12-01T06:00:00.0075386+00:00") == T + timedelta(microseconds=7538)
    assert parse_host_time("2026-12-01T06:00:00Z") == T
    assert parse_host_time(NEVER) is None
    assert parse_host_time("yesterday") is None


def test_an_occurrence_missed_while_down_is_past_due() -> None:
    stored = ScheduleStatus(
        last=T - timedelta(hours=1), next=T, last_updated=T - timedelta(hours=1)
    )
    assert reconcile(HOURLY, T + timedelta(minutes=5), stored) == (stored, True)
    assert reconcile(HOURLY, T - timedelta(minutes=5), stored) == (stored, False)


def test_a_changed_schedule_is_not_past_due_for_occurrences_it_never_had() -> None:
    # Stored by an every-six-hours schedule; the app now says hourly.
    stored = ScheduleStatus(last=T, next=T + timedelta(hours=6), last_updated=T)
    now = T + timedelta(hours=3, minutes=30)
    status, missed = reconcile(HOURLY, now, stored)
    assert missed is False
    assert status == ScheduleStatus(last=None, next=T + timedelta(hours=4), last_updated=now)


def test_a_firing_that_starts_a_moment_early_counts_from_its_occurrence() -> None:
    status = ScheduleStatus(last=T - timedelta(hours=1), next=T, last_updated=None)
    early = after_firing(HOURLY, status, T - timedelta(milliseconds=300), on_schedule=True)
    assert (early.last, early.next) == (T, T + timedelta(hours=1))
    late = after_firing(HOURLY, status, T + timedelta(seconds=2), on_schedule=False)
    assert (late.last, late.next) == (T + timedelta(seconds=2), T + timedelta(hours=1))


@pytest.mark.parametrize(
    ("expression", "unmonitored"),
    [
        ("* * * * * *", True),
        ("*/10 * * * * *", True),
        ("0 * * * * *", False),
        ("*/10 5 * * * *", False),
        ("* * * * *", False),
        ("00:00:30", True),
        ("00:01:00", False),
    ],
)
def test_schedules_firing_more_than_once_a_minute_are_not_monitored(
    expression: str, unmonitored: bool
) -> None:
    assert Schedule.parse(expression).fires_more_than_once_a_minute() is unmonitored
