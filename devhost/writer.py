"""Storage writes in a child process, so they use the machine's second core.

Writing a history row through azure-data-tables costs about 1.4 ms of Python CPU; a busy
orchestration writes several per step, and the host's own process (one GIL) also replays
orchestrators and runs activities. The child takes the writes: the host sends each one as
a JSON line on the child's stdin and gets `{"id", "error", "result"}` back on its stdout
when the write is stored. Ordering per instance is the caller's (the engine sends an instance's
next write only after the previous one is stored).

If the host dies, so does the child (same process group); what was not yet stored is
discarded on the next start (see Store.load_history), exactly as with in-process writes.

`devhost start` forks the child at start-up (`fork_spare`), once its modules are loaded and
before it has a thread or an event loop: a spawned child spent about 0.23 s of CPU importing
the store's modules again, a forked one has them (4 ms). The spare waits for its hub and
connection string on its pipe, and exits when that pipe closes unused (a standby host, a
host that stopped or died first). A host that takes a hub a second time, or a host made in
another program (the tests'), spawns its child as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import traceback
from datetime import datetime
from typing import IO, Any

from .store import Store

CONNECTION_ENV = "DEVHOST_WRITER_STORAGE"
# One line may carry a large episode (a fan-out of thousands of activities).
LINE_LIMIT = 256 * 1024 * 1024


# Ctrl-C in a terminal signals the whole process group, this child too. The host stops the
# child by closing its stdin once the last writes are stored; dying on SIGINT first would
# lose them and print a traceback over the host's quiet shutdown. So SIGINT is ignored
# from before the interpreter starts (an ignored signal stays ignored across exec): even
# its own start-up, the site module's imports, takes long enough to be interrupted.
_CHILD = "import runpy; runpy.run_module('devhost.writer', run_name='__main__')"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Spare:
    """A writer child forked at start-up, still waiting for its first line (hub, connection)."""

    def __init__(self, pid: int, requests: int, replies: int):
        self.pid = pid
        self.requests = requests  # our end of its requests pipe (its stdin)
        self.replies = replies  # our end of its replies pipe (its stdout)


_spare: _Spare | None = None


def fork_spare() -> None:
    """Fork the writer child now, to be handed its hub when the host takes one.

    Call it only while the process has one thread and no event loop (a fork copies only the
    calling thread, and a lock another thread held would stay held in the child)."""
    global _spare
    if _spare is not None or not hasattr(os, "fork"):
        return  # (no fork on Windows: the child is spawned there)
    requests_in, requests_out = os.pipe()
    replies_in, replies_out = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            _ignore_sigint()
            os.close(requests_out)
            os.close(replies_in)
            code = _serve_spare(requests_in, replies_out)
        except BaseException:
            with contextlib.suppress(BaseException):
                traceback.print_exc()
        finally:
            # Not the host's exit handlers (its Azurite, its logs): they are the host's.
            os._exit(code)
    os.close(requests_in)
    os.close(replies_out)
    _spare = _Spare(pid, requests_out, replies_in)


def _take_spare() -> _Spare | None:
    global _spare
    spare, _spare = _spare, None
    return spare


def _serve_spare(requests: int, replies: int) -> int:
    """The forked child: wait for the hub, then serve it as a spawned child would."""
    # Byte by byte, so that nothing after the first line is read before the loop reads it.
    first = bytearray()
    while not first.endswith(b"\n"):
        byte = os.read(requests, 1)
        if not byte:
            return 0  # the host ended without a hub for us
        first += byte
    hub = json.loads(first)
    with open(requests, "rb", buffering=0) as stdin, open(replies, "wb", buffering=0) as stdout:
        asyncio.run(_serve(hub["hub"], hub["connection"], stdin, stdout))
    return 0


class _ForkedProcess:
    """A forked spare, seen as the host sees a spawned child (asyncio.subprocess.Process):
    `stdin`, `stdout`, `returncode`, `kill()`, `wait()`."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader):
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None

    @classmethod
    async def attach(cls, spare: _Spare, hub: str, connection_string: str) -> _ForkedProcess:
        # The first line is small: the pipe takes it at once.
        os.write(
            spare.requests,
            json.dumps({"hub": hub, "connection": connection_string}).encode() + b"\n",
        )
        loop = asyncio.get_running_loop()
        stdout = asyncio.StreamReader(limit=LINE_LIMIT)
        # The transports own the pipes' files from here, and close them.
        replies = open(spare.replies, "rb", buffering=0)  # noqa: SIM115
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), replies)
        requests = open(spare.requests, "wb", buffering=0)  # noqa: SIM115
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, requests
        )
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return cls(spare.pid, stdin, stdout)

    def _reap(self) -> bool:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode is not None

    def kill(self) -> None:
        if not self._reap():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        # Its replies end just before it exits: this waits a few milliseconds at most.
        while not self._reap():
            await asyncio.sleep(0.005)
        assert self.returncode is not None
        return self.returncode


class WriterError(Exception):
    pass


