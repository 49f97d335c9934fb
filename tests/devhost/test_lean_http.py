"""The storage requests' HTTP client (lean_http.py) against small servers that misbehave as
real ones can: a kept-alive connection closed while idle is replaced, chunked and unsized
answers are read whole, and a server that stops answering is a storage error, not a hang."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from devhost.lean_http import ConnectFailed, LeanHttp
from devhost.table_rest import TableRest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def listen(handle: Handler) -> tuple[asyncio.Server, str]:
    """A server on a free local port running `handle` per connection, and its origin."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def answer_once(answer: bytes, connections: list[object] | None = None) -> Handler:
    """A handler that answers one request with `answer`, then closes without saying so
    (as a server whose keep-alive ran out); `connections` counts the connections."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connections is not None:
            connections.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    return handle


async def serve(answer: Callable[[bytes], bytes]) -> tuple[asyncio.Server, str, list[int]]:
    """A kept-alive server that answers each request with `answer(request)`; the list
    counts its connections."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                writer.write(answer(head + body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server, origin = await listen(handle)
    return server, origin, connections


def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_answered() -> None:
    async def main() -> None:
        connections: list[object] = []
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        server, origin = await listen(answer_once(ok, connections))
        http = LeanHttp(origin)
        for _ in range(3):
            assert await http.request("GET", "/", {}) == (200, b"ok")
            await asyncio.sleep(0.05)  # the server's close arrives
        assert len(connections) == 3
        await http.close()
        server.close()

    asyncio.run(main())


def test_chunked_and_unsized_answers_are_read_whole() -> None:
    async def main() -> None:
        def answer(request: bytes) -> bytes:
            if b" /chunked " in request:
                return (
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n"
                )
            return b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"

        server, origin, connections = await serve(answer)
        http = LeanHttp(origin)
        assert await http.request("GET", "/chunked", {}) == (200, b"hello, world")
        assert await http.request("GET", "/chunked", {}) == (200, b"hello, world")
        assert connections == [0]  # kept alive
        await http.close()
        server.close()

        server, origin = await listen(answer_once(b"HTTP/1.0 200 OK\r\n\r\nto the end"))
        http = LeanHttp(origin)
        for _ in range(2):  # read to the end; the next request gets a new connection
            assert await http.request("GET", "/", {}) == (200, b"to the end")
        await http.close()
        server.close()

    asyncio.run(main())


def test_storage_that_stops_answering_or_closes_mid_answer_is_a_storage_error() -> None:
    async def main() -> None:
        async def silent_or_cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.readuntil(b"\r\n\r\n")
            if b" /devstoreaccount1/silent " in request:
                await asyncio.sleep(5)
            # A body shorter than it says, then the connection closes.
            writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 100\r\n\r\ncut")
            await writer.drain()
            writer.close()

        server, origin = await listen(silent_or_cut)
        rest = TableRest(f"{origin}/devstoreaccount1", "devstoreaccount1", b"key", read_timeout=0.3)
        with pytest.raises(ServiceResponseError, match="TimeoutError"):
            await rest._send("GET", "/devstoreaccount1/silent", None, None, read=True)
        with pytest.raises(ServiceResponseError, match="cut-off"):
            await rest._send("GET", "/devstoreaccount1/cut", None, None, read=True)
        await rest.close()
        server.close()
        # Nothing listening: the request was never sent.
        with pytest.raises(ConnectFailed):
            await LeanHttp(origin).request("GET", "/", {})
        with pytest.raises(ServiceRequestError):
            await TableRest(f"{origin}/devstoreaccount1", "devstoreaccount1", b"key").get(
                "t", "p", "r"
            )

    asyncio.run(main())
