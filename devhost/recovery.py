"""Recovery: a restarted host loads every unfinished instance and resumes its work.

A start is in the start log before it is answered, and its row is stored before any of
its history; history is written before the messages an episode consumed are deleted. So
everything unfinished can be derived from storage: a start the log holds with no row is
run from the start, an episode
that a crash cut short is dropped (its inputs come again), scheduled work with no
completion in history is started again (activities run at least once, completions are
recorded once), and stored messages not yet in history are delivered.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from .instance import Live
from .replay import EventType, parse_iso, pending_work, played_json
from .store import ACTIVE_STATUSES

if TYPE_CHECKING:
    from .engine_parts import EngineParts

log = logging.getLogger("devhost")


class Recovery:
    """The engine's recovery (a mixin of `Engine`)."""

    async def recover(self: EngineParts) -> int:
        """Load every unfinished instance and resume the work its history shows pending."""
        try:
            return await self._recover()
        finally:
            self.recovered.set()

    async def _recover(self: EngineParts) -> int:
        rows = [r async for r in self.store.query_instances(statuses=ACTIVE_STATUSES)]
        loaded: list[Live] = []
        for row in rows:
            live = await self._load(row)
            if live is not None:
                loaded.append(live)
        latest = [
            parse_iso(e["Timestamp"])
            for live in loaded
            for e in live.history[-2:]
            if e.get("Timestamp")
        ]
        if latest:
            self.clock.advance_to(max(latest))
        for live in loaded:
            async for message in self.store.list_messages(live.instance_id):
                if any(e.get("MessageId") == message["RowKey"] for e in live.history):
                    await self.store.delete_messages(live.instance_id, [message["RowKey"]])
                    continue
                self._accept_message(live, message["RowKey"], message)
            activities, timers, subs = pending_work(live.instance_id, live.history)
            self._start_work(live, activities, timers, subs)
            if not live.history:
                self._schedule_episode(live)
        return len(loaded) + await self._recover_starts()

    async def _recover_starts(self: EngineParts) -> int:
        """Run the starts the log holds whose rows a crash kept from being stored."""
        adopted = 0
        for entry in await self.store.list_starts():
            instance_id, execution_id = entry.pop("InstanceId"), entry["ExecutionId"]
            if instance_id in self.live or instance_id in self.held:
                self.start_log.forget(execution_id)  # its row is stored (or the id is held)
                continue
            row = await self.store.get_instance(instance_id)
            # A row of a later start (an entry whose deletion failed) keeps its place.
            stale = row is not None and (
                row.get("ExecutionId") == execution_id
                or row.get("RuntimeStatus") in ACTIVE_STATUSES
                or (row.get("CreatedTime") or entry["CreatedTime"]) > entry["CreatedTime"]
            )
            if stale or entry.get("Name") not in self.orchestrators:
                if not stale:
                    log.warning(
                        "Start of %s dropped: the app no longer defines orchestrator '%s'",
                        instance_id,
                        entry.get("Name"),
                    )
                self.start_log.forget(execution_id)
                continue
            live = Live(
                instance_id=instance_id,
                name=entry["Name"],
                execution_id=execution_id,
                input=entry.get("Input"),
                created_time=entry["CreatedTime"],
                parent_id=entry.get("ParentInstanceId"),
                parent_task_id=entry.get("ParentTaskId"),
            )
            # History a crashed attempt wrote before the row (see write_behind) is replayed
            # from the start again: none of it may stay in the way.
            await self.store.delete_history(instance_id)
            self._starting[instance_id] = asyncio.Event()
            self._adopt(live, self._row(live, self.clock.now()))
            adopted += 1
        return adopted

    async def _load(self: EngineParts, row: dict[str, Any]) -> Live | None:
        instance_id = row["PartitionKey"]
        if row.get("Name") not in self.orchestrators:
            self.held.add(instance_id)
            log.warning(
                "Instance %s runs orchestrator '%s', which this app no longer defines; left as is",
                instance_id,
                row.get("Name"),
            )
            return None
        history = await self.store.load_history(instance_id)
        last_complete = max(
            (i for i, e in enumerate(history) if e["EventType"] == EventType.OrchestratorCompleted),
            default=-1,
        )
        if last_complete + 1 < len(history):
            # An episode the crash cut short: forget it; its inputs are derived again.
            await self.store.delete_history(instance_id, last_complete + 1)
            history = history[: last_complete + 1]
        created = row.get("CreatedTime") or self.clock.now()
        live = Live(
            instance_id=instance_id,
            name=row["Name"],
            execution_id=row.get("ExecutionId") or uuid.uuid4().hex,
            input=row.get("Input"),
            created_time=created,
            parent_id=row.get("ParentInstanceId"),
            parent_task_id=row.get("ParentTaskId"),
            history=history,
            history_json=[played_json(e) for e in history],
            status=row.get("RuntimeStatus", "Running"),
            custom_status=row.get("CustomStatus"),
            suspended=row.get("RuntimeStatus") == "Suspended",
        )
        terminal = next(
            (e for e in reversed(history) if e["EventType"] == EventType.ExecutionCompleted), None
        )
        if terminal is not None:
            # History finished but the row was not updated before the crash.
            status = terminal.get("OrchestrationStatus", "Completed")
            result = terminal.get("Result")
            self.live[instance_id] = live
            await self._finish(
                live,
                status,
                self.clock.now(),
                output=result if status == "Completed" else None,
                error=None if status == "Completed" else result,
            )
            return None
        live.completed_tasks = {
            int(e.get("TaskScheduledId", e.get("TimerId", -1)))
            for e in history
            if e["EventType"]
            in (
                EventType.TaskCompleted,
                EventType.TaskFailed,
                EventType.TimerFired,
                EventType.SubOrchestrationInstanceCompleted,
                EventType.SubOrchestrationInstanceFailed,
            )
        }
        self.live[instance_id] = live
        return live
