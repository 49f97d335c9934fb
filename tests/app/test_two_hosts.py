"""Two hosts on one task hub: one runs it, the other stands by, then takes over.

Before devhost took a lease on its hub, a second host on the same hub resumed every
orchestration too: finalize_run ran twice, remove_resources ten times for five agents,
every agent ended agent_failed. Now the second host waits (answering 503 that names the
host that runs the hub), and when that host is killed it takes the run over and
finishes it: every agent launched once, every teardown step once, one report.
"""

from __future__ import annotations

import re
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import requests

from devhost.testing import HostHandle, running_host
from haymaker.naming import run_short
from tests.app.helpers import APP_DIR, IDLE_SETTLE, App, app_host, host_env, wait_until

pytestmark = pytest.mark.slow

EXECUTING = re.compile(r"Executing 'Functions\.(\w+)'")
# Activities that run only once the agents leave monitoring, i.e. after the takeover.
TEARDOWN = ("stop_agent", "remove_resources", "remove_identity", "verify_teardown")


def executions(log: str) -> Counter[str]:
    return Counter(EXECUTING.findall(log))


def standby_host(app: App, log_path: Path, **settings: str) -> AbstractContextManager[HostHandle]:
    """A second host of the app on `app`'s task hub (and agents' state folder)."""
    return running_host(
        APP_DIR,
        clock="virtual",
        hub=app.hub,
        env={**host_env(app.state_dir), **settings},
        extra_args=["--idle-settle", IDLE_SETTLE],
        log_path=log_path,
        ready=("Standby",),
    )


def host_state(base_url: str) -> str:
    return str(requests.get(f"{base_url}/admin/host/status", timeout=10).json()["state"])


def test_a_standby_host_runs_nothing_then_takes_over_after_kill_9(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    # Agents keep their own time: the clock they would follow is the first host's, on a
    # port the second host does not take over.
    with app_host(
        tmp_path / "first", storage_connection_string, unique_name, HAYMAKER_AGENT_CLOCK_URL=""
    ) as app:
        first = app.host
        assert first.process is not None
        with standby_host(app, tmp_path / "second.log", HAYMAKER_AGENT_CLOCK_URL="") as second_host:
            second = App(second_host, app.state_dir, storage_connection_string, unique_name)
            try:
                # The second host says who runs the hub, and refuses work with that.
                status = requests.get(f"{second_host.base_url}/admin/host/status", timeout=10)
                assert status.json()["state"] == "Standby", status.text
                assert f"pid {first.process.pid}" in status.json()["standbyFor"], status.text
                refused = second.get("runs")
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"]
                assert f"pid {first.process.pid}" in refused.json()["Message"]
                assert first.base_url in refused.json()["Message"]

                run_id = app.start_run({"count": 5})
                second.runs.append(run_id)
                app.wait_for_phase(run_id, "monitoring", 5)
                pid_files = sorted((app.state_dir / "agents").glob(f"{run_short(run_id)}-*.json"))
                launched = {path.name: path.read_text() for path in pid_files}
                assert len(launched) == 5
                assert executions(second_host.log()) == {}, "the standby ran something"

                first.kill()
                wait_until(
                    lambda: host_state(second_host.base_url) == "Running",
                    60,
                    lambda: f"the standby to take over\n{second_host.log()[-2000:]}",
                )
                run = second.wait_for_run(run_id, timeout=150)
                report = second.report(run_id)
                events = second.events(run_id)
                statuses = {i["instanceId"]: i["runtimeStatus"] for i in second.instances()}
                leftovers = second.leftovers(run_id)
            finally:
                second.finish_runs()
            log = second_host.log()

    ran_first, ran_second = executions(first.log()), executions(log)
    assert "is gone" in log and "Host started" in log, log[-3000:]
    assert run["status"] == "completed", run
    assert (run["agents_torn_down"], run["left_behind"]) == (5, 0), run
    # No agent failed (with two hosts running the hub, every one did). An agent may
    # reach its deadline: the clock runs on while the second host takes over.
    assert sum(report["outcomes"].values()) == 5, report
    assert set(report["outcomes"]) <= {"finished", "deadline"}, report
    # Everything after the takeover ran on the second host only, and exactly once.
    assert ran_second["finalize_run"] == 1 and ran_first["finalize_run"] == 0
    for name in TEARDOWN:
        assert (ran_first[name], ran_second[name]) == (0, 5), (name, ran_first, ran_second)
    # Each agent was launched once: its pid record is the first host's, and it started once.
    for path in pid_files:
        assert path.read_text() == launched[path.name], path.name
    started = Counter(e["agent_id"] for e in events if e["type"] == "started")
    assert started == {f"a{i:02d}": 1 for i in range(5)}, started
    # No instance row claims to run over a finished history.
    assert set(statuses.values()) == {"Completed"}, statuses
    assert leftovers == []


def test_a_standby_host_says_who_runs_the_hub_until_it_stops(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    """A clean stop releases the lease: the standby takes over at once, and then runs the
    hub's work itself (its API answers)."""
    with (
        app_host(tmp_path / "first", storage_connection_string, unique_name) as app,
        standby_host(app, tmp_path / "second.log") as second_host,
    ):
        second = App(second_host, app.state_dir, storage_connection_string, unique_name)
        assert second.get("scenarios").status_code == 503
        app.host.stop()
        wait_until(
            lambda: second.get("scenarios").status_code == 200,
            60,
            lambda: f"the standby to take over\n{second_host.log()[-2000:]}",
        )
        run_id = second.start_run({"count": 1, "duration": "PT30M"})
        assert second.wait_for_run(run_id)["status"] == "completed"
        second.finish_runs()
