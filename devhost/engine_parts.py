"""What the engine's parts (episodes, recovery, dispatch, write-behind) see of the engine.

`Engine` is assembled from mixins, each in its own module; their methods take `self` as
this protocol, so each part names what it uses of the others and mypy checks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol

from .clock import Clock
from .indexer import IndexedFunction
from .instance import Live
from .message_log import MessageLog
from .replay import ActivityWork, Decision, SubOrchestrationWork, TimerWork
from .sessions import Session, Sessions
from .start_log import StartLog
from .store import Store


class EngineParts(Protocol):
    store: Store
    writer: Any
    clock: Clock
    app_dir: str
    live: dict[str, Live]
    orchestrators: dict[str, IndexedFunction]
    activities: dict[str, IndexedFunction]
    client_binding: str | None
    stopping: bool
    pressure: Callable[[], int]
    sessions: Sessions
    start_log: StartLog
    message_log: MessageLog
    held: set[str]
    recovered: asyncio.Event
    _starting: dict[str, asyncio.Event]
    _inflight: int
    _orchestrator_pool: ThreadPoolExecutor
    _activity_pool: ThreadPoolExecutor
    _activity_slots: asyncio.Semaphore

    # engine.py
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...
    def _deliver(
        self, live: Live, new_event: dict[str, Any], message_id: str | None = None
    ) -> None: ...
    def _schedule_episode(self, live: Live, force: bool = False) -> None: ...
    def _adopt(self, live: Live, row: dict[str, Any]) -> None: ...
    def _row(self, live: Live, now: datetime) -> dict[str, Any]: ...
    def _row_stored(self, instance_id: str) -> None: ...
    def remember_final_row(self, instance_id: str, row: dict[str, Any]) -> None: ...
    def _accept_message(self, live: Live, message_id: str, message: dict[str, Any]) -> None: ...
    async def start_new(
        self,
        name: str,
        instance_id: str | None,
        input_json: str | None,
        parent: tuple[str, int] | None = None,
    ) -> str: ...
    async def _finish(
        self,
        live: Live,
        status: str,
        now: datetime,
        output: str | None = None,
        error: str | None = None,
    ) -> None: ...

    # dispatch.py
    def _start_work(
        self,
        live: Live,
        activities: list[ActivityWork],
        timers: list[TimerWork],
        subs: list[SubOrchestrationWork],
    ) -> None: ...
    def _notify_parent(
        self, parent_id: str, task_id: int, status: str, output: str | None, error: str | None
    ) -> None: ...
    def _fire_timer(self, live: Live, timer: TimerWork) -> None: ...
    async def _run_activity(self, live: Live, work: ActivityWork) -> None: ...
    async def _invoke_activity(
        self, function: IndexedFunction, work: ActivityWork
    ) -> dict[str, Any]: ...
    async def _start_child(self, parent: Live, work: SubOrchestrationWork) -> None: ...

    # episodes.py
    async def _run_episodes(self, live: Live) -> None: ...
    async def _coalesce(self, live: Live) -> None: ...
    async def _apply_control(self, live: Live, control: list[dict[str, Any]]) -> None: ...
    async def _episode(self, live: Live) -> None: ...
    async def _call_orchestrator(
        self, live: Live, new_events: list[dict[str, Any]], now: datetime
    ) -> tuple[Session | None, Decision]: ...
    async def _after_episode(self, live: Live, decision: Decision, now: datetime) -> None: ...
    async def _terminate(self, live: Live) -> None: ...
    async def _continue_as_new(self, live: Live, decision: Decision, now: datetime) -> None: ...

    # recovery.py
    async def _recover(self) -> int: ...
    async def _recover_starts(self) -> int: ...
    async def _load(self, row: dict[str, Any]) -> Live | None: ...

    # write_behind.py
    def _record(self, live: Live, events: list[dict[str, Any]], consumed: list[str]) -> None: ...
    def _write_soon(self, live: Live) -> None: ...
    async def _write_behind(self, live: Live) -> None: ...
    async def _create_row(self, live: Live, row: dict[str, Any]) -> bool: ...
    async def _taken(self, live: Live) -> None: ...
    async def _flush(self, live: Live) -> None: ...
    async def _update_row(self, instance_id: str, fields: dict[str, Any]) -> None: ...
    def _write_done(self, task: asyncio.Task[None]) -> None: ...
    @staticmethod
    async def _with_retries(
        operation: Callable[..., Awaitable[Any]], *args: Any, attempts: int = 5
    ) -> Any: ...
