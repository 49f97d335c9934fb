"""NCRONTAB timer schedules, read and evaluated the way Azure Functions timer triggers do.

The Functions host hands a timer trigger's `schedule` to the .NET NCrontab library: six
fields `{second} {minute} {hour} {day} {month} {day-of-week}`, or five (no seconds) when
the expression has exactly five. An expression that is not cron is tried as a .NET
TimeSpan (`hh:mm:ss`), meaning "every interval". devhost must fire the same moments as
Azure, so this module follows NCrontab's semantics rather than any one Unix cron's.

A package of its own because two parties need it and neither may import the other: devhost
fires timers with it, and the app validates its schedule settings with it (the deployed
app must not ship devhost).

All times are UTC: devhost does not honour WEBSITE_TIME_ZONE.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)

# The Gregorian calendar repeats every 400 years, so a schedule with no occurrence within
# that span has none at all. Parse-time checks already reject the schedules that can never
# fire; this bound only guarantees the search terminates.
_SEARCH_YEARS = 400

# Longest each month can be, February counting leap years: a day of month beyond this
# for every allowed month can never occur.
_MAX_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_MONTH_NAMES = tuple(calendar.month_name[1:])  # January..December, index 0 = month 1
_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

_TIMESPAN = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})")


class NcrontabError(ValueError):
    """An expression that is not a valid schedule, or a schedule that can never fire."""


@dataclass(frozen=True)
class _FieldSpec:
    """How one cron field is spelled: its name in messages, range and value names."""

    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_hint: str = ""


_SECONDS = _FieldSpec("seconds", 0, 59)
_MINUTES = _FieldSpec("minutes", 0, 59)
_HOURS = _FieldSpec("hours", 0, 23)
_DAY_OF_MONTH = _FieldSpec("day of month", 1, 31)
_MONTH = _FieldSpec("month", 1, 12, _MONTH_NAMES, "a month name (JAN-DEC)")
# 7 is accepted as a second spelling of Sunday (as most crons do; NCrontab itself stops
# at 6) and folded to 0 after parsing.
_DAY_OF_WEEK = _FieldSpec("day of week", 0, 7, _DAY_NAMES, "a day name (SUN-SAT)")


class Schedule:
    """A parsed timer schedule; `next_after` gives its next firing time in UTC."""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r})"

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """Parse a timer trigger schedule: NCRONTAB (6 or 5 fields) or a `hh:mm:ss` TimeSpan.

        Raises NcrontabError naming the expression, the field and the fault.
        """
        tokens = expression.split()
        if len(tokens) == 1 and ":" in tokens[0]:
            return _IntervalSchedule.from_timespan(expression, tokens[0])
        return _CronSchedule.from_tokens(expression, tokens)

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment`, as an aware UTC datetime."""
        return self._next(_as_utc(moment, "moment"))

    def occurrences_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Each occurrence in (start, end]: the host fires each one once across its polls.

        Start is exclusive so that passing the previous poll's `end` as the next `start`
        neither repeats nor skips an occurrence.
        """
        current = _as_utc(start, "start")
        limit = _as_utc(end, "end")
        while True:
            current = self._next(current)
            if current > limit:
                return
            yield current

    def fires_more_than_once_a_minute(self) -> bool:
        """Whether the Functions host leaves this schedule unmonitored (no schedule status,
        never past due): a TimeSpan under a minute, or a cron expression whose fields above
        the seconds allow every value and whose seconds field allows more than one."""
        raise NotImplementedError

    def _next(self, moment: datetime) -> datetime:
        raise NotImplementedError


class _CronSchedule(Schedule):
    """An NCRONTAB expression: every field holds the sorted values it allows."""

    def __init__(
        self,
        expression: str,
        seconds: tuple[int, ...],
        minutes: tuple[int, ...],
        hours: tuple[int, ...],
        days: tuple[int, ...],
        months: tuple[int, ...],
        weekdays: frozenset[int],
    ) -> None:
        super().__init__(expression)
        # Every minute of every hour of every day: only the seconds field restricts it.
        sizes = (len(minutes), len(hours), len(days), len(months), len(weekdays))
        self._every_minute = sizes == (60, 24, 31, 12, 7)
        self._seconds = seconds
        self._minutes = minutes
        self._hours = hours
        self._days = days
        self._months = months
        self._weekdays = weekdays

    @classmethod
    def from_tokens(cls, expression: str, tokens: list[str]) -> _CronSchedule:
        if len(tokens) == 5:
            tokens = ["0", *tokens]
        elif len(tokens) != 6:
            raise NcrontabError(
                f"invalid NCRONTAB {expression!r}: expected 6 fields "
                "({second} {minute} {hour} {day} {month} {day-of-week}) or 5 without "
                f"seconds, got {len(tokens)}"
            )
        specs = (_SECONDS, _MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK)
        seconds, minutes, hours, days, months, weekdays = (
            _parse_field(expression, spec, token) for spec, token in zip(specs, tokens, strict=True)
        )
        _reject_impossible_dates(expression, days, months)
        return cls(
            expression,
            seconds,
            minutes,
            hours,
            days,
            months,
            frozenset(day % 7 for day in weekdays),
        )

    def fires_more_than_once_a_minute(self) -> bool:
        return self._every_minute and len(self._seconds) > 1

    def _next(self, moment: datetime) -> datetime:
        # Work on naive UTC whole seconds; the first whole second after `moment` is the
        # earliest candidate, even when `moment` carries microseconds.
        t = moment.replace(tzinfo=None, microsecond=0) + _ONE_SECOND
        last_year = t.year + _SEARCH_YEARS
        try:
            while t.year <= last_year:
                advanced = self._advance(t)
                if advanced == t:
                    return t.replace(tzinfo=UTC)
                t = advanced
        except (OverflowError, ValueError):
            pass  # Ran past datetime's year 9999: reported below.
        raise NcrontabError(
            f"NCRONTAB {self.expression!r} has no occurrence after {moment.isoformat()}"
        )

    def _advance(self, t: datetime) -> datetime:
        """`t` itself if it matches; else the earliest time that might, skipping ahead.

        Each step fixes the largest field that does not match and resets every smaller
        field to its start, so the search jumps months, days, hours and minutes at a
        time instead of stepping over seconds.
        """
        if t.month not in self._months:
            month = _next_allowed(self._months, t.month)
            if month is None:
                return datetime(t.year + 1, self._months[0], 1)
            return datetime(t.year, month, 1)
        if t.day not in self._days:
            day = _next_allowed(self._days, t.day)
            if day is None or day > calendar.monthrange(t.year, t.month)[1]:
                return _first_of_next_month(t)
            return datetime(t.year, t.month, day)
        # NCrontab requires day of month AND day of week to match (it filters the
        # day-of-month result by weekday), unlike Vixie cron, which fires when either
        # restricted field matches. Azure follows NCrontab, so `0 0 0 13 * FRI` means
        # only Friday the 13th.
        if (t.isoweekday() % 7) not in self._weekdays:
            return datetime(t.year, t.month, t.day) + _ONE_DAY
        if t.hour not in self._hours:
            hour = _next_allowed(self._hours, t.hour)
            if hour is None:
                return datetime(t.year, t.month, t.day) + _ONE_DAY
            return t.replace(hour=hour, minute=0, second=0)
        if t.minute not in self._minutes:
            minute = _next_allowed(self._minutes, t.minute)
            if minute is None:
                return t.replace(minute=0, second=0) + timedelta(hours=1)
            return t.replace(minute=minute, second=0)
        if t.second not in self._seconds:
            second = _next_allowed(self._seconds, t.second)
            if second is None:
                return t.replace(second=0) + timedelta(minutes=1)
            return t.replace(second=second)
        return t


class _IntervalSchedule(Schedule):
    """A TimeSpan schedule such as `00:05:00`: every interval.

    The host measures a TimeSpan schedule from the previous run, which depends on when the
    host started. devhost instead anchors it to 00:00:00 UTC each day (00:00, 00:05, ...),
    so restarts do not shift it and tests can predict it; an interval that does not divide
    a day restarts from midnight, leaving a shorter gap before 00:00.
    """

    def __init__(self, expression: str, interval: timedelta) -> None:
        super().__init__(expression)
        self._interval = interval

    def fires_more_than_once_a_minute(self) -> bool:
        return self._interval < timedelta(minutes=1)

    @classmethod
    def from_timespan(cls, expression: str, token: str) -> _IntervalSchedule:
        match = _TIMESPAN.fullmatch(token)
        if match is None:
            raise NcrontabError(
                f"invalid NCRONTAB {expression!r}: a TimeSpan schedule must be hh:mm:ss"
            )
        hours, minutes, seconds = (int(part) for part in match.groups())
        if hours > 23 or minutes > 59 or seconds > 59:
            raise NcrontabError(
                f"invalid NCRONTAB {expression!r}: TimeSpan hh:mm:ss needs hours 0-23, "
                "minutes 0-59 and seconds 0-59"
            )
        interval = timedelta(hours=hours, minutes=minutes, seconds=seconds)
        if not interval:
            raise NcrontabError(
                f"invalid NCRONTAB {expression!r}: a TimeSpan interval must be longer than zero"
            )
        return cls(expression, interval)

    def _next(self, moment: datetime) -> datetime:
        midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        candidate = midnight + ((moment - midnight) // self._interval + 1) * self._interval
        return min(candidate, midnight + _ONE_DAY)


def _as_utc(moment: datetime, name: str) -> datetime:
    """Aware datetimes only: a naive one is ambiguous, and guessing local time shifts fires."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")
    return moment.astimezone(UTC)


