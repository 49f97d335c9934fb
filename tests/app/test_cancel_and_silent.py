"""Agents that would run for a long time: canceled mid-monitoring, or silent to the deadline.

The host gives agents up to two minutes of real time, so only the orchestration (a cancel,
or the run's deadline on the virtual clock) ends them. HAYMAKER_AGENT_SILENT=a02 makes
agent a02 of every run report nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.app.helpers import App, app_host, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def patient_app(
    private_storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    with app_host(
        tmp_path_factory.mktemp("patient"),
        private_storage_connection_string,
        HAYMAKER_AGENT_MAX_WALL_SECONDS="120",
        HAYMAKER_AGENT_SILENT="a02",
    ) as app:
        yield app


def test_cancel_mid_monitoring_tears_every_agent_down(patient_app: App) -> None:
    app = patient_app
    run_id = app.start_run({"count": 2, "duration": "PT24H"})
    app.wait_for_phase(run_id, "monitoring", 2)
    # Both agents are at work: they made tagged resources that teardown must remove.
    wait_until(
        lambda: (
            {r["tags"]["azurehaymaker-agent"] for r in app.provider().list_tagged_resources(run_id)}
            == {"a00", "a01"}
        ),
        timeout=30,
        message="both agents to create resources",
    )
    response = app.post(f"runs/{run_id}/cancel")
    assert response.status_code == 202, response.text
    assert response.json() == {"run_id": run_id, "status": "canceling"}

    run = app.wait_for_run(run_id)
    assert run["status"] == "canceled", run
    assert run["orchestration"]["runtime_status"] == "Completed"
    assert (run["agents_torn_down"], run["left_behind"]) == (2, 0), run
    assert {a["phase"] for a in run["agents"]} == {"done"}
    assert {a["status"] for a in run["agents"]} == {"canceled"}
    report = app.report(run_id)
    assert report["status"] == "canceled"
    assert report["outcomes"] == {"canceled": 2}, report
    assert (report["torn_down"], report["left_behind"]) == (2, 0)
    assert (
        report["resources_removed"] >= 2
        and report["resources_created"] == report["resources_removed"]
    )
    # Deadline was 24 h away: the agents were stopped, not finished.
    kinds = [e["type"] for e in app.events(run_id)]
    assert "finished" not in kinds
    assert app.leftovers(run_id) == []

    again = app.post(f"runs/{run_id}/cancel")
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert (error["code"], error["field"]) == ("finished", "run_id")
    assert "canceled" in error["message"]


def test_a_cancel_right_after_the_start_reaches_every_agent(patient_app: App) -> None:
    """The cancel comes while the agents' orchestrations are being created: each agent
    still gets it (told again once its orchestration exists, or reading it from the run
    record as it starts), tears down, and none runs to the deadline 24 hours away."""
    app = patient_app
    run_id = app.start_run({"count": 3, "duration": "PT24H"})
    response = app.post(f"runs/{run_id}/cancel")
    assert response.status_code == 202, response.text

    run = app.wait_for_run(run_id)
    assert run["status"] == "canceled", run
    report = app.report(run_id)
    assert report["outcomes"] == {"canceled": 3}, report
    assert (report["torn_down"], report["left_behind"]) == (3, 0), report
    for agent in ("a00", "a01", "a02"):
        status = app.instance_status(f"{run_id}:{agent}", history=True).json()
        fired = [e["FireAt"] for e in status["historyEvents"] if e["EventType"] == "TimerFired"]
        assert all(_time(at) < _time(run["deadline"]) for at in fired), (agent, fired)
    assert "finished" not in [e["type"] for e in app.events(run_id)]
    assert app.leftovers(run_id) == []


def test_a_silent_agent_is_torn_down_at_the_deadline(patient_app: App) -> None:
    app = patient_app
    run_id = app.start_run({"count": 3, "duration": "PT1H"})
    run = app.wait_for_run(run_id)
    assert run["status"] == "completed", run
    assert (run["agents_torn_down"], run["left_behind"]) == (3, 0), run
    report = app.report(run_id)
    [silent] = [r for r in report["agent_results"] if r["agent_id"] == "a02"]
    assert (silent["outcome"], silent["clean"], silent["left"]) == ("deadline", True, [])
    # It never said a word, while the others had time to report ...
    assert app.events(run_id, agent="a02") == []
    for agent in ("a00", "a01"):
        assert "started" in [e["type"] for e in app.events(run_id, agent=agent)], agent
    # ... and it was still running when teardown stopped it: nothing but the deadline
    # ended it, on the timer that fired at the run's deadline.
    status = app.instance_status(f"{run_id}:a02", history=True).json()
    history = status["historyEvents"]
    [stopped] = [
        e["Result"]
        for e in history
        if e["EventType"] == "TaskCompleted" and e.get("FunctionName") == "stop_agent"
    ]
    assert stopped["was_running"] is True, stopped
    fired = [e["FireAt"] for e in history if e["EventType"] == "TimerFired"]
    assert fired and _time(fired[-1]) == _time(run["deadline"]), (fired, run["deadline"])
    assert status["output"]["outcome"] == "deadline"
    assert app.leftovers(run_id) == []


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
