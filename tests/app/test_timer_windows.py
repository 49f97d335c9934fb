"""Timer-started runs, fired as the Functions host fires them, on devhost's virtual clock.

One host runs the app with the Asia window (its default schedule, 06:00 UTC daily) and the
sweep (hourly_sweep, every six hours here) enabled, the virtual clock starting at 05:00 on
a random future day, so the run ids are new in any storage account. A run started over
HTTP keeps the clock moving to the first window; each window run (one silent agent, 24
hours) keeps it moving to the next day's. Along the way the test kills the host as if it
died inside the window's function, before the host recorded the firing, and plants a
leftover of the first run for the sweep.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from haymaker.catalog import load_catalog
from tests.app.helpers import App, app_host, wait_until

pytestmark = pytest.mark.slow


def random_future_day() -> date:
    return date(2040, 1, 1) + timedelta(days=random.SystemRandom().randrange(365 * 50))


def window_run_ids(app: App, day: date) -> list[str]:
    response = app.get("runs", limit=100)
    assert response.status_code == 200, response.text
    prefix = f"run-asia-{day:%Y%m%d}-"
    return sorted(
        run["run_id"] for run in response.json()["runs"] if run["run_id"].startswith(prefix)
    )


FIRING = re.compile(
    r"Executing 'Functions\.window_asia' \(Reason='Timer fired at \S+ \((?P<why>[^)]+)\)'"
)


def window_firings(app: App) -> list[str]:
    """Why devhost fired the Asia window each time: scheduled, past due or run on startup."""
    return [match["why"] for match in FIRING.finditer(app.host.log())]


def test_windows_start_one_run_per_occurrence_and_the_sweep_removes_leftovers(
    storage_connection_string: str, tmp_path: Path
) -> None:
    day1 = random_future_day()
    day2 = day1 + timedelta(days=1)
    start = datetime(day1.year, day1.month, day1.day, 5, 0, tzinfo=UTC)
    blobs = BlobServiceClient.from_connection_string(storage_connection_string)
    boot = f"boot-{uuid.uuid4().hex[:12]}"
    planted = blobs.get_container_client(f"hm-planted-{uuid.uuid4().hex[:12]}")
    with app_host(
        tmp_path,
        storage_connection_string,
        host_args=("--clock-start", start.isoformat()),
        # Silent agents do nothing between polls: the clock need not wait for them.
        idle_settle="0.05",
        HAYMAKER_RUN_SIZE="1",
        HAYMAKER_RUN_DURATION="PT24H",
        HAYMAKER_POLL_INTERVAL="PT1H",
        HAYMAKER_SCHEDULE_ASIA="0 0 6 * * *",
        # The sweep every six hours, at half past: fewer stops for the clock.
        HAYMAKER_SWEEP_SCHEDULE="0 30 */6 * * *",
        # Agents that say nothing and live till their run's deadline: every run lasts its
        # whole duration, so its polls keep the virtual clock moving.
        HAYMAKER_AGENT_SILENT="1",
        HAYMAKER_AGENT_MAX_WALL_SECONDS="900",
        **{
            "AzureWebJobs.window_asia.Disabled": "false",
            "AzureWebJobs.hourly_sweep.Disabled": "false",
        },
    ) as app:
        # What the host recorded at start, before the first firing: Next is 06:00.
        status_blob = blobs.get_blob_client(
            "azure-webjobs-hosts", f"timers/devhost-{app.hub.lower()}/window_asia/status"
        )
        before_firing = status_blob.download_blob().readall()
        assert json.loads(before_firing)["Next"] == f"{day1:%Y-%m-%d}T06:00:00+00:00"
        # The first run, over HTTP, ends at 07:00 and keeps the clock moving till then.
        app.start_run({"count": 1, "duration": "PT2H", "poll_interval": "PT30M", "run_id": boot})
        first = wait_until(lambda: window_run_ids(app, day1), 120, "the 06:00 window's run")
        app.runs.extend(first)
        assert first == [f"run-asia-{day1:%Y%m%d}-0600"]
        run = app.run(first[0])
        assert (run["request"]["region"], run["request"]["count"]) == ("asia", 1)

        # What a finished run left behind is the next sweep's to remove.
        app.wait_for_run(boot)
        planted.create_container(
            metadata={
                "azurehaymaker_managed": "true",
                "azurehaymaker_run": boot,
                "azurehaymaker_agent": "a00",
                "azurehaymaker_scenario": "planted-leftover",
            }
        )

        def planted_gone() -> bool:
            try:
                planted.get_container_properties()
            except ResourceNotFoundError:
                return True
            return False

        wait_until(planted_gone, 120, "a sweep to remove the finished run's leftover")

        # As if the host had died inside the window's function: it records a firing only
        # after its function returns, so storage would still hold the status from before.
        app.host.kill()
        recorded = json.loads(status_blob.download_blob().readall())
        assert recorded["Next"] == f"{day2:%Y-%m-%d}T06:00:00+00:00"
        status_blob.upload_blob(before_firing, overwrite=True)
        app.host.restart()
        wait_until(lambda: len(window_firings(app)) >= 2, 60, "the window to fire again, past due")
        assert window_run_ids(app, day1) == first

        second = wait_until(lambda: window_run_ids(app, day2), 240, "the next day's window run")
        app.runs.extend(second)
        firings = window_firings(app)

    assert second == [f"run-asia-{day2:%Y%m%d}-0600"]
    assert firings == [
        "scheduled",
        "past due",
        "scheduled",
    ]
    sweeps = [
        line for line in app.host.log().splitlines() if "Executing 'Functions.hourly_sweep'" in line
    ]
    assert len(sweeps) >= 2


def test_a_window_over_the_budget_logs_and_starts_nothing(
    storage_connection_string: str, tmp_path: Path
) -> None:
    """HAYMAKER_MAX_RUN_COST_USD holds for the windows as for POST /api/runs: the 06:00
    window's run (5 agents for 8 hours, at least 0.40 USD) is over 0.30 USD and is skipped,
    while a cheap run over HTTP (one cent an hour for two hours) keeps the clock moving."""
    day = random_future_day()
    start = datetime(day.year, day.month, day.day, 5, 0, tzinfo=UTC)
    catalog = load_catalog(Path(__file__).resolve().parents[2] / "scenarios")
    cheap = min(catalog.scenarios(), key=lambda s: (s.cost_per_hour_usd, s.id))
    assert (
        cheap.cost_per_hour_usd * 2
        < 0.30
        < min(s.cost_per_hour_usd for s in catalog.scenarios()) * 5 * 8
    )
    boot = f"boot-{uuid.uuid4().hex[:12]}"
    with app_host(
        tmp_path,
        storage_connection_string,
        host_args=("--clock-start", start.isoformat()),
        idle_settle="0.05",
        HAYMAKER_RUN_SIZE="small",
        HAYMAKER_RUN_DURATION="PT8H",
        HAYMAKER_POLL_INTERVAL="PT1H",
        HAYMAKER_SCHEDULE_ASIA="0 0 6 * * *",
        HAYMAKER_MAX_RUN_COST_USD="0.30",
        HAYMAKER_AGENT_SILENT="1",
        HAYMAKER_AGENT_MAX_WALL_SECONDS="900",
        **{"AzureWebJobs.window_asia.Disabled": "false"},
    ) as app:
        app.start_run(
            {"scenarios": [cheap.id], "duration": "PT2H", "poll_interval": "PT30M", "run_id": boot}
        )
        wait_until(lambda: window_firings(app), 120, "the 06:00 window to fire")
        skipped = f"Skipping the asia window's run run-asia-{day:%Y%m%d}-0600: "
        wait_until(lambda: skipped in app.host.log(), 60, "the window to log that it skipped")
        assert window_run_ids(app, day) == []
        app.wait_for_run(boot)
        log = app.host.log()
    line = next(line for line in log.splitlines() if skipped in line)
    assert "the run's estimated cost of " in line
    assert "is over the limit of 0.30 USD set by HAYMAKER_MAX_RUN_COST_USD" in line
    assert re.search(r"Executed 'Functions\.window_asia' \(Succeeded", log)
