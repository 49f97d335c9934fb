"""The orchestration engine: episodes, activities, timers and sub-orchestrations.

One asyncio loop owns all mutable state. For each running instance the engine keeps its
history in memory and an inbox of new events (activity results, timer firings, raised
events, child results). An episode drains the inbox, calls the registered orchestrator
handler with the full history (the real azure-functions-durable replay engine), writes
the new events to the History table, updates the Instances row, and only then starts
the work the orchestrator asked for. Completions that arrive while an episode runs
wait for the next one, so a burst of activity results costs one replay, not hundreds.

Crash safety: history is written before work starts and before consumed messages are
deleted, so a restarted host derives all unfinished work from history (recovery.py).
Dispatch of work and results is in dispatch.py, history writes in write_behind.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from .clock import Clock
from .dispatch import Dispatch
from .errors import EngineError
from .execution_log import Execution
from .indexer import ACTIVITY, ORCHESTRATION, IndexedFunction
from .instance import Live
from .invoke import trigger_param
from .recovery import Recovery
from .replay import (
    Decision,
    EventType,
    OrchestratorAnswer,
    decide,
    event,
    orchestrator_request,
    read_answer,
)
from .sessions import Session, SessionDiverged, Sessions
from .speedups import memoize_history_timestamps
from .store import ACTIVE_STATUSES, Store
from .write_behind import WriteBehind

log = logging.getLogger("devhost")
# An episode that changes neither status nor custom status refreshes the Instances row's
# LastUpdatedTime at most this often: one table write saved per step of a busy instance.
ROW_REFRESH_SECONDS = 1.0
# Replays cheaper than this are never delayed to gather more results; none waits longer.
COALESCE_MIN_REPLAY = 0.002
COALESCE_MAX_WAIT = 0.010
# After an unexpected failure (storage down for longer than the write retries last).
EPISODE_RETRY_SECONDS = 1.0


class Engine(Recovery, Dispatch, WriteBehind):
    """Starting, messaging and episodes; recovery, dispatch and write-behind are mixins."""

    def __init__(
        self,
        store: Store,
        functions: list[IndexedFunction],
        clock: Clock,
        app_dir: str,
        writer: Any = None,
        max_concurrent_activities: int = 200,
        activity_threads: int = 16,
    ):
        memoize_history_timestamps()
        self.store = store
        # Where writes go: a HistoryWriter child process, or the store itself.
        self.writer = writer or store
        self.clock = clock
        self.app_dir = app_dir
        self.orchestrators = {f.name: f for f in functions if f.trigger_type == ORCHESTRATION}
        self.activities = {f.name: f for f in functions if f.trigger_type == ACTIVITY}
        self.live: dict[str, Live] = {}
        self.sessions = Sessions()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight = 0
        self._orchestrator_pool = ThreadPoolExecutor(1, thread_name_prefix="orchestrator")
        self._activity_pool = ThreadPoolExecutor(activity_threads, thread_name_prefix="activity")
        self._activity_slots = asyncio.Semaphore(max_concurrent_activities)
        self.stopping = False
        self._finished: dict[str, asyncio.Event] = {}
        self._starting: set[str] = set()
        # The durable client binding JSON, for activities that declare a client input.
        self.client_binding: str | None = None
        # How many requests the host is serving: more messages may be on their way.
        self.pressure: Any = lambda: 0

    # -- bookkeeping ----------------------------------------------------------------

    def is_idle(self) -> bool:
        """Nothing runnable: the virtual clock may jump."""
        if self._inflight:
            return False
        return not any(live.inbox and not live.suspended for live in self.live.values())

    def _spawn(self, coro: Any) -> None:
        self._inflight += 1
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            self._inflight -= 1
            self.clock.poke()
            if not t.cancelled() and t.exception() is not None:
                log.error("devhost internal error", exc_info=t.exception())

        task.add_done_callback(done)

    async def close(self) -> None:
        self.stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # A clean stop stores what was recorded; only a crash leaves an episode unwritten.
        pending = [live.last_write for live in self.live.values() if live.last_write is not None]
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout=30)
        self._orchestrator_pool.shutdown(wait=False, cancel_futures=True)
        self._activity_pool.shutdown(wait=False, cancel_futures=True)

    # -- starting and messaging -------------------------------------------------------

    async def start_new(
        self,
        name: str,
        instance_id: str | None,
        input_json: str | None,
        parent: tuple[str, int] | None = None,
    ) -> str:
        if name not in self.orchestrators:
            known = ", ".join(sorted(self.orchestrators)) or "none"
            raise EngineError(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an "
                f"orchestrator function. Orchestrator functions: {known}.",
            )
        instance_id = instance_id or uuid.uuid4().hex
        if instance_id in self.live or instance_id in self._starting:
            raise EngineError(
                409, f"An orchestration instance with ID '{instance_id}' is already running."
            )
        # Claimed before the first await, so two concurrent starts cannot both proceed.
        self._starting.add(instance_id)
        try:
            return await self._create(name, instance_id, input_json, parent)
        finally:
            self._starting.discard(instance_id)

    async def wait_started(self, instance_id: str, timeout: float = 10.0) -> None:
        """Return once no start of `instance_id` is half-way (its row not yet written).

        A second start with the same id is refused at once (409) while the first still
        writes; a status query right after that refusal must then find the instance, not
        answer 404 as if nobody had started it.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while instance_id in self._starting and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.005)

    async def _create(
        self, name: str, instance_id: str, input_json: str | None, parent: tuple[str, int] | None
    ) -> str:
        existing = await self.store.get_instance(instance_id)
        if existing is not None and existing.get("RuntimeStatus") in ACTIVE_STATUSES:
            raise EngineError(
                409,
                f"An orchestration instance with ID '{instance_id}' is already "
                f"{existing['RuntimeStatus']}.",
            )
        if existing is not None:
            await self.store.delete_history(instance_id)
        now = self.clock.now()
        live = Live(
            instance_id=instance_id,
            name=name,
            execution_id=uuid.uuid4().hex,
            input=input_json,
            created_time=now,
            parent_id=parent[0] if parent else None,
            parent_task_id=parent[1] if parent else None,
        )
        await self._with_retries(self.writer.put_instance, instance_id, self._row(live, now))
        self.live[instance_id] = live
        self._schedule_episode(live)
        return instance_id

    def _row(self, live: Live, now: datetime) -> dict[str, Any]:
        return {
            "Name": live.name,
            "Version": "",
            "Input": live.input,
            "CreatedTime": live.created_time,
            "LastUpdatedTime": now,
            "RuntimeStatus": live.status,
            "ExecutionId": live.execution_id,
            "CustomStatus": live.custom_status,
            "ParentInstanceId": live.parent_id,
            "ParentTaskId": live.parent_task_id,
        }

    async def send_message(self, instance_id: str, message: dict[str, Any]) -> None:
        """Persist a raised event or control request, then hand it to the instance."""
        # A start still writing its row would otherwise look finished (a row, no live
        # instance) and the message be refused with 410.
        await self.wait_started(instance_id)
        live = self.live.get(instance_id)
        if live is None:
            row = await self.store.get_instance(instance_id)
            if row is None:
                raise EngineError(404, f"No instance with ID '{instance_id}' found.")
            raise EngineError(
                410,
                f"Instance '{instance_id}' is {row.get('RuntimeStatus')}: it takes no messages.",
            )
        message_id = await self.writer.add_message(instance_id, message)
        self._accept_message(live, message_id, message)

    def _accept_message(self, live: Live, message_id: str, message: dict[str, Any]) -> None:
        kind = message["kind"]
        now = self.clock.now()
        if kind == "event":
            self._deliver(
                live,
                event(
                    EventType.EventRaised,
                    now,
                    Name=message["name"],
                    Input=message.get("input"),
                    MessageId=message_id,
                ),
                message_id,
            )
        elif kind == "terminate":
            live.terminate_reason = message.get("reason") or ""
            live.inbox_messages.append(message_id)
            self._schedule_episode(live, force=True)
        elif kind in ("suspend", "resume"):
            live.suspended = kind == "suspend"
            live.inbox.append(
                event(
                    EventType.ExecutionSuspended if live.suspended else EventType.ExecutionResumed,
                    now,
                    Input=message.get("reason"),
                    MessageId=message_id,
                )
            )
            live.inbox_messages.append(message_id)
            self._schedule_episode(live, force=True)

    def _deliver(
        self, live: Live, new_event: dict[str, Any], message_id: str | None = None
    ) -> None:
        """Queue an event for the instance's next episode, dropping duplicate completions."""
        task_id = new_event.get("TaskScheduledId", new_event.get("TimerId"))
        if task_id is not None:
            if task_id in live.completed_tasks:
                return
            live.completed_tasks.add(task_id)
        live.inbox.append(new_event)
        if message_id:
            live.inbox_messages.append(message_id)
        self._schedule_episode(live)

    def _schedule_episode(self, live: Live, force: bool = False) -> None:
        if live.episode_scheduled:
            return
        if live.suspended and not force:
            return
        live.episode_scheduled = True
        self._spawn(self._run_episodes(live))

    # -- episodes ---------------------------------------------------------------------

    async def _run_episodes(self, live: Live) -> None:
        try:
            while self.live.get(live.instance_id) is live and not self.stopping:
                if live.terminate_reason is not None:
                    await self._terminate(live)
                    return
                control = [
                    e
                    for e in live.inbox
                    if e["EventType"] in (EventType.ExecutionSuspended, EventType.ExecutionResumed)
                ]
                if control:
                    await self._apply_control(live, control)
                    continue
                if live.suspended or (not live.inbox and live.history):
                    return
                await self._coalesce(live)
                await self._episode(live)
        except Exception:
            log.exception("Episode of %s failed in devhost; retrying shortly", live.instance_id)
            await asyncio.sleep(EPISODE_RETRY_SECONDS)
        finally:
            live.episode_scheduled = False
        if live.inbox and self.live.get(live.instance_id) is live and not live.suspended:
            self._schedule_episode(live)

    async def _coalesce(self, live: Live) -> None:
        """Let more results arrive before a replay when more are on their way.

        Each episode replays the whole history, so when activities of this instance are
        still running or requests are arriving, waiting a fraction of the last replay's
        cost lets one replay take many results. A lone result (a step of a sequence)
        is never delayed.
        """
        if not live.history or live.last_replay_seconds < COALESCE_MIN_REPLAY:
            return
        if live.activities_running or self.pressure():
            await asyncio.sleep(min(COALESCE_MAX_WAIT, live.last_replay_seconds / 2))

    async def _apply_control(self, live: Live, control: list[dict[str, Any]]) -> None:
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

    async def _episode(self, live: Live) -> None:
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
        session, answer = await self._call_orchestrator(live, started + new_events)
        decision = decide(live.instance_id, live.history + started + new_events, answer, now)
        appended = started + new_events + decision.events
        if decision.outcome in ("Completed", "Failed"):
            appended.append(
                event(
                    EventType.ExecutionCompleted,
                    now,
                    OrchestrationStatus=decision.outcome,
                    Result=json.dumps(decision.output)
                    if decision.outcome == "Completed"
                    else decision.error,
                )
            )
        elif decision.outcome == "ContinuedAsNew":
            appended.append(event(EventType.ContinueAsNew, now, Input=decision.continue_input))
        appended.append(event(EventType.OrchestratorCompleted, now))
        self._record(live, appended, consumed)
        if session is not None and decision.outcome is None:
            session.record(len(started) + len(new_events), appended, len(live.history))
            self.sessions.keep(live.instance_id, session)
        if decision.custom_status is not None:
            live.custom_status = json.dumps(decision.custom_status)
        await self._after_episode(live, decision, now)

    async def _call_orchestrator(
        self, live: Live, new_events: list[dict[str, Any]]
    ) -> tuple[Session | None, OrchestratorAnswer]:
        """Run the episode: resumed in the instance's session, or a full replay.

        A resumed episode costs what the orchestrator does with the new events (tens of
        microseconds for a step), less than a hand-over to a thread and back, so it runs on
        the loop; full replays run on the orchestrator thread, keeping the loop responsive.
        """
        function = self.orchestrators[live.name]
        session = self.sessions.take(live.instance_id, len(live.history))
        history_json = live.history_json
        played = len(history_json)

        def body() -> str:
            return orchestrator_request(
                live.instance_id, history_json[:played], new_events, live.input, live.parent_id
            )

        started = time.perf_counter()

        def call() -> tuple[Session | None, OrchestratorAnswer]:
            try:
                return self.sessions.run(
                    function.user_function, trigger_param(function), session, body, new_events
                )
            except SessionDiverged as error:
                return None, read_answer(raised=error)

        with Execution(live.name, invocation=f"{live.instance_id}:{len(live.history)}") as run:
            if session is not None and not self.sessions.check:
                session, answer = call()
            else:
                session, answer = await asyncio.get_running_loop().run_in_executor(
                    self._orchestrator_pool, call
                )
            run.failed = bool(answer.error)
        live.last_replay_seconds = time.perf_counter() - started
        if answer.error:
            log.error(
                "Orchestration '%s' (%s) failed: %s", live.name, live.instance_id, answer.error
            )
        return session, answer

    async def _after_episode(self, live: Live, decision: Decision, now: datetime) -> None:
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
            await self._update_row(
                live.instance_id,
                {
                    "RuntimeStatus": "Running",
                    "LastUpdatedTime": now,
                    "CustomStatus": live.custom_status,
                },
            )
            live.row_custom_status = live.custom_status
            live.row_written_at = time.monotonic()

    async def _finish(
        self,
        live: Live,
        status: str,
        now: datetime,
        output: str | None = None,
        error: str | None = None,
    ) -> None:
        live.status = status
        for entry in live.timers.values():
            Clock.cancel(entry)
        self.live.pop(live.instance_id, None)
        self.sessions.drop(live.instance_id)
        # Whoever sees the final status can read the whole history.
        await self._flush(live)
        finished = self._finished.pop(live.instance_id, None)
        await self._update_row(
            live.instance_id,
            {
                "RuntimeStatus": status,
                "Output": output if status == "Completed" else json.dumps(error),
                "CustomStatus": live.custom_status,
                "LastUpdatedTime": now,
                "CompletedTime": now,
            },
        )
        if finished is not None:
            finished.set()
        if live.parent_id is not None and live.parent_task_id is not None:
            self._notify_parent(live.parent_id, live.parent_task_id, status, output, error)

    async def wait_until_finished(self, instance_id: str, timeout: float) -> None:
        """Return once the instance has finished (or at once if it is not running here)."""
        if instance_id not in self.live:
            return
        finished = self._finished.setdefault(instance_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), timeout)

    async def _terminate(self, live: Live) -> None:
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

    async def _continue_as_new(self, live: Live, decision: Decision, now: datetime) -> None:
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
