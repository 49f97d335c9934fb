"""The replay gate: recorded histories still replay identically through today's code.

tests/replay/histories holds the histories of one run, one agent and one sweep
orchestration, recorded from a full local run (record_histories.py). Each is replayed
episode by episode through the orchestrators function_app.py registers, and every
scheduled activity, timer and sub-orchestration (and the outcome) must equal what the
history holds. A change that fails here would strand instances in flight when deployed:
version the orchestrator instead (a new name), or re-record on purpose if no instance of
the old code can still be running.

The last tests prove the gate bites, without touching the real files: altered copies of
the agent orchestrator, registered on throwaway DFApps, are caught with a message that
names the episode and both actions.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

import orchestrations.agent
from devhost.indexer import ORCHESTRATION, IndexedFunction, describe_function, index_app
from devhost.replay import EventType
from devhost.replay_check import (
    RecordedHistory,
    ReplayReport,
    call_function,
    check_history,
    check_recorded,
    split_episodes,
)
from haymaker.plans import AgentPlan
from orchestrations.retries import CLOUD_CALL

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = Path(__file__).resolve().parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))
MAX_TOTAL_BYTES = 400_000
# The agent recording's last four activities: teardown, then verification.
RECORDED_TEARDOWN = ["stop_agent", "remove_resources", "remove_identity", "verify_teardown"]


@pytest.fixture(scope="module")
def orchestrators() -> dict[str, IndexedFunction]:
    return {f.name: f for f in index_app(ROOT) if f.trigger_type == ORCHESTRATION}


def load(name: str) -> RecordedHistory:
    return RecordedHistory.load(HISTORIES / f"{name}.json")


def scheduled_names(recorded: RecordedHistory, kind: EventType) -> list[str]:
    return [str(e.get("Name")) for e in recorded.history if e["EventType"] == kind]


# -- the gate --------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_history_replays_identically(
    path: Path, orchestrators: dict[str, IndexedFunction]
) -> None:
    recorded = RecordedHistory.load(path)
    report = check_recorded(recorded, orchestrators)
    if not report.ok:
        pytest.fail(
            f"{path.name}: the current code no longer replays this history; deployed, this "
            f"change would break instances in flight.\n{report.summary()}",
            pytrace=False,
        )
    assert report.checked == report.episodes == len(split_episodes(recorded.history))


# -- the recordings are what the gate needs ----------------------------------------------


def test_every_orchestrator_has_a_recording(orchestrators: dict[str, IndexedFunction]) -> None:
    assert {p.stem for p in RECORDED} == set(orchestrators)
    for path in RECORDED:
        assert RecordedHistory.load(path).name == path.stem


def test_recordings_stay_small() -> None:
    assert sum(p.stat().st_size for p in RECORDED) < MAX_TOTAL_BYTES


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
def test_recordings_are_whole_finished_executions(path: Path) -> None:
    recorded = RecordedHistory.load(path)
    episodes = split_episodes(recorded.history)
    started = recorded.history[1]
    assert started["EventType"] == EventType.ExecutionStarted
    assert started["Name"] == recorded.name
    # The orchestrator is given what the execution started with.
    assert started.get("Input") == recorded.input
    assert started.get("ParentInstanceId") == recorded.parent_instance_id
    terminal = episodes[-1].terminal
    assert terminal is not None and terminal["EventType"] == EventType.ExecutionCompleted
    assert terminal["OrchestrationStatus"] == "Completed"
    assert all(e.terminal is None for e in episodes[:-1])


def test_the_agent_recording_covers_a_whole_lifecycle() -> None:
    agent = load("agent_orchestrator")
    activities = scheduled_names(agent, EventType.TaskScheduled)
    plan = AgentPlan.from_dict(json.loads(agent.input or "{}")["plan"])
    assert agent.instance_id == plan.instance_id
    assert agent.parent_instance_id == plan.run_id
    # Provisioning, a whole generation of monitoring (to the deadline, the agent having
    # finished its scenario, cleanup included, before it), then teardown.
    assert activities[:2] == ["provision_identity", "launch_agent"]
    assert activities.count("poll_agent") == 32 < plan.polls_per_generation
    assert activities[-4:] == RECORDED_TEARDOWN
    assert len(scheduled_names(agent, EventType.TimerCreated)) == 32
    result = json.loads(agent.history[-2]["Result"])
    assert result["outcome"] == "finished" and result["clean"] is True


def test_the_run_recording_fans_out_and_reports() -> None:
    run = load("run_orchestrator")
    children = scheduled_names(run, EventType.SubOrchestrationInstanceCreated)
    assert children == ["agent_orchestrator"] * 5
    activities = scheduled_names(run, EventType.TaskScheduled)
    assert activities[0] == "begin_run" and activities[-1] == "finalize_run"
    assert "run_progress" in activities
    agent = load("agent_orchestrator")
    created = [
        e["InstanceId"]
        for e in run.history
        if e["EventType"] == EventType.SubOrchestrationInstanceCreated
    ]
    assert agent.instance_id in created


def test_the_sweep_recording_removes_what_it_found() -> None:
    sweep = load("sweep_orchestrator")
    assert scheduled_names(sweep, EventType.TaskScheduled) == ["find_orphans", "remove_orphans"]
    assert json.loads(sweep.history[-2]["Result"])["removed"] == 2


# -- the gate bites -----------------------------------------------------------------------


def throwaway_agent_orchestrator(
    body: Any,
) -> IndexedFunction:
    """Register BODY as `agent_orchestrator` on a throwaway DFApp, as function_app.py does."""
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def agent_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
        return body(context)

    (function,) = app.get_functions()
    return describe_function(function)


def replay_agent(function: IndexedFunction) -> ReplayReport:
    return check_history(load("agent_orchestrator"), call_function(function))


def episode_scheduling(agent: RecordedHistory, name: str) -> int:
    """The number of the episode that scheduled activity NAME."""
    return next(
        e.number
        for e in split_episodes(agent.history)
        if any(s.get("Name") == name for s in e.scheduled)
    )


def test_the_real_agent_orchestrator_on_a_throwaway_app_passes() -> None:
    report = replay_agent(throwaway_agent_orchestrator(orchestrations.agent.agent_orchestrator))
    assert report.ok, report.summary()


def test_gate_catches_swapped_teardown_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, *rest = RECORDED_TEARDOWN[:-1]
    episode = episode_scheduling(load("agent_orchestrator"), first)
    monkeypatch.setattr(orchestrations.agent, "TEARDOWN_STEPS", (second, first, *rest))
    report = replay_agent(throwaway_agent_orchestrator(orchestrations.agent.agent_orchestrator))
    assert not report.ok
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith(f"episode {episode} ")
    # Every episode before teardown replayed fine; the first teardown step differs.
    assert report.checked == episode + 1
    assert mismatch.expected.startswith(f"TaskScheduled #{2 + 2 * 32} '{first}'")
    assert mismatch.actual.startswith(f"TaskScheduled #{2 + 2 * 32} '{second}'")
    assert f"'{first}'" in str(mismatch) and f"'{second}'" in str(mismatch)


def launch_before_provisioning(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, Any]:
    """A deliberately altered agent orchestrator: launches the agent, then provisions."""
    state = context.get_input()
    plan = AgentPlan.from_dict(state["plan"])
    payload = {"plan": plan.to_dict()}
    launched = yield context.call_activity_with_retry("launch_agent", CLOUD_CALL, payload)
    identity = yield context.call_activity_with_retry("provision_identity", CLOUD_CALL, payload)
    return {"launched": launched, "identity": identity}


def test_gate_catches_reordered_provisioning() -> None:
    report = replay_agent(throwaway_agent_orchestrator(launch_before_provisioning))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 0 ")
    assert mismatch.expected.startswith("TaskScheduled #0 'provision_identity' input ")
    assert mismatch.actual.startswith("TaskScheduled #0 'launch_agent' input ")
