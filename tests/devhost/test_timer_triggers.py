"""Timer triggers end to end (tests/devhost/apps/timer_app).

Each firing of a timer function writes a row to an Azurite table (RECORD_TABLE), so the
tests see every firing: which function, which occurrence, whether it was past due. With
the virtual clock, time moves forward only when a durable timer is due, so the tests
start `sleeper` orchestrations to make an hour pass in a moment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableServiceClient

from devhost.replay import parse_iso
from devhost.testing import HostHandle, running_host
from tests.devhost.helpers import copy_app, executions, wait_for_status, wait_until

pytestmark = pytest.mark.slow

# Far away, so the every-second default from local.settings.json stays out of the way.
YEARLY = "0 0 0 1 1 *"


def records(connection: str, table: str, function: str) -> list[dict[str, Any]]:
    client = TableServiceClient.from_connection_string(connection).get_table_client(table)
    try:
        rows = [dict(e) for e in client.query_entities(f"PartitionKey eq '{function}'")]
    except Exception as error:  # the table appears with the first firing
        if "TableNotFound" in str(error):
            return []
        raise
    return sorted(rows, key=lambda r: (r["HostNow"], r["Occurrence"]))


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


def test_virtual_clock_fires_each_hourly_occurrence_once_across_a_restart(
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
        # Two more hours of host time: whatever the clock says after the restart, the
        # occurrence that already fired must not fire again.
        sleep_durably(host, 7200)
        both = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(hourly()))
        log = host.log()

    assert slept["output"] == {"slept": 3600}
    assert moved >= start + timedelta(hours=1)
    assert [parse_iso(r["Occurrence"]) for r in first] == [first_hour]
    assert first[0]["PastDue"] is False
    assert sorted(parse_iso(r["Occurrence"]) for r in both) == [
        first_hour,
        first_hour + timedelta(hours=1),
    ]
    assert [r["PastDue"] for r in startups()] == [False, False]
    # The host log has one Executing and one Executed line per firing.
    runs = executions(log, "hourly")
    assert len(runs) == 2
    for run in runs.values():
        assert "Timer fired at" in run["executing"][0].group("reason")
        assert [m.group("outcome") for m in run["executed"]] == ["Succeeded"]


def test_setting_schedule_and_past_due_after_a_missed_occurrence(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    env = {"RECORD_CONNECTION": storage_connection_string, "RECORD_TABLE": unique_name}
    app_dir = copy_app("timer_app", tmp_path)

    def ticks() -> list[dict[str, Any]]:
        return records(storage_connection_string, unique_name, "ticker")

    # ticker's schedule is %TICK_SCHEDULE%, "* * * * * *" in local.settings.json Values.
    with running_host(app_dir, hub=unique_name, env=env) as host:
        before = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(ticks()))
        host.stop()
        last_next = max(parse_iso(r["Next"]) for r in ticks())
        # The host stays down while at least one whole occurrence passes (a firing cut
        # short by the stop may have moved the stored schedule one second further).
        wait_until(lambda: datetime.now(UTC) > last_next + timedelta(seconds=1.2), timeout=5)
        host.restart()
        late = wait_until(lambda: [r for r in ticks() if r["PastDue"]], message="a past-due run")
        after = wait_until(lambda: (lambda r: r if len(r) >= len(before) + 2 else None)(ticks()))

    on_time = [parse_iso(r["Occurrence"]) for r in before]
    assert all(moment.microsecond == 0 for moment in on_time)
    assert all(b - a >= timedelta(seconds=1) for a, b in zip(on_time, on_time[1:], strict=False))
    assert not any(r["PastDue"] for r in before)
    assert len(late) == 1
    occurrences = [r["Occurrence"] for r in after]
    assert len(occurrences) == len(set(occurrences)), "an occurrence fired twice"
