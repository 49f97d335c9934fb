"""Episodes: an instance's inbox drained into one orchestrator call, and its outcome.

An episode resumes the instance's orchestrator session with the new events (or replays
the whole history through the SDK when there is no session), turns the answer into
history events (`replay.decide`), records them (write-behind), and starts the work the
orchestrator asked for. Completions that arrive while an episode runs wait for the next
one, so a burst of activity results costs one orchestrator call, not hundreds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .clock import Clock
from .execution_log import Execution
from .instance import Live
from .invoke import trigger_param
from .replay import (
    Decision,
    EventType,
    OrchestratorAnswer,
    decide,
    event,
    orchestrator_request,
    read_answer,
)
from .sessions import EpisodeInput, Session, SessionDiverged

if TYPE_CHECKING:
    from .engine_parts import EngineParts

log = logging.getLogger("devhost")
# An episode that changes neither status nor custom status refreshes the Instances row's
# LastUpdatedTime at most this often: one table write saved per step of a busy instance.
ROW_REFRESH_SECONDS = 1.0
# Replays cheaper than this are never delayed to gather more results; none waits longer.
COALESCE_MIN_REPLAY = 0.002
COALESCE_MAX_WAIT = 0.010
# Episodes of an instance recorded but not yet handed to storage (a write is in flight)
# beyond which the next episode waits for storage: until the write in flight is stored and
# the next takes them (not until they are stored too: the episodes after them run while
# they are written). History is written behind the episodes, so an orchestrator that steps
# faster than storage stores would pile up ever larger writes; on Azurite, whose table
# operations slow down as a partition grows, such bursts kept every other request waiting
# until the hub's lease could not be renewed.
WRITE_BACKLOG_EPISODES = 20
# After an unexpected failure (storage down for longer than the write retries last).
EPISODE_RETRY_SECONDS = 1.0


def _control(live: Live) -> list[dict[str, Any]]:
    """Suspend and resume requests in the instance's inbox."""
    return [
        e
        for e in live.inbox
        if e["EventType"] in (EventType.ExecutionSuspended, EventType.ExecutionResumed)
    ]


