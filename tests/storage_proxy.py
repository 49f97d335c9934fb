"""A storage account that hangs or refuses writes: a TCP proxy in front of Azurite.

Each storage service (blob, queue, table) gets a port of its own that forwards to
Azurite's. A test switches a service to

- "pass": requests go through;
- "hang": requests are held, unanswered, until the mode changes (a stalled disk, a network
  partition); a request whose client gave up meanwhile is dropped, never sent late;
- "refuse_writes": reads go through; writes (PUT, POST, MERGE, PATCH, DELETE) are answered
  500 InternalError, as Azurite answers when its disk is full.

The proxy reads each request's head and body (Content-Length) to tell reads from writes
and to hold whole requests; responses are copied back as they come. It counts the requests
by method and path (`sent`), so a test can tell what a run cost storage. The SDKs send one
request at a time per connection, which is all this needs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

from devhost.azurite import PORTS, dev_connection_string

MODES = ("pass", "hang", "refuse_writes")
WRITES = {b"PUT", b"POST", b"MERGE", b"PATCH", b"DELETE"}


def _refusal() -> bytes:
    body = json.dumps(
        {
            "odata.error": {
                "code": "InternalError",
                "message": {"lang": "en-US", "value": "The disk is full (storage proxy)."},
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 500 Internal Server Error\r\n"
        "Content-Type: application/json;odata=minimalmetadata\r\n"
        "x-ms-error-code: InternalError\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class StorageProxy:
    """Started by `running_proxy()`; `connection_string` reaches Azurite through it."""

    def __init__(self, upstream: dict[str, int] | None = None) -> None:
        self.upstream = dict(upstream or PORTS)
        self.ports: dict[str, int] = {}
        self.requests = dict.fromkeys(self.upstream, 0)
        # (method, path without the query): how many such requests came.
        self.sent: collections.Counter[tuple[str, str]] = collections.Counter()
        self._modes = dict.fromkeys(self.upstream, "pass")
        self._loop = asyncio.new_event_loop()
        self._released: dict[str, asyncio.Event] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._connections: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def connection_string(self) -> str:
        return dev_connection_string(ports=self.ports)

    def set(self, service: str, mode: str) -> None:
        """Switch `service` (blob, queue, table) to `mode` (see the module docstring)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._call(self._set, service, mode)

    def _set(self, service: str, mode: str) -> None:
        self._modes[service] = mode
        if mode == "hang":
            self._released[service].clear()
        else:
            self._released[service].set()

    def start(self) -> None:
        self._thread.start()
        self._call(self._start)

    async def _start(self) -> None:
        for service, port in self.upstream.items():
            self._released[service] = asyncio.Event()
            self._released[service].set()
            server = await asyncio.start_server(
                functools.partial(self._serve, service, port), "127.0.0.1", 0
            )
            self._servers.append(server)
            sock: socket.socket = server.sockets[0]
            self.ports[service] = sock.getsockname()[1]

    def close(self) -> None:
        self._call(self._close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    def _call(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            result = fn(*args)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    # -- one client connection ---------------------------------------------------------

    async def _serve(
        self, service: str, port: int, client: asyncio.StreamReader, to_client: asyncio.StreamWriter
    ) -> None:
        upstream: asyncio.StreamWriter | None = None
        copy_back: asyncio.Task[None] | None = None
        this = asyncio.current_task()
        assert this is not None
        self._connections.add(this)
        try:
            while True:
                try:
                    head = await client.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                method, path, length = _parse_head(head)
                body = await client.readexactly(length)
                self.requests[service] += 1
                self.sent[method.decode(), path] += 1
                if not await self._wait_released(service, client):
                    return  # the client gave up while the request was held
                if self._modes[service] == "refuse_writes" and method in WRITES:
                    to_client.write(_refusal())
                    await to_client.drain()
                    return
                if upstream is None:
                    reader, upstream = await asyncio.open_connection("127.0.0.1", port)
                    copy_back = asyncio.ensure_future(_copy(reader, to_client))
                upstream.write(head + body)
                await upstream.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # a connection ends quietly, also when the proxy closes
        finally:
            self._connections.discard(this)
            if copy_back is not None:
                copy_back.cancel()
            for writer in (upstream, to_client):
                if writer is not None:
                    writer.close()

    async def _wait_released(self, service: str, client: asyncio.StreamReader) -> bool:
        """Hold the request while `service` hangs; False if the client hung up meanwhile."""
        released = self._released[service]
        if released.is_set():
            return True
        waiting = asyncio.ensure_future(released.wait())
        hung_up = asyncio.ensure_future(client.read(1))  # b"" once the client closes
        await asyncio.wait({waiting, hung_up}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiting, hung_up):
            task.cancel()
        return released.is_set() and not hung_up.done()


def _parse_head(head: bytes) -> tuple[bytes, str, int]:
    """The method, path and body length of a request head; chunked bodies are not expected."""
    lines = head.split(b"\r\n")
    method, target = lines[0].split(b" ")[:2]
    path = target.decode().partition("?")[0]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise ValueError("the storage proxy does not handle chunked request bodies")
    return method, path, length


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()


@contextlib.contextmanager
def running_proxy(upstream: dict[str, int] | None = None) -> Iterator[StorageProxy]:
    proxy = StorageProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
