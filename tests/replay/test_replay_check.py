"""devhost.replay_check on small orchestrators: what it accepts, what it reports, and how.

Histories here are produced the way devhost's engine produces them (same request, same
`decide`, same episode layout), by a tiny loop that completes every activity and fires
every timer; the orchestrators are real azure-functions-durable handlers registered on
throwaway DFApps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.indexer import IndexedFunction, describe_function
from devhost.replay import (
    EventType,
    decide,
    event,
    iso,
    orchestrator_request,
    played_json,
)
from devhost.replay_check import (
    MalformedHistory,
    RecordedHistory,
    call_function,
    check_history,
    check_recorded,
    split_episodes,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INSTANCE = "tiny-1"


def tiny(
    steps: Sequence[str] = ("a", "b"),
    wait_minutes: int = 5,
    extra_input: dict[str, Any] | None = None,
    output: Callable[[list[Any]], Any] = lambda results: results,
    replay_step: str | None = None,
) -> IndexedFunction:
    """An orchestrator on a throwaway DFApp: call STEPS in order, wait, return OUTPUT.

    `replay_step` makes it non-deterministic: the first step is named so when replaying.
    """
    app = df.DFApp()

    @app.orchestration_trigger(context_name="context")
    def tiny_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        results = []
        for index, step in enumerate(steps):
            name = replay_step if replay_step and index == 0 and context.is_replaying else step
            results.append(
                (yield context.call_activity(name, {"step": name, **(extra_input or {})}))
            )
        yield context.create_timer(context.current_utc_datetime + timedelta(minutes=wait_minutes))
        return output(results)

    (function,) = app.get_functions()
    return describe_function(function)


def record(function: IndexedFunction, orchestration_input: Any = None) -> RecordedHistory:
    """Run FUNCTION to completion as devhost's engine would, one episode per step."""
    call = call_function(function)
    input_json = None if orchestration_input is None else json.dumps(orchestration_input)
    history: list[dict[str, Any]] = []
    incoming: list[dict[str, Any]] = []
    now = START
    for _ in range(100):
        started = [event(EventType.OrchestratorStarted, now)]
        if not history:
            started.append(
                event(
                    EventType.ExecutionStarted,
                    now,
                    Name=function.name,
                    Input=input_json,
                    Version="",
                )
            )
        body = orchestrator_request(
            INSTANCE, [played_json(e) for e in history], started + incoming, input_json, None
        )
        decision = decide(INSTANCE, history + started + incoming, call(body), now)
        appended = started + incoming + decision.events + decision.closing_events(now)
        appended.append(event(EventType.OrchestratorCompleted, now))
        history.extend(appended)
        if decision.outcome is not None:
            return RecordedHistory(function.name, INSTANCE, input_json, None, history)
        incoming = []
        now += timedelta(seconds=1)
        for work in decision.activities:
            result = {"done": json.loads(work.input or "null")}
            incoming.append(
                event(
                    EventType.TaskCompleted,
                    now,
                    TaskScheduledId=work.event_id,
                    Result=json.dumps(result),
                )
            )
        for timer in decision.timers:
            now = max(now, timer.fire_at)
            incoming.append(
                event(EventType.TimerFired, now, TimerId=timer.event_id, FireAt=iso(timer.fire_at))
            )
    raise AssertionError("the orchestration did not finish")


@pytest.fixture(scope="module")
def recorded() -> RecordedHistory:
    return record(tiny())


def test_the_code_that_recorded_a_history_replays_it(recorded: RecordedHistory) -> None:
    episodes = split_episodes(recorded.history)
    # a, b, the timer, then the completion.
    assert len(episodes) == 4
    assert [e["Name"] for e in episodes[0].scheduled] == ["a"]
    assert episodes[-1].terminal is not None
    report = check_history(recorded, call_function(tiny()))
    assert report.ok, report.summary()
    assert report.checked == 4
    assert "4 episodes replay identically" in report.summary()


def test_episodes_hold_what_woke_them(recorded: RecordedHistory) -> None:
    first, second, third, _ = split_episodes(recorded.history)
    assert [e["EventType"] for e in first.incoming] == [
        EventType.OrchestratorStarted,
        EventType.ExecutionStarted,
    ]
    assert [e["EventType"] for e in second.incoming] == [
        EventType.OrchestratorStarted,
        EventType.TaskCompleted,
    ]
    assert [e["EventType"] for e in third.scheduled] == [EventType.TimerCreated]
    assert second.start == first.end + 1
    assert second.now == START + timedelta(seconds=1)
    assert "episode 1" in second.describe() and "TaskCompleted #0" in second.describe()


def test_swapped_steps_are_reported_at_the_first_episode(recorded: RecordedHistory) -> None:
    report = check_history(recorded, call_function(tiny(steps=("b", "a"))))
    assert not report.ok
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 0 ")
    assert mismatch.expected == 'TaskScheduled #0 \'a\' input {"step": "a"}'
    assert mismatch.actual == 'TaskScheduled #0 \'b\' input {"step": "b"}'
    text = str(mismatch)
    assert "tiny_orchestrator 'tiny-1', episode 0" in text
    assert "expected (recorded): TaskScheduled #0 'a'" in text
    assert "actual (current code): TaskScheduled #0 'b'" in text


def test_an_added_step_is_reported_where_it_appears(recorded: RecordedHistory) -> None:
    report = check_history(recorded, call_function(tiny(steps=("a", "b", "c"))))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 2 ")
    assert mismatch.expected.startswith("TimerCreated #2 fire at ")
    assert mismatch.actual.startswith("TaskScheduled #2 'c'")
    assert report.checked == 3