def _next_allowed(allowed: tuple[int, ...], value: int) -> int | None:
    """The smallest allowed value greater than `value`, or None when the field wraps."""
    index = bisect.bisect_right(allowed, value)
    return allowed[index] if index < len(allowed) else None


def _first_of_next_month(t: datetime) -> datetime:
    if t.month == 12:
        return datetime(t.year + 1, 1, 1)
    return datetime(t.year, t.month + 1, 1)


def _parse_field(expression: str, spec: _FieldSpec, token: str) -> tuple[int, ...]:
    """The sorted values one field allows: `*`, `n`, `a-b`, lists, `*/n`, `a-b/n`, `a/n`."""
    values: set[int] = set()
    for element in token.split(","):
        values.update(_parse_element(expression, spec, element))
    return tuple(sorted(values))


def _parse_element(expression: str, spec: _FieldSpec, element: str) -> range:
    def fail(problem: str) -> NcrontabError:
        return NcrontabError(f"invalid NCRONTAB {expression!r}: {spec.label} {problem}")

    if not element:
        raise fail("has an empty list element")
    base, slash, step_text = element.partition("/")
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()):
            raise fail(f"step {step_text!r} is not a number")
        step = int(step_text)
        if step < 1:
            raise fail(f"step {step} must be at least 1")
    if base == "*":
        first, last = spec.low, spec.high
    elif "-" in base:
        start_text, _, end_text = base.partition("-")
        first = _parse_value(spec, start_text, fail)
        last = _parse_value(spec, end_text, fail)
        if first > last:
            raise fail(f"range {base!r} runs backwards")
    else:
        first = _parse_value(spec, base, fail)
        # NCrontab reads `a/n` as "from a to the field's end, every n".
        last = spec.high if slash else first
    return range(first, last + 1, step)


