"""Timer triggers end to end (tests/devhost/apps/timer_app).

Each firing of a timer function writes a row to an Azurite table (RECORD_TABLE) holding
the schedule status and past-due flag the function was handed, so the tests see exactly
what an app sees. With the virtual clock, time moves forward only when a durable timer is
due, so the tests start `sleeper` orchestrations to make an hour pass in a moment.

What the Functions host hands over (its timer extension's TimerListener): the status as
it stood before the firing, so `Next` is the occurrence being fired and `Last` the one
before (`0001-01-01T00:00:00` the first time); the status is stored after the function
returns, so a host killed mid-firing fires that occurrence again, past due.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient

from devhost.testing import HostHandle, running_host
from tests.devhost.helpers import copy_app, executions, wait_for_status, wait_until

pytestmark = pytest.mark.slow

# Far away, so the every-second default from local.settings.json stays out of the way.
YEARLY = "0 0 0 1 1 *"
NEVER = "0001-01-01T00:00:00"


def records(connection: str, table: str, function: str) -> list[dict[str, Any]]:
    client = TableServiceClient.from_connection_string(connection).get_table_client(table)
    try:
        rows = [dict(e) for e in client.query_entities(f"PartitionKey eq '{function}'")]
    except Exception as error:  # the table appears with the first firing
        if "TableNotFound" in str(error):
            return []
        raise
    return sorted(rows, key=lambda r: r["RowKey"])


def release_held(connection: str, table: str) -> None:
    client = TableServiceClient.from_connection_string(connection)
    client.create_table_if_not_exists(table).upsert_entity(
        {"PartitionKey": "release", "RowKey": "now"}
    )


def host_now(host: HostHandle) -> datetime:
    response = requests.get(
        f"{host.base_url}/admin/host/clock", params={"code": host.master_key}, timeout=10
    )
    assert response.status_code == 200
    return datetime.fromisoformat(response.json()["now"])


def sleep_durably(host: HostHandle, seconds: int) -> dict[str, Any]:
    """Start `sleeper` for `seconds` of host time and wait for it (a clock jump)."""
    response = requests.post(
        f"{host.management}/orchestrators/sleeper",
        params={"code": host.system_key},
        json=seconds,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return wait_for_status(response.json()["statusQueryGetUri"])


def next_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def spelled(moment: datetime) -> str:
    """A whole-second UTC time as the host spells it in a schedule status."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def test_an_hourly_timer_gets_the_hosts_schedule_status_and_fires_each_occurrence_once(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    env = {
        "RECORD_CONNECTION": storage_connection_string,
        "RECORD_TABLE": unique_name,
        "TICK_SCHEDULE": YEARLY,
    }
    app_dir = copy_app("timer_app", tmp_path)

    def hourly() -> list[dict[str, Any]]:
        return records(storage_connection_string, unique_name, "hourly")

    def startups() -> list[dict[str, Any]]:
        return records(storage_connection_string, unique_name, "at_startup")

    with running_host(app_dir, clock="virtual", hub=unique_name, env=env) as host:
        wait_until(startups, message="run_on_startup to fire")
        start = host_now(host)
        first_hour = next_hour(start)

        slept = sleep_durably(host, 3600)
        first = wait_until(hourly, message="the hourly timer to fire")
        moved = host_now(host)

        host.stop()
        host.restart()
        wait_until(lambda: len(startups()) == 2, message="run_on_startup after the restart")
        # The virtual clock resumes where it was, not at real time: the occurrence that
        # fired does not fire again, the next one does.
        assert host_now(host) >= moved
        sleep_durably(host, 3600)
        both = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(hourly()))
        log = host.log()

    assert slept["output"] == {"slept": 3600}
    assert moved >= start + timedelta(hours=1)
    # The first firing: Next is the occurrence being fired, nothing fired before it.
    assert [(r["Last"], r["Next"], r["LastUpdated"], r["PastDue"]) for r in first] == [
        (NEVER, spelled(first_hour), NEVER, False)
    ]
    # The second: Next is its own occurrence, Last when the one before ran (a jump of
    # the virtual clock stops at an occurrence, so that is on time, give or take the
    # moment the firing took to start).
    assert [(r["Next"], r["PastDue"]) for r in both] == [
        (spelled(first_hour), False),
        (spelled(first_hour + timedelta(hours=1)), False),
    ]
    previous = datetime.fromisoformat(both[1]["Last"])
    assert first_hour <= previous < first_hour + timedelta(minutes=1)
    assert [r["PastDue"] for r in startups()] == [False, False]
    # The host log has one Executing and one Executed line per firing.
    runs = executions(log, "hourly")
    assert len(runs) == 2
    for run in runs.values():
        assert "Timer fired at" in run["executing"][0].group("reason")
        assert [m.group("outcome") for m in run["executed"]] == ["Succeeded"]


