"""Timer triggers: NCRONTAB schedules fired from the host clock, as the Functions host does.

Each timer keeps its schedule status in storage (see schedule_status), so a restarted
host knows whether it missed an occurrence and fires it once with `past_due=True`, and
never fires early an occurrence that already fired (a restarted virtual clock starts at
real time again, which may be hours before the stored `Next`). Like the host, a timer
never overlaps itself: the next occurrence is armed only after a firing has finished.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from azure.functions.timer import TimerRequest

from ncrontab import Schedule

from .appconfig import resolve_setting_references
from .clock import Clock
from .execution_log import Execution
from .indexer import TIMER, IndexedFunction
from .replay import iso
from .schedule_status import ScheduleStatus, after_firing, initial_status, reconcile
from .store import Store

log = logging.getLogger("devhost")

Invoker = Callable[[IndexedFunction, dict[str, Any], str], Awaitable[Any]]


@dataclass
class _Timer:
    function: IndexedFunction
    schedule: Schedule
    # The host keeps (and hands over) a status only for monitored schedules.
    monitored: bool
    status: ScheduleStatus | None = None


def _is_monitored(function: IndexedFunction, schedule: Schedule) -> bool:
    """`useMonitor` when the binding sets it; else whether it fires at most once a minute."""
    explicit = function.trigger.get("useMonitor")
    if explicit is not None:
        return bool(explicit)
    return not schedule.fires_more_than_once_a_minute()


class TimerTriggers:
    def __init__(
        self,
        functions: list[IndexedFunction],
        settings: dict[str, str],
        clock: Clock,
        store: Store,
        host_id: str,
        invoke: Invoker,
        spawn: Callable[[Any], None],
        before_firing: Callable[[], Awaitable[None]] | None = None,
    ):
        self.clock = clock
        # Saves the virtual clock: a host killed during the firing must not come back
        # at an earlier time, where the occurrence would look not yet due.
        self.before_firing = before_firing
        self.store = store
        self.host_id = host_id
        self.invoke = invoke
        self.spawn = spawn
        self.timers: dict[str, _Timer] = {}
        for function in functions:
            if function.trigger_type != TIMER or function.disabled:
                continue
            expression = resolve_setting_references(str(function.trigger["schedule"]), settings)
            schedule = Schedule.parse(expression)
            self.timers[function.name] = _Timer(
                function, schedule, _is_monitored(function, schedule)
            )

    async def start(self) -> None:
        now = self.clock.now()
        for name, timer in self.timers.items():
            missed = False
            stored = None
            if timer.monitored:
                stored = ScheduleStatus.from_json(
                    await self.store.read_timer_status(self.host_id, name)
                )
                if stored is None:
                    await self._record(name, initial_status(timer.schedule, now))
                else:
                    status, missed = reconcile(timer.schedule, now, stored)
                    if status != stored:
                        await self._record(name, status)
                    stored = status
            # A timer that never fired hands over no LastUpdated either (the host keeps
            # the one it stored and the one it hands over apart until the first firing).
            timer.status = stored or ScheduleStatus(None, timer.schedule.next_after(now), None)
            if missed:
                log.info(
                    "Timer %s missed %s: firing it now (past due)", name, iso(timer.status.next)
                )
                self.spawn(self._fire(name, past_due=True))
            elif timer.function.trigger.get("runOnStartup"):
                self.spawn(self._fire(name, run_on_startup=True))
            else:
                self._arm(name)

    def _arm(self, name: str) -> None:
        timer = self.timers[name]
        assert timer.status is not None
        self.clock.call_at(timer.status.next, lambda: self.spawn(self._fire(name)), jumpable=False)

    async def _record(self, name: str, status: ScheduleStatus) -> None:
        await self.store.write_timer_status(self.host_id, name, status.to_json())

    async def _fire(self, name: str, past_due: bool = False, run_on_startup: bool = False) -> None:
        timer = self.timers[name]
        status = timer.status
        assert status is not None
        invoked_at = self.clock.now()
        if self.before_firing is not None:
            await self.before_firing()
        request = TimerRequest(
            past_due=past_due,
            schedule_status=status.to_json() if timer.monitored else None,
            schedule={"AdjustForDST": True},
        )
        reason = "past due" if past_due else "run on startup" if run_on_startup else "scheduled"
        execution = Execution(name, f"Timer fired at {iso(invoked_at)} ({reason})")
        try:
            # A failing timer function is logged (by Execution); its schedule goes on.
            with contextlib.suppress(Exception), execution:
                await self.invoke(
                    timer.function,
                    {str(timer.function.trigger["name"]): request},
                    execution.invocation,
                )
            timer.status = after_firing(
                timer.schedule, status, invoked_at, on_schedule=not (past_due or run_on_startup)
            )
            if timer.monitored:
                await self._record(name, timer.status)
        except Exception:
            log.exception("Could not record the schedule status of timer %s", name)
        finally:
            self._arm(name)
