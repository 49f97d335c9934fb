"""A timer's schedule status, kept and handed to the function as the Functions host does.

The timer extension (Microsoft.Azure.WebJobs.Extensions.Timers: `TimerListener`,
`ScheduleMonitor`) keeps one status per timer in `azure-webjobs-hosts/timers/<host
id>/<function>/status`: `Last`, `Next`, `LastUpdated`. What a function receives is the
status as it stood *before* the firing, which surprises most people:

- `Next` is the occurrence being fired (a past-due firing carries the missed one);
- `Last` is the previous firing, or `0001-01-01T00:00:00` if the timer never fired;
- the status is written *after* the function returns, so a host that dies while the
  function runs fires that occurrence again after a restart, with `IsPastDue` true.

Schedules that fire more than once a minute are not monitored: no status is kept or
handed to the function, and nothing is ever past due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ncrontab import Schedule

# What the host sends for a time that never happened (.NET's default DateTime).
NEVER = "0001-01-01T00:00:00"


def format_host_time(moment: datetime | None) -> str:
    """The host's spelling: Json.NET's round-trip format, trailing zero fractions trimmed."""
    if moment is None:
        return NEVER
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "+00:00"


def parse_host_time(text: Any) -> datetime | None:
    """A stored or sent time; None for the default (year 1) or anything unreadable."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year == 1:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime | None
    next: datetime
    last_updated: datetime | None

    def to_json(self) -> dict[str, str]:
        return {
            "Last": format_host_time(self.last),
            "Next": format_host_time(self.next),
            "LastUpdated": format_host_time(self.last_updated),
        }

    @classmethod
    def from_json(cls, data: Any) -> ScheduleStatus | None:
        if not isinstance(data, dict):
            return None
        upcoming = parse_host_time(data.get("Next"))
        if upcoming is None:
            return None
        return cls(
            parse_host_time(data.get("Last")), upcoming, parse_host_time(data.get("LastUpdated"))
        )


def initial_status(schedule: Schedule, now: datetime) -> ScheduleStatus:
    """What the host records for a timer that has no status yet."""
    return ScheduleStatus(last=None, next=schedule.next_after(now), last_updated=now)


def reconcile(
    schedule: Schedule, now: datetime, stored: ScheduleStatus
) -> tuple[ScheduleStatus, bool]:
    """The host's check at start-up (`ScheduleMonitor.CheckPastDueAsync`).

    Returns the status to go on with (changed when the schedule changed since `Next` was
    computed, which the caller must then store) and whether an occurrence was missed.
    """
    basis = stored.last or stored.last_updated or now
    expected = schedule.next_after(basis)
    status = stored
    if stored.next != expected:
        # A changed schedule: an occurrence of the new schedule that already passed is
        # not counted as missed.
        if now > expected:
            expected, basis = schedule.next_after(now), now
        status = ScheduleStatus(last=None, next=expected, last_updated=basis)
    return status, now > status.next


def after_firing(
    schedule: Schedule, status: ScheduleStatus, invoked_at: datetime, on_schedule: bool
) -> ScheduleStatus:
    """The status the host records once a firing's function has returned.

    A scheduled firing that started a moment early (clock skew) counts from the
    occurrence, so the same `Next` is never recorded twice.
    """
    moment = invoked_at
    if on_schedule and status.next > invoked_at:
        moment = status.next
    return ScheduleStatus(last=moment, next=schedule.next_after(moment), last_updated=moment)
