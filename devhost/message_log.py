"""The message log: an instance's messages stored in one write with those beside them.

A raised event or a terminate/suspend/resume request must be durable before the host
answers 202. The messages of one instance are rows of one partition of `<Hub>Messages`
(the instance id), so while one write of an instance's messages is in flight, the
messages that arrive for it gather into the next one (a group commit, as the start log
does for starts: one table transaction for a burst of raised events instead of a request
each). Their senders are answered once that write is stored, and the messages are handed
to the instance in the order they arrived, so the events of a sender that waits for each
answer arrive in the order it sent them.

The messages an episode consumed are deleted once its history is stored (write_behind);
those deletes join the same writes, so during a burst they cost no request of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .store import new_message_id

log = logging.getLogger("devhost")


@dataclass
class _Gathered:
    """What waits for an instance's next write."""

    added: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Called with each added message's id once it is stored, in the order they arrived.
    accept: list[Callable[[str], None]] = field(default_factory=list)
    stored: list[asyncio.Future[None]] = field(default_factory=list)


class MessageLog:
    def __init__(
        self,
        write: Callable[[str, list[tuple[str, dict[str, Any]]], list[str]], Awaitable[None]],
        retrying: Callable[..., Awaitable[Any]],
    ):
        # write(instance id, [(message id, message)] to add, [message id] to delete)
        self._write = write
        self._retrying = retrying
        self._gathered: dict[str, _Gathered] = {}
        self._writing: dict[str, asyncio.Task[None]] = {}

    async def add(
        self, instance_id: str, message: dict[str, Any], accept: Callable[[str], None]
    ) -> str:
        """Store the message; once it is stored, `accept(its id)` is called (for the
        messages of one write in the order they arrived) and its id returned. Raises if
        storage refused it for good (the message may or may not be stored then)."""
        message_id = new_message_id()
        gathered = self._gather(instance_id)
        gathered.added.append((message_id, message))
        gathered.accept.append(accept)
        await self._stored(instance_id, gathered)
        return message_id

    async def delete(self, instance_id: str, message_ids: list[str]) -> None:
        """Delete consumed messages (their episode's history is stored); return once done."""
        if not message_ids:
            return
        gathered = self._gather(instance_id)
        gathered.deleted.extend(message_ids)
        await self._stored(instance_id, gathered)

    async def close(self, timeout: float = 30.0) -> None:
        """Let the writes in flight finish."""
        if self._writing:
            await asyncio.wait(list(self._writing.values()), timeout=timeout)

    def _gather(self, instance_id: str) -> _Gathered:
        gathered = self._gathered.get(instance_id)
        if gathered is None:
            gathered = self._gathered[instance_id] = _Gathered()
        return gathered

    async def _stored(self, instance_id: str, gathered: _Gathered) -> None:
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        gathered.stored.append(stored)
        if instance_id not in self._writing:
            task = asyncio.get_running_loop().create_task(self._write_gathered(instance_id))
            self._writing[instance_id] = task
        await stored

    async def _write_gathered(self, instance_id: str) -> None:
        try:
            while (gathered := self._gathered.pop(instance_id, None)) is not None:
                try:
                    await self._retrying(self._write, instance_id, gathered.added, gathered.deleted)
                except Exception as error:
                    for stored in gathered.stored:
                        if not stored.done():
                            stored.set_exception(error)
                    continue
                for (message_id, _), accept in zip(gathered.added, gathered.accept, strict=True):
                    try:
                        accept(message_id)
                    except Exception:
                        log.exception("Handing message %s to %s failed", message_id, instance_id)
                for stored in gathered.stored:
                    if not stored.done():
                        stored.set_result(None)
        finally:
            self._writing.pop(instance_id, None)
