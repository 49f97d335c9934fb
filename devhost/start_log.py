"""The start log: a start is stored in one write with the starts that arrive beside it.

A start must be durable before the host answers 202. Its Instances row has a partition of
its own (the instance id), so the rows of many starts cannot share a write; the log keeps
each accepted start as a row of one partition of `<Hub>Starts` instead, and while one
write of the log is in flight the starts that arrive gather into the next one (a group
commit: a table transaction of up to 100 starts). The instance's row and history are then
written behind (write_behind.py), and its entry is forgotten once its row is stored; a
restarted host creates what a crash left only in the log (recovery.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("devhost")


class StartLog:
    def __init__(
        self,
        write: Callable[[list[dict[str, Any]]], Awaitable[None]],
        forget: Callable[[list[str]], Awaitable[None]],
        retrying: Callable[..., Awaitable[Any]],
    ):
        self._write = write
        self._forget = forget
        self._retrying = retrying
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._forgotten: list[str] = []
        self._writing: asyncio.Task[None] | None = None
        self._forgetting: asyncio.Task[None] | None = None

    async def add(self, entry: dict[str, Any]) -> None:
        """Return once the entry is stored (raise if storage refused it for good)."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, stored))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write_waiting())
        await stored

    def forget(self, execution_id: str) -> None:
        """The start's instance row is stored: its entry may go (behind, in batches)."""
        self._forgotten.append(execution_id)
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.get_running_loop().create_task(self._forget_gathered())

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._retrying(self._write, [entry for entry, _ in batch])
            except Exception as error:
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(error)
                continue
            for _, stored in batch:
                if not stored.done():
                    stored.set_result(None)

    async def _forget_gathered(self) -> None:
        while self._forgotten:
            batch, self._forgotten = self._forgotten, []
            try:
                await self._retrying(self._forget, batch)
            except Exception:
                # Harmless: a restart finds those instances' rows and forgets them then.
                log.warning("Deleting %d start log entries failed", len(batch), exc_info=True)

    async def close(self) -> None:
        """Store the starts already taken (a restart creates their instances); stop."""
        if self._writing is not None:
            await asyncio.wait([self._writing], timeout=30)
        if self._forgetting is not None and not self._forgetting.done():
            self._forgetting.cancel()
            await asyncio.gather(self._forgetting, return_exceptions=True)
