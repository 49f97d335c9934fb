"""Reports that say what happened: agents that run their scenario to its end before the
deadline, runs cut short that say so, and one clock for every time in the report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from haymaker.local_run import host_environment
from tests.app.helpers import App, app_host

pytestmark = pytest.mark.slow


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stop_agent_result(app: App, run_id: str, agent: str) -> dict[str, Any]:
    history = app.instance_status(f"{run_id}:{agent}", history=True).json()["historyEvents"]
    [stopped] = [
        e["Result"]
        for e in history
        if e["EventType"] == "TaskCompleted" and e.get("FunctionName") == "stop_agent"
    ]
    return dict(stopped)


def test_agents_on_the_virtual_clock_clean_up_themselves_before_the_deadline(
    shared_app: App,
) -> None:
    """Polls are 15 minutes apart and an agent keeps 5 minutes for cleanup: it waits on the
    host's clock for its cleanup moment, a jump stops there, and it is done by the
    deadline instead of being stopped there."""
    app = shared_app
    run_id = app.start_run({"count": 3, "duration": "PT1H", "poll_interval": "PT15M"})
    run = app.wait_for_run(run_id)
    assert run["status"] == "completed", run
    report = app.report(run_id)
    assert report["outcomes"] == {"finished": 3}, report
    events = app.events(run_id)
    for agent in ("a00", "a01", "a02"):
        mine = [e for e in events if e["agent_id"] == agent]
        phases = [e["phase"] for e in mine if e["type"] == "phase"]
        assert phases == ["deploy", "operate", "cleanup"], (agent, phases)
        assert mine[-1]["type"] == "finished" and "cut_short" not in mine[-1], mine[-1]
        # Teardown found it already gone: it had finished on its own.
        assert stop_agent_result(app, run_id, agent)["was_running"] is False
    assert app.leftovers(run_id) == []


def test_the_report_keeps_one_clock(shared_app: App) -> None:
    """Started, finished and deadline are all the orchestration's (the host's, virtual)
    time: the deadline is exactly the duration after the start, and the run finished
    after its deadline, not most of an hour before it as the machine's clock would say."""
    app = shared_app
    run_id = app.start_run({"count": 1, "duration": "PT45M", "poll_interval": "PT15M"})
    app.wait_for_run(run_id)
    report = app.report(run_id)
    started, deadline = _time(report["started_at"]), _time(report["deadline"])
    assert deadline - started == timedelta(minutes=45), report
    assert _time(report["finished_at"]) >= deadline - timedelta(minutes=5), report
    assert "created_at" not in report  # the request's time is the machine's: not here
    run = app.run(run_id)
    assert (run["started_at"], run["finished_at"]) == (report["started_at"], report["finished_at"])


@pytest.fixture(scope="module")
def capped_app(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    """Agents that may live two seconds of real time: less than any run takes."""
    with app_host(
        tmp_path_factory.mktemp("capped"),
        storage_connection_string,
        HAYMAKER_AGENT_MAX_WALL_SECONDS="2",
    ) as app:
        yield app


def test_a_run_cut_short_by_the_agents_wall_cap_says_so(capped_app: App) -> None:
    app = capped_app
    run_id = app.start_run({"count": 2, "duration": "PT4H"})
    run = app.wait_for_run(run_id)
    assert run["status"] == "cut_short", run
    report = app.report(run_id)
    assert report["status"] == "cut_short"
    assert report["outcomes"] == {"cut_short": 2}, report
    assert {a["status"] for a in run["agents"]} == {"cut_short"}, run["agents"]
    for agent in ("a00", "a01"):
        [finished] = [e for e in app.events(run_id, agent=agent) if e["type"] == "finished"]
        assert "wall-time cap of 2s" in finished["cut_short"], finished
    # Cut short, yet cleaned up: nothing is left.
    assert (report["torn_down"], report["left_behind"]) == (2, 0)
    assert app.leftovers(run_id) == []
    listed = app.get("runs", status="cut_short").json()["runs"]
    assert run_id in [r["run_id"] for r in listed]


def test_a_local_run_puts_no_fixed_cap_on_its_agents(tmp_path: Any) -> None:
    """`./dev run` gives agents the time the run needs: a large run on the virtual clock
    takes far longer than any fixed cap would allow (the old 600 s ended agents at 2h50m
    of an 8-hour run); agents follow the host's clock and give up only on a host gone."""
    env = host_environment(tmp_path, 7071)
    assert "HAYMAKER_AGENT_MAX_WALL_SECONDS" not in env
    assert env["HAYMAKER_AGENT_CLOCK_URL"] == "http://127.0.0.1:7071/admin/host/clock"
