"""The message log's group commit (message_log.py), against a recording fake of storage:
messages that arrive while a write is in flight go together in the next one, their
senders are answered once it is stored, in arrival order, and deletes join the writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devhost.message_log import MessageLog

Write = tuple[str, list[str], list[str]]


async def no_retries(operation: Any, *args: Any) -> Any:
    return await operation(*args)


class Storage:
    """Records each write; each waits until the test lets it finish."""

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.release: list[asyncio.Future[None]] = []
        self.fail: Exception | None = None

    async def write(
        self, instance_id: str, added: list[tuple[str, dict[str, Any]]], deleted: list[str]
    ) -> None:
        self.writes.append((instance_id, [m["input"] for _, m in added], list(deleted)))
        done = asyncio.get_running_loop().create_future()
        self.release.append(done)
        await done
        if self.fail is not None:
            raise self.fail

    async def finish_write(self, index: int) -> None:
        self.release[index].set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)


def event(value: str) -> dict[str, Any]:
    return {"kind": "event", "name": "tick", "input": value}


def test_messages_arriving_during_a_write_go_together_in_the_next_in_order() -> None:
    async def main() -> None:
        storage = Storage()
        log = MessageLog(storage.write, no_retries)
        accepted: list[str] = []

        async def send(instance_id: str, value: str) -> str:
            await log.add(instance_id, event(value), lambda message_id: accepted.append(value))
            return value

        first = asyncio.create_task(send("i", "a"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert storage.writes == [("i", ["a"], [])]
        later = [asyncio.create_task(send("i", v)) for v in ("b", "c", "d")]
        deleted = asyncio.create_task(log.delete("i", ["old"]))
        other = asyncio.create_task(send("j", "x"))  # another instance: not held up by i's
        for _ in range(3):
            await asyncio.sleep(0)
        assert storage.writes == [("i", ["a"], []), ("j", ["x"], [])]
        assert not any(task.done() for task in (first, *later, deleted))

        await storage.finish_write(0)
        assert first.done() and accepted == ["a"]
        assert storage.writes[2] == ("i", ["b", "c", "d"], ["old"])
        assert not any(task.done() for task in (*later, deleted))
        await storage.finish_write(2)
        assert [task.result() for task in later] == ["b", "c", "d"]
        assert accepted == ["a", "b", "c", "d"]
        assert deleted.done()
        await storage.finish_write(1)
        assert await other == "x"
        assert len(storage.writes) == 3

    asyncio.run(main())


def test_a_write_that_fails_fails_each_of_its_senders_and_the_next_goes_on() -> None:
    async def main() -> None:
        storage = Storage()
        log = MessageLog(storage.write, no_retries)
        accepted: list[str] = []
        storage.fail = OSError("storage is down")
        failed = asyncio.create_task(log.add("i", event("a"), accepted.append))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        queued = asyncio.create_task(log.add("i", event("b"), accepted.append))
        await asyncio.sleep(0)
        await storage.finish_write(0)
        with pytest.raises(OSError):
            await failed
        storage.fail = None
        await storage.finish_write(1)
        assert await queued and len(accepted) == 1
        assert [added for _, added, _ in storage.writes] == [["a"], ["b"]]

    asyncio.run(main())
