"""Host clocks: real time, or virtual time that skips ahead when the host is idle.

Durable timers and timer triggers are scheduled on the clock. With the virtual clock,
time runs at the real pace while the host has work; once nothing is runnable (no
episode, activity or queued message) for `idle_settle` seconds, time jumps to the next
due durable timer, so an orchestration that waits eight hours in 15-minute timers
finishes in seconds. Timer triggers never cause a jump (an hourly schedule would
otherwise fast-forward an idle host forever), but a jump stops at an occurrence on its
way, so they fire on time when a jump passes them.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass(order=True)
class _Entry:
    due: datetime
    seq: int
    callback: Callable[[], None] = field(compare=False)
    jumpable: bool = field(compare=False, default=True)
    cancelled: bool = field(compare=False, default=False)


class Clock:
    """Schedules callbacks at clock times; `virtual=True` enables idle jumps."""

    def __init__(
        self,
        virtual: bool = False,
        is_idle: Callable[[], bool] = lambda: True,
        idle_settle: float = 0.02,
    ):
        self.virtual = virtual
        self._offset = timedelta(0)
        self._is_idle = is_idle
        self._idle_settle = idle_settle
        self._heap: list[_Entry] = []
        self._counter = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.jumps = 0

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set_now(self, moment: datetime) -> None:
        """Virtual clock: start from `moment` (before anything was scheduled on it)."""
        if self.virtual:
            self._offset = moment - datetime.now(UTC)

    def advance_to(self, moment: datetime) -> None:
        """Virtual clock: never run behind a time the host already showed (after a restart
        the offset starts from zero, while stored histories may be hours ahead)."""
        if self.virtual and moment > self.now():
            self._offset += moment - self.now()

    def call_at(self, due: datetime, callback: Callable[[], None], jumpable: bool = True) -> _Entry:
        entry = _Entry(due, next(self._counter), callback, jumpable)
        heapq.heappush(self._heap, entry)
        self._wake.set()
        return entry

    @staticmethod
    def cancel(entry: _Entry) -> None:
        entry.cancelled = True

    def poke(self) -> None:
        """Tell the clock that the host may have become idle."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        # A flag, not task.cancel(): Python 3.11's wait_for can swallow a cancellation
        # that arrives as the awaited event is set, and then the loop would run forever.
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def _next_jumpable(self) -> datetime | None:
        return min((e.due for e in self._heap if e.jumpable and not e.cancelled), default=None)

    async def _run(self) -> None:
        while not self._stopping:
            while self._heap and self._heap[0].cancelled:
                heapq.heappop(self._heap)
            now = self.now()
            while self._heap and self._heap[0].due <= now:
                entry = heapq.heappop(self._heap)
                if not entry.cancelled:
                    entry.callback()
            wait = 3600.0
            if self._heap:
                wait = max(0.0, (self._heap[0].due - self.now()).total_seconds())
            if self.virtual:
                wait = min(wait, self._idle_settle)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
                continue
            except TimeoutError:
                pass
            if self.virtual and self._is_idle():
                target = self._next_jumpable()
                if target is not None:
                    # A jump stops at a timer trigger's occurrence on its way, so that
                    # trigger fires on time rather than late at the jump's end.
                    target = min([target, *(e.due for e in self._heap if not e.cancelled)])
                if target is not None and target > self.now():
                    self._offset += target - self.now()
                    self.jumps += 1
