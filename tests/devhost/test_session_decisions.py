"""A session decides each episode from what is new, and writes the history a full replay does.

A resumed episode reads only the actions the orchestrator added since the last one and the
new events (`Replayer.resume`); these tests run orchestrators of every shape the engine
supports (retries that succeed and that give up, sub-orchestrations with retry, timers that
lose a race and are cancelled, events, fan-out, custom status, continue-as-new, failures)
through an in-process imitation of the engine's episodes, once with sessions (each resumed
episode also checked against a full replay, `Sessions(check=True)`) and once with a full
replay every episode, delivering the work's results in batches of random sizes. The two
histories must be equal event for event, and the outputs right.
"""

from __future__ import annotations

import json
import random
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.indexer import IndexedFunction, describe_function
from devhost.replay import (
    EventType,
    event,
    orchestrator_request,
    played_json,
)
from devhost.sessions import EpisodeInput, Session, Sessions
from devhost.speedups import memoize_history_timestamps

app = df.DFApp()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)


@app.orchestration_trigger(context_name="context")
def retries(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    first = yield context.call_activity_with_retry("flaky", RETRY, ["a", 2])
    try:
        yield context.call_activity_with_retry("flaky", RETRY, ["b", 5])
        second = "succeeded"
    except Exception:
        second = "gave up"
    both = yield context.task_all(
        [
            context.call_activity_with_retry("flaky", RETRY, ["c", 1]),
            context.call_activity("echo", "d"),
            context.call_sub_orchestrator_with_retry("child", RETRY, "e"),
        ]
    )
    return [first, second, both]


@app.orchestration_trigger(context_name="context")
def races(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    results = []
    for _ in range(4):
        go = context.wait_for_external_event("go")
        timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
        winner = yield context.task_any([go, timer])
        if winner == go:
            timer.cancel()
            results.append(go.result)
        else:
            results.append("timeout")
        # A timer created and cancelled before anything waits on it.
        spare = context.create_timer(context.current_utc_datetime + timedelta(days=1))
        spare.cancel()
        context.set_custom_status({"round": len(results)})
    return results


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    tasks = [context.call_activity("echo", i) for i in range(12)]
    tasks.append(context.create_timer(context.current_utc_datetime + timedelta(minutes=1)))
    tasks.append(context.call_sub_orchestrator("child", "f"))
    results = yield context.task_all(tasks)
    total = 0
    for i in range(5):
        total += yield context.call_activity("echo", i)
        context.set_custom_status(total)
    return [results[:12], results[13], total]


@app.orchestration_trigger(context_name="context")
def generations(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    generation = context.get_input() or 0
    value = yield context.call_activity("echo", generation)
    if generation < 2:
        context.continue_as_new(generation + 1)
        return None
    return value


@app.orchestration_trigger(context_name="context")
def breaks(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    for i in range(3):
        yield context.call_activity("echo", i)
    raise ValueError("broken on purpose")


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return context.get_input()
    yield  # a generator, as orchestrators are


FUNCTIONS = {f.name: f for f in (describe_function(fn) for fn in app.get_functions())}
EXPECTED = {
    "retries": ("Completed", ["a", "gave up", ["c", "d", "sub:e"]]),
    "fan": ("Completed", [list(range(12)), "sub:f", 10]),
    "generations": ("Completed", 2),
    "breaks": ("Failed", None),
}


class Simulation:
    """The engine's episodes in memory: history, an inbox, the work each decision asks for.

    Activities: `echo` returns its input; `flaky` [key, n] fails its first n attempts.
    A sub-orchestration of input "x" completes with "sub:x" (it fails first when x is "e").
    Events `go` are raised before episodes 2 and 6; a timer fires only when nothing else is
    waiting to be delivered.
    """

    def __init__(self, function: IndexedFunction, seed: int, sessions: bool):
        self.function = function
        self.random = random.Random(seed)
        self.use_sessions = sessions
        self.sessions = Sessions(check=True)
        self.session: Session | None = None
        self.history: list[dict[str, Any]] = []
        self.input: str | None = None
        self.pending: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.episodes = 0

    def run(self) -> tuple[str, Any]:
        for _ in range(500):
            self.now += timedelta(seconds=1)
            if self.episodes in (2, 6):
                self.pending.append(event(EventType.EventRaised, self.now, Name="go", Input='"x"'))
            outcome = self.episode(self.deliver())
            if outcome is not None and outcome[0] != "ContinuedAsNew":
                return outcome
        raise AssertionError("the orchestration never finished")

    def deliver(self) -> list[dict[str, Any]]:
        results = [e for e in self.pending if e["EventType"] != EventType.TimerFired]
        if not results:
            results = [e for e in self.pending if e["EventType"] == EventType.TimerFired][:1]
        batch = results[: self.random.randint(1, max(1, len(results)))]
        self.pending = [e for e in self.pending if e not in batch]
        return [
            {**e, "Timestamp": event(EventType.GenericEvent, self.now)["Timestamp"]} for e in batch
        ]

    def episode(self, new_events: list[dict[str, Any]]) -> tuple[str, Any] | None:
        self.episodes += 1
        now = self.now
        started = [event(EventType.OrchestratorStarted, now)]
        if not self.history:
            started.append(
                event(EventType.ExecutionStarted, now, Name="x", Input=self.input, Version="")
            )
        incoming = started + new_events
        history = list(self.history)
        played = [played_json(e) for e in history]
        session = self.session if self.use_sessions else None
        session, _, decision = self.sessions.run(
            self.function.user_function,
            "context",
            session,
            EpisodeInput(
                "sim",
                incoming,
                lambda: history + incoming,
                lambda: orchestrator_request("sim", played, incoming, self.input, None),
                now,
            ),
        )
        appended = incoming + decision.events + decision.closing_events(now)
        appended.append(event(EventType.OrchestratorCompleted, now))
        self.history.extend(appended)
        self.session = None
        if session is not None and decision.outcome is None:
            session.record(len(incoming), appended, len(self.history))
            self.session = session
        if decision.outcome == "ContinuedAsNew":
            self.history, self.input, self.pending = [], decision.continue_input, []
            return ("ContinuedAsNew", None)
        if decision.outcome is not None:
            return decision.outcome, decision.output
        self.pending = [
            e
            for e in self.pending
            if not (
                e["EventType"] == EventType.TimerFired and e["TimerId"] in decision.cancelled_timers
            )
        ]
        for work in decision.activities:
            self.pending.append(self.activity(work.event_id, work.name, work.input))
        for timer in decision.timers:
            self.pending.append(
                event(EventType.TimerFired, now, TimerId=timer.event_id, FireAt="x")
            )
        for sub in decision.sub_orchestrations:
            self.pending.append(self.child(sub.event_id, sub.instance_id, sub.input))
        return None

    def activity(self, task: int, name: str, arguments: str | None) -> dict[str, Any]:
        value: Any = json.loads(arguments) if arguments is not None else None
        if name == "flaky":
            key, failures = value
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] <= failures:
                return event(
                    EventType.TaskFailed, self.now, TaskScheduledId=task, Reason="no", Details="no"
                )
            value = key
        return event(
            EventType.TaskCompleted, self.now, TaskScheduledId=task, Result=json.dumps(value)
        )

    def child(self, task: int, instance_id: str, arguments: str | None) -> dict[str, Any]:
        value: Any = json.loads(arguments) if arguments is not None else None
        self.attempts[instance_id] = self.attempts.get(instance_id, 0) + 1
        if value == "e" and self.attempts[instance_id] == 1:
            return event(
                EventType.SubOrchestrationInstanceFailed,
                self.now,
                TaskScheduledId=task,
                Reason="first",
                Details="first",
            )
        return event(
            EventType.SubOrchestrationInstanceCompleted,
            self.now,
            TaskScheduledId=task,
            Result=json.dumps(f"sub:{value}"),
        )


@pytest.fixture(autouse=True, scope="module")
def memoized() -> None:
    memoize_history_timestamps()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", ["retries", "races", "fan", "generations", "breaks"])
def test_sessions_write_the_history_full_replays_write(name: str, seed: int) -> None:
    with_sessions = Simulation(FUNCTIONS[name], seed, sessions=True)
    replayed = Simulation(FUNCTIONS[name], seed, sessions=False)
    outcome = with_sessions.run()
    assert replayed.run() == outcome
    assert with_sessions.history == replayed.history
    assert with_sessions.sessions.resumed >= with_sessions.episodes // 2, "sessions not used"
    assert replayed.sessions.resumed == 0
    if name in EXPECTED:
        kind, output = EXPECTED[name]
        assert outcome[0] == kind
        if kind == "Completed":
            assert outcome[1] == output
    else:
        assert outcome[0] == "Completed" and len(outcome[1]) == 4


def test_a_race_cancels_the_losing_timers() -> None:
    """Some seed makes the `go` events win races: their timers are cancelled, not fired."""
    cancelled_wins = 0
    for seed in range(4):
        simulation = Simulation(FUNCTIONS["races"], seed, sessions=True)
        _, results = simulation.run()
        cancelled_wins += results.count("x")
        fired = {e["TimerId"] for e in simulation.history if e["EventType"] == EventType.TimerFired}
        assert len(fired) == results.count("timeout")
    assert cancelled_wins > 0