class Episodes:
    """Running an instance's episodes (a mixin of `Engine`)."""

    async def _run_episodes(self: EngineParts, live: Live) -> None:
        try:
            while self.live.get(live.instance_id) is live and not self.stopping:
                if live.terminate_reason is not None:
                    await self._terminate(live)
                    return
                control = _control(live)
                if control:
                    await self._apply_control(live, control)
                    continue
                if live.suspended or (not live.inbox and live.history):
                    return
                await self._coalesce(live)
                if len(live.unwritten) >= WRITE_BACKLOG_EPISODES:
                    await self._taken(live)
                if live.terminate_reason is not None or _control(live):
                    continue  # arrived while the episode waited: never shown to the orchestrator
                await self._episode(live)
        except Exception:
            log.exception("Episode of %s failed in devhost; retrying shortly", live.instance_id)
            await asyncio.sleep(EPISODE_RETRY_SECONDS)
        finally:
            live.episode_scheduled = False
        if live.inbox and self.live.get(live.instance_id) is live and not live.suspended:
            self._schedule_episode(live)

    async def _coalesce(self: EngineParts, live: Live) -> None:
        """Let more messages and results arrive before an episode when more are on their way.

        Every episode writes rows of its own (OrchestratorStarted, OrchestratorCompleted)
        besides its events, so when raised events for the instance are being stored right
        now, the episode waits for them (at most COALESCE_MAX_WAIT): one episode takes the
        burst, as the extension takes a batch of an instance's queued messages. Their
        senders are answered once their message is stored, so none waits for the episode.
        A replay that costs more than COALESCE_MIN_REPLAY (a full replay, long history) also
        waits a fraction of its cost while activities of the instance are running or
        requests are arriving, so that one replay takes many results. A lone result (a step
        of a sequence) is never delayed.
        """
        if not live.history:
            return
        if live.messages_arriving:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + COALESCE_MAX_WAIT
            while live.messages_arriving and (left := deadline - loop.time()) > 0:
                live.arrival.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(live.arrival.wait(), left)
            return
        if live.last_replay_seconds < COALESCE_MIN_REPLAY:
            return
        if live.activities_running or self.pressure():
            await asyncio.sleep(min(COALESCE_MAX_WAIT, live.last_replay_seconds / 2))

    async def _apply_control(self: EngineParts, live: Live, control: list[dict[str, Any]]) -> None:
        """Suspend/resume: recorded in history, never shown to the orchestrator."""
        live.inbox = [e for e in live.inbox if e not in control]
        consumed = [e["MessageId"] for e in control]
        live.inbox_messages = [m for m in live.inbox_messages if m not in consumed]
        live.status = "Suspended" if live.suspended else "Running"
        if live.history:
            now = self.clock.now()
            events = [
                event(EventType.OrchestratorStarted, now),
                *control,
                event(EventType.OrchestratorCompleted, now),
            ]
            self._record(live, events, consumed)
        else:
            self._record(live, [], consumed)
        await self._flush(live)
        await self._update_row(
            live.instance_id,
            {"RuntimeStatus": live.status, "LastUpdatedTime": self.clock.now()},
        )

    async def _episode(self: EngineParts, live: Live) -> None:
        now = self.clock.now()
        new_events = live.inbox
        consumed = live.inbox_messages
        live.inbox, live.inbox_messages = [], []
        started = [event(EventType.OrchestratorStarted, now)]
        if not live.history:
            started.append(
                event(
                    EventType.ExecutionStarted,
                    now,
                    Name=live.name,
                    Input=live.input,
                    Version="",
                    ParentInstanceId=live.parent_id,
                )
            )
        session, decision = await self._call_orchestrator(live, started + new_events, now)
        appended = started + new_events + decision.events + decision.closing_events(now)
        appended.append(event(EventType.OrchestratorCompleted, now))
        self._record(live, appended, consumed)
        if session is not None and decision.outcome is None:
            session.record(len(started) + len(new_events), appended, len(live.history))
            self.sessions.keep(live.instance_id, session)
        if decision.custom_status is not None:
            live.custom_status = json.dumps(decision.custom_status)
        await self._after_episode(live, decision, now)

    async def _call_orchestrator(
        self: EngineParts, live: Live, new_events: list[dict[str, Any]], now: datetime
    ) -> tuple[Session | None, Decision]:
        """Run the episode, resumed in the instance's session or as a full replay; decide.

        A resumed episode costs what the orchestrator does with the new events (tens of
        microseconds for a step), less than a hand-over to a thread and back, so it runs on
        the loop, and so does a first episode (nothing to replay: in a burst of short
        orchestrations the hand-over cost a tenth of the host's CPU); full replays run on the
        orchestrator thread, keeping the loop responsive.
        """
        function = self.orchestrators[live.name]
        session = self.sessions.take(live.instance_id, len(live.history))
        history, history_json = live.history, live.history_json
        played = len(history_json)

        def body() -> str:
            return orchestrator_request(
                live.instance_id, history_json[:played], new_events, live.input, live.parent_id
            )

        episode = EpisodeInput(
            live.instance_id, new_events, lambda: history[:played] + new_events, body, now
        )
        started = time.perf_counter()

        def call() -> tuple[Session | None, OrchestratorAnswer, Decision]:
            try:
                return self.sessions.run(
                    function.user_function, trigger_param(function), session, episode
                )
            except SessionDiverged as error:
                answer = read_answer(raised=error)
                return None, answer, decide(live.instance_id, episode.history(), answer, now)

        with Execution(live.name, invocation=f"{live.instance_id}:{played}") as run:
            if (session is not None or not played) and not self.sessions.check:
                session, answer, decision = call()
            else:
                session, answer, decision = await asyncio.get_running_loop().run_in_executor(
                    self._orchestrator_pool, call
                )
            run.failed = bool(answer.error)
        live.last_replay_seconds = time.perf_counter() - started
        if answer.error:
            log.error(
                "Orchestration '%s' (%s) failed: %s", live.name, live.instance_id, answer.error
            )
        return session, decision

    async def _after_episode(
        self: EngineParts, live: Live, decision: Decision, now: datetime
    ) -> None:
        for event_id in decision.cancelled_timers:
            entry = live.timers.pop(event_id, None)
            if entry is not None:
                Clock.cancel(entry)
        if decision.outcome == "ContinuedAsNew":
            await self._continue_as_new(live, decision, now)
            return
        if decision.outcome in ("Completed", "Failed"):
            await self._finish(
                live,
                decision.outcome,
                now,
                output=json.dumps(decision.output) if decision.outcome == "Completed" else None,
                error=decision.error,
            )
            return
        # Work starts at once (history is written behind, see _record); the Instances
        # row is only a view, refreshed when it changes.
        self._start_work(live, decision.activities, decision.timers, decision.sub_orchestrations)
        changed = live.status != "Running" or live.custom_status != live.row_custom_status
        if changed or time.monotonic() - live.row_written_at > ROW_REFRESH_SECONDS:
            live.status = "Running"
            fields = {
                "RuntimeStatus": "Running",
                "LastUpdatedTime": now,
                "CustomStatus": live.custom_status,
            }
            if live.row_unwritten is not None:
                live.row_unwritten.update(fields)  # the start's row, not yet written
            else:
                await self._update_row(live.instance_id, fields)
            live.row_custom_status = live.custom_status
            live.row_written_at = time.monotonic()

    async def _terminate(self: EngineParts, live: Live) -> None:
        now = self.clock.now()
        reason = live.terminate_reason or ""
        events = [
            event(EventType.OrchestratorStarted, now),
            event(EventType.ExecutionTerminated, now, Input=reason),
            event(
                EventType.ExecutionCompleted, now, OrchestrationStatus="Terminated", Result=reason
            ),
            event(EventType.OrchestratorCompleted, now),
        ]
        self._record(live, events, live.inbox_messages)
        await self._finish(live, "Terminated", now, error=reason)
        log.info("Orchestration '%s' (%s) terminated: %s", live.name, live.instance_id, reason)

    async def _continue_as_new(
        self: EngineParts, live: Live, decision: Decision, now: datetime
    ) -> None:
        for entry in live.timers.values():
            Clock.cancel(entry)
        live.timers.clear()
        live.completed_tasks.clear()
        self.sessions.drop(live.instance_id)
        await self._flush(live)
        await self.store.delete_history(live.instance_id)
        live.history, live.history_json = [], []
        live.execution_id = uuid.uuid4().hex
        live.input = decision.continue_input
        live.status = "Running"
        await self._update_row(
            live.instance_id,
            {
                "RuntimeStatus": "Running",
                "Input": live.input,
                "ExecutionId": live.execution_id,
                "LastUpdatedTime": now,
                "CustomStatus": live.custom_status,
            },
        )
        # The new generation starts with an episode of its own, even with no new events.
        live.inbox = [e for e in live.inbox if e["EventType"] == EventType.EventRaised]