def _parse_value(spec: _FieldSpec, text: str, fail: Callable[[str], NcrontabError]) -> int:
    if text.isascii() and text.isdigit():
        value = int(text)
        if not spec.low <= value <= spec.high:
            raise fail(f"value {value} is out of range {spec.low}-{spec.high}")
        return value
    # Like NCrontab, any prefix of a name of at least three letters names it (MON, Mon,
    # Monday); three letters are enough to make every month and day name unique.
    if spec.names and len(text) >= 3:
        for index, name in enumerate(spec.names):
            if name.lower().startswith(text.lower()):
                return spec.low + index
    expected = f"a number or {spec.names_hint}" if spec.names else "a number"
    raise fail(f"value {text!r} is not {expected}")


def _reject_impossible_dates(
    expression: str, days: tuple[int, ...], months: tuple[int, ...]
) -> None:
    """Refuse a day/month pairing no calendar has, e.g. 30 February, at parse time."""
    if all(days[0] > _MAX_DAYS_IN_MONTH[month - 1] for month in months):
        month_list = ",".join(_MONTH_NAMES[month - 1][:3].upper() for month in months)
        raise NcrontabError(
            f"invalid NCRONTAB {expression!r}: day of month {','.join(map(str, days))} "
            f"never occurs in month {month_list}, so the schedule can never fire"
        )
