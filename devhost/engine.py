"""The orchestration engine: episodes, activities, timers and sub-orchestrations.

One asyncio loop owns all mutable state. For each running instance the engine keeps its
history in memory and an inbox of new events (activity results, timer firings, raised
events, child results). An episode drains the inbox, calls the registered orchestrator
handler with the full history (the real azure-functions-durable replay engine), writes
the new events to the History table, updates the Instances row, and only then starts
the work the orchestrator asked for. Completions that arrive while an episode runs
wait for the next one, so a burst of activity results costs one replay, not hundreds.

Crash safety: a start is stored in the start log before it is answered (start_log.py),
a raised event or control request in `<Hub>Messages` (message_log.py); history is written
before consumed messages are deleted, so a restarted host derives all unfinished work from
the logs and history (recovery.py).
Dispatch of work and results is in dispatch.py, history writes in write_behind.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from . import api_input
from .api_input import BadRequest
from .clock import Clock
from .dispatch import Dispatch
from .episodes import Episodes
from .errors import EngineError
from .indexer import ACTIVITY, ORCHESTRATION, IndexedFunction
from .instance import Live
from .message_log import MessageLog
from .recovery import Recovery
from .replay import (
    EventType,
    event,
)
from .sessions import Sessions
from .speedups import memoize_history_timestamps, reuse_namedtuple_classes
from .start_burst import StartBurst
from .start_log import StartLog
from .store import Store
from .write_behind import WriteBehind

log = logging.getLogger("devhost")
# How many rows of instances that finished in their first episode are kept, to answer
# status queries without reading storage, and the largest kept (characters of its values:
# at most about 40 MB in all).
FINAL_ROWS_KEPT = 10_000
FINAL_ROW_CHARS = 4_000


class Engine(Episodes, Recovery, Dispatch, WriteBehind):
    """Starting and messaging; episodes, recovery, dispatch and write-behind are mixins."""

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
        reuse_namedtuple_classes()
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
        # Starts taken whose Instances row is not stored yet; each event is set once it is.
        self._starting: dict[str, asyncio.Event] = {}
        # Finished here, but the row's final status is not stored yet: the id is still taken.
        self._closing: set[str] = set()
        # The stored rows of instances that finished here in their first episode, oldest
        # first: this host holds the hub's lease, so nobody else changes them (final_row).
        self._final_rows: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # Unfinished in storage but not run here (their orchestrator is gone from the app).
        self.held: set[str] = set()
        # Set once recovery has loaded every unfinished instance: until then a start cannot
        # tell whether its id is taken.
        self.recovered = asyncio.Event()
        self.start_log = StartLog(
            self._log_starts, self._forget_starts, functools.partial(self._with_retries)
        )
        # The first episodes of starts that arrive in a burst run once it ends.
        self._burst: StartBurst[Live] = StartBurst(self._run_first_episode)
        self.message_log = MessageLog(self._write_messages, functools.partial(self._with_retries))
        # The durable client binding JSON, for activities that declare a client input.
        self.client_binding: str | None = None
        # How many requests the host is serving: more messages may be on their way.
        self.pressure: Any = lambda: 0

    # -- bookkeeping ----------------------------------------------------------------

    def is_idle(self) -> bool:
        """Nothing runnable: the virtual clock may jump."""
        if self._inflight or self._starting:
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
        self._burst.close()
        await self.start_log.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # A clean stop stores what was recorded; only a crash leaves an episode unwritten.
        pending = [live.last_write for live in self.live.values() if live.last_write is not None]
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout=30)
        await self.message_log.close()
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
        if instance_id:  # also a sub-orchestration's, which no API call checked
            try:
                api_input.instance_id(instance_id, new=True)
            except BadRequest as error:
                raise EngineError(400, str(error)) from None
        await self.recovered.wait()
        instance_id = instance_id or uuid.uuid4().hex
        # Every unfinished instance of the hub is known here (this host holds the hub's
        # lease), so the id is checked in memory; a finished one's row is replaced.
        taken = (self.live, self._starting, self._closing, self.held)
        if any(instance_id in ids for ids in taken):
            raise EngineError(
                409, f"An orchestration instance with ID '{instance_id}' is already running."
            )
        # Claimed before the first await, so two concurrent starts cannot both proceed.
        self._starting[instance_id] = asyncio.Event()
        self.forget_final_row(instance_id)  # a finished instance's row is to be replaced
        # A client waits for a start's answer, not an orchestration for its child's.
        external = parent is None
        if external:
            self._burst.arriving()
        try:
            return await self._create(name, instance_id, input_json, parent)
        except BaseException:
            self._row_stored(instance_id)
            raise
        finally:
            if external:
                self._burst.taken()

    async def wait_started(self, instance_id: str, timeout: float = 10.0) -> None:
        """Return once no start of `instance_id` is half-way (its row not yet stored).

        A start is answered once it is in the start log, before its row is stored; a status
        query right after the 202 (or after a second start's 409) must then find the
        instance, not answer 404 as if nobody had started it.
        """
        stored = self._starting.get(instance_id)
        if stored is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stored.wait(), timeout)

    def remember_final_row(self, instance_id: str, row: dict[str, Any]) -> None:
        """The row just stored, final, of an instance that finished in its first episode."""
        if sum(len(v) for v in row.values() if isinstance(v, str)) > FINAL_ROW_CHARS:
            return  # a large input or output: read from storage when asked for
        self._final_rows[instance_id] = {"PartitionKey": instance_id, "RowKey": "", **row}
        if len(self._final_rows) > FINAL_ROWS_KEPT:
            self._final_rows.popitem(last=False)

    def final_row(self, instance_id: str) -> dict[str, Any] | None:
        """The stored row of a finished instance, when it is known without a read: the
        status query that follows a short orchestration (a client's poll) reads nothing."""
        return self._final_rows.get(instance_id)

    def forget_final_row(self, instance_id: str) -> None:
        """The instance's row is about to change (a new start) or go (a purge)."""
        self._final_rows.pop(instance_id, None)

    async def wait_rows_stored(self, timeout: float = 10.0) -> None:
        """Return once the rows of the starts answered so far are stored (for listings)."""
        pending = [event.wait() for event in self._starting.values()]
        if pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), timeout)

    def _row_stored(self, instance_id: str) -> None:
        stored = self._starting.pop(instance_id, None)
        if stored is not None:
            stored.set()

    async def _create(
        self, name: str, instance_id: str, input_json: str | None, parent: tuple[str, int] | None
    ) -> str:
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
        row = self._row(live, now)
        # Durable once logged: the row and history follow behind (write_behind.py).
        await self.start_log.add({"InstanceId": instance_id, **row})
        self._adopt(live, row)
        return instance_id

    def _adopt(self, live: Live, row: dict[str, Any]) -> None:
        """Run a logged start; its row is written behind its first episode's history."""
        live.row_unwritten = row
        self.live[live.instance_id] = live
        if live.parent_id is None:
            self._burst.admit(live)
        else:  # a sub-orchestration: nobody waits for its answer, its parent for its end
            self._schedule_episode(live)

    def _run_first_episode(self, live: Live) -> None:
        if self.live.get(live.instance_id) is live:
            self._schedule_episode(live)

    async def _log_starts(self, entries: list[dict[str, Any]]) -> None:
        await self.writer.log_starts(entries)

    async def _forget_starts(self, execution_ids: list[str]) -> None:
        await self.writer.forget_starts(execution_ids)

    async def _write_messages(
        self, instance_id: str, added: list[tuple[str, dict[str, Any]]], deleted: list[str]
    ) -> None:
        await self.writer.write_messages(instance_id, added, deleted)

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
        live.messages_arriving += 1
        try:
            # Stored with the messages that arrive beside it, then handed over in order.
            await self.message_log.add(
                instance_id,
                message,
                lambda message_id: self._accept_message(live, message_id, message),
            )
        finally:
            live.messages_arriving -= 1
            live.arrival.set()

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
        self._closing.add(live.instance_id)
        self.live.pop(live.instance_id, None)
        self.sessions.drop(live.instance_id)
        final = {
            "RuntimeStatus": status,
            "Output": output if status == "Completed" else json.dumps(error),
            "CustomStatus": live.custom_status,
            "LastUpdatedTime": now,
            "CompletedTime": now,
        }
        # Finished before its row was written: the row goes once, final, after the history.
        folded = live.row_unwritten is not None
        if live.row_unwritten is not None:
            live.row_unwritten.update(final)
        try:
            # Whoever sees the final status can read the whole history.
            await self._flush(live)
            finished = self._finished.pop(live.instance_id, None)
            if not folded:
                await self._update_row(live.instance_id, final)
        finally:
            # Until the final status is stored, a start with this id would find it running.
            self._closing.discard(live.instance_id)
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