def test_a_removed_step_is_reported(recorded: RecordedHistory) -> None:
    report = check_history(recorded, call_function(tiny(steps=("a",))))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 1 ")
    assert mismatch.expected.startswith("TaskScheduled #1 'b'")
    assert mismatch.actual.startswith("TimerCreated #1 fire at ")


def test_a_changed_timer_is_reported(recorded: RecordedHistory) -> None:
    report = check_history(recorded, call_function(tiny(wait_minutes=6)))
    (mismatch,) = report.mismatches
    assert "TimerCreated #2" in mismatch.expected and "TimerCreated #2" in mismatch.actual
    assert "09:05:02" in mismatch.expected and "09:06:02" in mismatch.actual


def test_a_changed_input_is_reported(recorded: RecordedHistory) -> None:
    report = check_history(recorded, call_function(tiny(extra_input={"v": 2})))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 0 ")
    assert mismatch.actual == 'TaskScheduled #0 \'a\' input {"step": "a", "v": 2}'


def test_inputs_compare_as_json_values(recorded: RecordedHistory) -> None:
    history = [dict(e) for e in recorded.history]
    scheduled = next(e for e in history if e["EventType"] == EventType.TaskScheduled)
    scheduled["Input"] = '{ "step" :  "a" }'
    spaced = RecordedHistory(recorded.name, INSTANCE, recorded.input, None, history)
    assert check_history(spaced, call_function(tiny())).ok


def test_a_changed_output_is_reported(recorded: RecordedHistory) -> None:
    report = check_history(recorded, call_function(tiny(output=len)))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 3 ")
    assert mismatch.expected.startswith("the orchestration completes with output [")
    assert mismatch.actual == "the orchestration completes with output 2"


def test_non_determinism_fails_the_orchestration_and_says_so(
    recorded: RecordedHistory,
) -> None:
    # The first step is 'a' on the first run and 'z' on every replay.
    report = check_history(recorded, call_function(tiny(replay_step="z")))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 1 ")
    assert mismatch.expected.startswith("TaskScheduled #1 'b'")
    assert mismatch.actual == "nothing scheduled: the orchestration fails"
    assert mismatch.error is not None
    assert "Non-deterministic workflow detected" in mismatch.error
    assert "the orchestration would fail: Non-deterministic" in str(mismatch)


def test_an_orchestrator_that_now_raises_is_reported(recorded: RecordedHistory) -> None:
    def broken(results: list[Any]) -> Any:
        raise RuntimeError("bad output")

    report = check_history(recorded, call_function(tiny(output=broken)))
    (mismatch,) = report.mismatches
    assert mismatch.episode.startswith("episode 3 ")
    assert mismatch.error is not None and "bad output" in mismatch.error


def test_a_missing_orchestrator_is_reported(recorded: RecordedHistory) -> None:
    report = check_recorded(recorded, {})
    (mismatch,) = report.mismatches
    assert mismatch.actual == "no such orchestrator in the app"
    assert check_recorded(recorded, {"tiny_orchestrator": tiny()}).ok


def test_suspend_and_resume_episodes_are_kept_but_not_replayed(
    recorded: RecordedHistory,
) -> None:
    history = list(recorded.history)
    at = split_episodes(history)[1].end + 1
    moment = history[at]["Timestamp"]
    control = [
        {"EventType": EventType.OrchestratorStarted, "EventId": -1, "Timestamp": moment},
        {"EventType": EventType.ExecutionSuspended, "EventId": -1, "Timestamp": moment},
        {"EventType": EventType.OrchestratorCompleted, "EventId": -1, "Timestamp": moment},
        {"EventType": EventType.OrchestratorStarted, "EventId": -1, "Timestamp": moment},
        {"EventType": EventType.ExecutionResumed, "EventId": -1, "Timestamp": moment},
        {"EventType": EventType.OrchestratorCompleted, "EventId": -1, "Timestamp": moment},
    ]
    suspended = RecordedHistory(
        recorded.name, INSTANCE, recorded.input, None, history[:at] + control + history[at:]
    )
    episodes = split_episodes(suspended.history)
    assert [e.control for e in episodes] == [False, False, True, True, False, False]
    report = check_history(suspended, call_function(tiny()))
    assert report.ok, report.summary()
    assert (report.episodes, report.checked) == (6, 4)


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda h: h[1:], "event 0 is ExecutionStarted, expected OrchestratorStarted"),
        (lambda h: h[:-1], "never completes"),
        (lambda h: h[:3] + h[4:], "never completes"),
    ],
)
def test_partial_episodes_are_malformed(
    recorded: RecordedHistory,
    cut: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    message: str,
) -> None:
    with pytest.raises(MalformedHistory, match=message):
        split_episodes(cut(recorded.history))


def test_recorded_histories_round_trip_through_json(recorded: RecordedHistory) -> None:
    text = recorded.to_json()
    assert RecordedHistory.from_dict(json.loads(text)) == recorded
    # One event per line, so a re-recording diffs line by line.
    assert text.count("\n") >= len(recorded.history)


def test_only_orchestrators_can_be_called() -> None:
    app = df.DFApp()

    @app.activity_trigger(input_name="payload")
    def step(payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    (function,) = app.get_functions()
    with pytest.raises(ValueError, match="not an orchestrator"):
        call_function(describe_function(function))
