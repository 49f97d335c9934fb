"""Dispatch: the work an episode asks for (activities, durable timers, sub-orchestrations)
and the results that come back as events for the instance's next episode."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from .errors import EngineError
from .indexer import IndexedFunction
from .instance import Live
from .invoke import call_user_function, invoke_activity
from .replay import (
    ActivityWork,
    EventType,
    SubOrchestrationWork,
    TimerWork,
    event,
    iso,
)
from .store import ACTIVE_STATUSES

if TYPE_CHECKING:
    from .engine_parts import EngineParts


class Dispatch:
    """Starting the work of episodes and delivering its results (a mixin of `Engine`)."""

    def _start_work(
        self: EngineParts,
        live: Live,
        activities: list[ActivityWork],
        timers: list[TimerWork],
        subs: list[SubOrchestrationWork],
    ) -> None:
        for work in activities:
            live.activities_running += 1
            self._spawn(self._run_activity(live, work))
        for timer in timers:
            live.timers[timer.event_id] = self.clock.call_at(
                timer.fire_at, functools.partial(self._fire_timer, live, timer)
            )
        for sub in subs:
            self._spawn(self._start_child(live, sub))

    def _notify_parent(
        self: EngineParts,
        parent_id: str,
        task_id: int,
        status: str,
        output: str | None,
        error: str | None,
    ) -> None:
        parent = self.live.get(parent_id)
        if parent is None:
            return
        now = self.clock.now()
        if status == "Completed":
            self._deliver(
                parent,
                event(
                    EventType.SubOrchestrationInstanceCompleted,
                    now,
                    TaskScheduledId=task_id,
                    Result=output,
                ),
            )
        else:
            self._deliver(
                parent,
                event(
                    EventType.SubOrchestrationInstanceFailed,
                    now,
                    TaskScheduledId=task_id,
                    Reason=error or f"Sub-orchestration {status.lower()}",
                    Details=error,
                ),
            )

    def _fire_timer(self: EngineParts, live: Live, timer: TimerWork) -> None:
        live.timers.pop(timer.event_id, None)
        if self.live.get(live.instance_id) is not live:
            return
        self._deliver(
            live,
            event(
                EventType.TimerFired,
                self.clock.now(),
                TimerId=timer.event_id,
                FireAt=iso(timer.fire_at),
            ),
        )

    async def _run_activity(self: EngineParts, live: Live, work: ActivityWork) -> None:
        execution_id = live.execution_id
        function = self.activities.get(work.name)
        async with self._activity_slots:
            if function is None:
                known = ", ".join(sorted(self.activities)) or "none"
                reason = (
                    f"The activity function '{work.name}' doesn't exist: no function with an "
                    f"activityTrigger has that name. Activity functions: {known}."
                )
                result = event(
                    EventType.TaskFailed,
                    self.clock.now(),
                    TaskScheduledId=work.event_id,
                    Reason=reason,
                    Details=reason,
                )
            else:
                result = await self._invoke_activity(function, work)
        live.activities_running -= 1
        if self.live.get(live.instance_id) is live and live.execution_id == execution_id:
            self._deliver(live, result)

    async def _invoke_activity(
        self: EngineParts, function: IndexedFunction, work: ActivityWork
    ) -> dict[str, Any]:
        return await invoke_activity(
            function, work, self.clock.now, self.client_binding, self.app_dir, self._activity_pool
        )

    async def call_user_function(self: EngineParts, fn: Any, kwargs: dict[str, Any]) -> Any:
        return await call_user_function(fn, kwargs, self._activity_pool)

    async def _start_child(self: EngineParts, parent: Live, work: SubOrchestrationWork) -> None:
        # After a crash the child may be a logged start that recovery has yet to run.
        await self.recovered.wait()
        existing = self.live.get(work.instance_id)
        if existing is not None:
            return
        row = await self.store.get_instance(work.instance_id)
        if row is not None and row.get("ParentInstanceId") == parent.instance_id:
            status = row.get("RuntimeStatus")
            if status in ACTIVE_STATUSES:
                return
            if row.get("ParentTaskId") == work.event_id:
                # Finished before a crash hid its result from the parent: deliver it now.
                self._notify_parent(
                    parent.instance_id,
                    work.event_id,
                    str(status),
                    row.get("Output"),
                    _error_text(row.get("Output")),
                )
                return
        try:
            await self.start_new(
                work.name, work.instance_id, work.input, parent=(parent.instance_id, work.event_id)
            )
        except EngineError as error:
            self._notify_parent(parent.instance_id, work.event_id, "Failed", None, str(error))


def _error_text(output: str | None) -> str | None:
    if output is None:
        return None
    try:
        value = json.loads(output)
    except ValueError:
        return output
    return value if isinstance(value, str) else output