class HistoryWriter:
    """The host's side: the Store's writes (`append_history`, `write_messages`, ...)."""

    def __init__(self, connection_string: str, hub: str):
        self._connection_string = connection_string
        self._hub = hub
        self._process: asyncio.subprocess.Process | _ForkedProcess | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        spare = _take_spare()
        if spare is not None:
            self._process = await _ForkedProcess.attach(spare, self._hub, self._connection_string)
        else:
            self._process = await self._spawn()
        self._reader = asyncio.get_running_loop().create_task(self._read_replies())

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            self._hub,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # The connection string holds the account key: never on a command line.
            env={**os.environ, CONNECTION_ENV: self._connection_string},
            limit=LINE_LIMIT,
            preexec_fn=_ignore_sigint,
        )

    async def _read_replies(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            reply = json.loads(line)
            future = self._pending.pop(reply["id"], None)
            if future is not None and not future.done():
                if reply["error"]:
                    future.set_exception(WriterError(reply["error"]))
                else:
                    future.set_result(reply.get("result"))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WriterError("the history writer process exited"))
        self._pending.clear()

    async def _call(self, request: dict[str, Any]) -> Any:
        assert self._process is not None and self._process.stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._process.stdin.write(json.dumps({"id": request_id, **request}).encode() + b"\n")
        await self._process.stdin.drain()
        return await future

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, events: list[dict[str, Any]]
    ) -> None:
        await self._call(
            {
                "op": "append",
                "instance": instance_id,
                "execution": execution_id,
                "start": start,
                "events": events,
            }
        )

    async def write_messages(
        self, instance_id: str, added: list[tuple[str, dict[str, Any]]], deleted: list[str]
    ) -> None:
        await self._call(
            {"op": "messages", "instance": instance_id, "added": added, "deleted": deleted}
        )

    async def create_instance(self, instance_id: str, fields: dict[str, Any]) -> str | None:
        result = await self._call(
            {"op": "create_instance", "instance": instance_id, "fields": _dump(fields)}
        )
        return None if result is None else str(result)

    async def log_starts(self, entries: list[dict[str, Any]]) -> None:
        await self._call(
            {"op": "log_starts", "instance": "", "entries": [_dump(e) for e in entries]}
        )

    async def forget_starts(self, execution_ids: list[str]) -> None:
        await self._call({"op": "forget_starts", "instance": "", "ids": execution_ids})

    async def update_instance(self, instance_id: str, fields: dict[str, Any]) -> None:
        await self._call(
            {"op": "update_instance", "instance": instance_id, "fields": _dump(fields)}
        )

    def kill(self) -> None:
        """Stop the child at once: writes not yet stored are dropped (a host that lost its
        hub must not write after the host that took it over)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    async def close(self) -> None:
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._process.wait(), timeout=10)
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._reader is not None:
            await self._reader


def _dump(fields: dict[str, Any]) -> dict[str, Any]:
    """Instance rows hold datetimes (typed columns, so time ranges can be queried)."""
    return {
        k: {"datetime": v.isoformat()} if isinstance(v, datetime) else v for k, v in fields.items()
    }


def _load(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v["datetime"]) if isinstance(v, dict) else v
        for k, v in fields.items()
    }


async def _apply(store: Store, request: dict[str, Any]) -> Any:
    op, instance = request["op"], request["instance"]
    if op == "append":
        await store.append_history(
            instance, request["execution"], request["start"], request["events"]
        )
    elif op == "messages":
        added = [(message_id, message) for message_id, message in request["added"]]
        await store.write_messages(instance, added, request["deleted"])
    elif op == "create_instance":
        return await store.create_instance(instance, _load(request["fields"]))
    elif op == "log_starts":
        await store.log_starts([_load(e) for e in request["entries"]])
    elif op == "forget_starts":
        await store.forget_starts(request["ids"])
    elif op == "update_instance":
        await store.update_instance(instance, _load(request["fields"]))
    else:
        raise ValueError(f"unknown writer operation {op!r}")
    return None


async def _serve(hub: str, connection_string: str, stdin: IO[Any], stdout: IO[Any]) -> None:
    """The child: apply each request, reply when stored, until stdin closes."""
    store = Store(connection_string, hub)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    # Replies go out without blocking the loop (a blocking write to a full pipe held every
    # write in flight while the host was busy), those of one turn of the loop together.
    replies, _ = await loop.connect_write_pipe(asyncio.Protocol, stdout)
    gathered: list[bytes] = []
    tasks: set[asyncio.Task[None]] = set()

    def send_gathered() -> None:
        replies.write(b"".join(gathered))
        gathered.clear()

    async def handle(request: dict[str, Any]) -> None:
        error = result = None
        try:
            result = await _apply(store, request)
        except Exception as failure:  # reported to the host, which retries or logs it
            error = f"{type(failure).__name__}: {failure}"
        reply = {"id": request["id"], "error": error, "result": result}
        if not gathered:
            loop.call_soon(send_gathered)
        gathered.append(json.dumps(reply).encode() + b"\n")

    while line := await reader.readline():
        task = loop.create_task(handle(json.loads(line)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    await asyncio.sleep(0)  # the last replies' write
    replies.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], os.environ[CONNECTION_ENV], sys.stdin, sys.stdout.buffer))
