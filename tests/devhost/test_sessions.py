"""Orchestrator sessions answer exactly as full replays do (devhost/sessions.py).

The recorded HayMaker histories (tests/replay/histories) are walked episode by episode
the way the engine runs them with sessions: the first episode is a full replay that opens
a session, every later one feeds the session only its new events. Each session answer
must equal the full replay of the same episode, and the scheduled work must equal what the
history recorded. The devhost end-to-end tests run with DEVHOST_SESSION_CHECK=1 (see
conftest.py), which makes the engine do the same comparison on every resumed episode.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from devhost.indexer import ORCHESTRATION, IndexedFunction, describe_function, index_app
from devhost.replay import EventType, decide, event, orchestrator_request, played_json
from devhost.replay_check import (
    RecordedHistory,
    call_function,
    compare_episode,
    episode_request,
    split_episodes,
)
from devhost.sessions import EpisodeInput, Session, SessionDiverged, Sessions
from devhost.speedups import memoize_history_timestamps

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = sorted((ROOT / "tests" / "replay" / "histories").glob("*.json"))


@pytest.fixture(scope="module")
def orchestrators() -> dict[str, IndexedFunction]:
    memoize_history_timestamps()
    return {f.name: f for f in index_app(ROOT) if f.trigger_type == ORCHESTRATION}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_a_session_decides_every_episode_as_a_full_replay(
    path: Path, orchestrators: dict[str, IndexedFunction]
) -> None:
    recorded = RecordedHistory.load(path)
    function = orchestrators[recorded.name]
    replay = call_function(function)
    sessions = Sessions(check=False)
    session: Session | None = None
    resumed = 0
    for episode in split_episodes(recorded.history):
        if episode.control:
            session = None  # recorded without calling the orchestrator: the engine replays
            continue
        played = recorded.history[: episode.start]
        body = episode_request(recorded, episode)
        expected = decide(
            recorded.instance_id, played + episode.incoming, replay(body), episode.now
        )
        resumed += session is not None
        cancelled_before = session.cancelled if session is not None else set()
        session, _, decision = sessions.run(
            function.user_function,
            "context",
            session,
            EpisodeInput(
                recorded.instance_id,
                episode.incoming,
                functools.partial(list, played + episode.incoming),
                functools.partial(str, body),
                episode.now,
            ),
        )
        expected.cancelled_timers -= cancelled_before
        assert decision == expected, f"{path.name}: {episode.describe()} differs from a replay"
        assert not compare_episode(recorded, episode, decision), episode.describe()
        if session is not None:
            appended = recorded.history[episode.start : episode.end + 1]
            session.record(len(episode.incoming), appended, episode.end + 1)
    assert resumed >= len(split_episodes(recorded.history)) // 2, "sessions were not used"


def drifting_orchestrator() -> IndexedFunction:
    """An orchestrator whose code path depends on a global that changes between calls:
    what a session (which does not re-run earlier code) and a replay see differs."""
    app = df.DFApp()
    calls = {"count": 0}

    @app.orchestration_trigger(context_name="context")
    def drifting(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
        calls["count"] += 1
        first = yield context.call_activity("step", calls["count"])
        second = yield context.call_activity("step", calls["count"])
        return [first, second]

    return describe_function(app.get_functions()[0])


def test_check_mode_catches_a_session_that_differs_from_a_replay() -> None:
    function = drifting_orchestrator()
    sessions = Sessions(check=True)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    start = [
        event(EventType.OrchestratorStarted, now),
        event(EventType.ExecutionStarted, now, Name="drifting", Version=""),
    ]
    session, answer, _ = sessions.run(
        function.user_function,
        "context",
        None,
        EpisodeInput(
            "i", start, lambda: start, lambda: orchestrator_request("i", [], start, None, None), now
        ),
    )
    assert session is not None and answer.actions[0]["input"] == "1"
    history = [
        *start,
        event(EventType.TaskScheduled, now, 0, Name="step", Input="1"),
        event(EventType.OrchestratorCompleted, now),
    ]
    session.record(len(start), history, len(history))
    later = now + timedelta(seconds=1)
    done = [
        event(EventType.OrchestratorStarted, later),
        event(EventType.TaskCompleted, later, TaskScheduledId=0, Result='"one"'),
    ]
    # The session's generator asks for step(1) again; a replay re-runs the code: step(2).
    with pytest.raises(SessionDiverged, match="differently from a full replay"):
        sessions.run(
            function.user_function,
            "context",
            session,
            EpisodeInput(
                "i",
                done,
                lambda: history + done,
                lambda: orchestrator_request(
                    "i", [played_json(e) for e in history], done, None, None
                ),
                later,
            ),
        )