def test_a_host_killed_mid_firing_fires_that_occurrence_again_past_due(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    env = {
        "RECORD_CONNECTION": storage_connection_string,
        "RECORD_TABLE": unique_name,
        "TICK_SCHEDULE": YEARLY,
        "HELD_SCHEDULE": "0 0 * * * *",
    }
    app_dir = copy_app("timer_app", tmp_path)

    def held() -> list[dict[str, Any]]:
        return records(storage_connection_string, unique_name, "held")

    with running_host(app_dir, clock="virtual", hub=unique_name, env=env) as host:
        occurrence = next_hour(host_now(host))
        # The sleeper takes the clock past the hour; `held` then waits to be released.
        requests.post(
            f"{host.management}/orchestrators/sleeper",
            params={"code": host.system_key},
            json=7200,
            timeout=10,
        ).raise_for_status()
        first = wait_until(held, message="the held timer to fire")
        host.kill()
        release_held(storage_connection_string, unique_name)
        host.restart()
        again = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(held()))
        after_restart = host_now(host)
        # Its status is stored once the function returns: the next firing is an hour on.
        sleep_durably(host, 3600)
        third = wait_until(lambda: (lambda r: r if len(r) >= 3 else None)(held()))

    assert [(r["Next"], r["PastDue"]) for r in first] == [(spelled(occurrence), False)]
    # The same occurrence again: Next still names it, and it is past due.
    assert [(r["Last"], r["Next"], r["PastDue"]) for r in again] == [
        (NEVER, spelled(occurrence), False),
        (NEVER, spelled(occurrence), True),
    ]
    # A past-due firing counts from when it ran, as the host does.
    last = datetime.fromisoformat(third[2]["Last"])
    assert occurrence < last <= after_restart
    assert third[2]["Next"] == spelled(next_hour(last))
    assert third[2]["PastDue"] is False


def test_a_schedule_more_frequent_than_a_minute_gets_no_status_and_is_never_past_due(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    """The host does not monitor such schedules (TimerSchedule.ShouldDisableScheduleMonitor)."""
    env = {"RECORD_CONNECTION": storage_connection_string, "RECORD_TABLE": unique_name}
    app_dir = copy_app("timer_app", tmp_path)

    def ticks() -> list[dict[str, Any]]:
        return records(storage_connection_string, unique_name, "ticker")

    # ticker's schedule is %TICK_SCHEDULE%, "* * * * * *" in local.settings.json Values.
    with running_host(app_dir, hub=unique_name, env=env) as host:
        before = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(ticks()))
        host.stop()
        stopped_at = datetime.now(UTC)
        # Down while at least two occurrences pass: nothing is owed for them.
        wait_until(lambda: datetime.now(UTC) > stopped_at + timedelta(seconds=2.2), timeout=5)
        host.restart()
        after = wait_until(lambda: (lambda r: r if len(r) >= len(before) + 2 else None)(ticks()))

    assert all(r["HasStatus"] is False and r["PastDue"] is False for r in after)
