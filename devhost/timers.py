"""Timer triggers: NCRONTAB schedules fired from the host clock, once per occurrence.

Like the Functions host, the schedule status (Last, Next, LastUpdated) is kept in the
`azure-webjobs-hosts` container, so a restarted host knows whether it missed an
occurrence (it then fires once with `past_due=True`) and never fires one twice: the
status is written before the function runs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from azure.functions.timer import TimerRequest

from .appconfig import resolve_setting_references
from .clock import Clock
from .execution_log import Execution
from .indexer import TIMER, IndexedFunction
from .ncrontab import Schedule
from .replay import iso, parse_iso
from .store import Store

log = logging.getLogger("devhost")

Invoker = Callable[[IndexedFunction, dict[str, Any], str], Awaitable[Any]]


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
    ):
        self.clock = clock
        self.store = store
        self.host_id = host_id
        self.invoke = invoke
        self.spawn = spawn
        self.schedules: dict[str, tuple[IndexedFunction, Schedule]] = {}
        # The latest occurrence each function fired (from the stored schedule status).
        self.last_fired: dict[str, datetime] = {}
        for function in functions:
            if function.trigger_type != TIMER or function.disabled:
                continue
            expression = resolve_setting_references(str(function.trigger["schedule"]), settings)
            self.schedules[function.name] = (function, Schedule.parse(expression))

    async def start(self) -> None:
        now = self.clock.now()
        for name, (function, schedule) in self.schedules.items():
            status = await self.store.read_timer_status(self.host_id, name)
            if status is not None and status.get("Last"):
                self.last_fired[name] = parse_iso(status["Last"])
            missed = status is not None and parse_iso(status["Next"]) <= now
            if function.trigger.get("runOnStartup") or missed:
                self.spawn(self._fire(name, now, past_due=missed))
            else:
                # Never before an occurrence that already fired: a restarted virtual
                # clock starts at real time again, which may be before it.
                self._arm(name, schedule.next_after(self._not_before(name, now)))

    def _not_before(self, name: str, moment: datetime) -> datetime:
        last = self.last_fired.get(name)
        return moment if last is None else max(moment, last)

    def _arm(self, name: str, due: datetime) -> None:
        self.clock.call_at(
            due, lambda: self.spawn(self._fire(name, due, past_due=False)), jumpable=False
        )

    async def _fire(self, name: str, occurrence: datetime, past_due: bool) -> None:
        function, schedule = self.schedules[name]
        now = self.clock.now()
        last = self._not_before(name, occurrence)
        self.last_fired[name] = last
        following = schedule.next_after(max(now, last))
        status = {"Last": iso(last), "Next": iso(following), "LastUpdated": iso(now)}
        await self.store.write_timer_status(self.host_id, name, status)
        self._arm(name, following)
        request = TimerRequest(
            past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True}
        )
        execution = Execution(name, f"Timer fired at {iso(now)}")
        # A failing timer function is logged (by Execution) and waits for its next occurrence.
        with contextlib.suppress(Exception), execution:
            await self.invoke(
                function, {str(function.trigger["name"]): request}, execution.invocation
            )
