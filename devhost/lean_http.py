"""A lean HTTP/1.1 client for devhost's storage requests: kept-alive connections to one
origin over asyncio streams.

The history writer makes thousands of small requests to one storage endpoint and needs
none of a general client's features (cookies, redirects, proxies, compression). Through
aiohttp a table request cost the writer about 0.43 ms of CPU, and importing aiohttp 0.14 s
in every writer process (it builds two TLS contexts as it is imported); this client sends
the request and reads its answer (by Content-Length, chunked, or to the end) over a pooled
connection for about 0.2 ms (1,000 upserts to Azurite, one after another). It does not go
through proxies: the store uses the SDK when one is configured (store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

# Connections open at once (as aiohttp's default): more requests at once wait for one.
# Each is kept alive for the next request: opening and closing connections under a burst
# of writes costs the server more than the writes.
CONNECTIONS = 100


class ConnectFailed(OSError):
    """No connection to the server: the request was not sent."""


class BadAnswer(OSError):
    """The server's answer is not HTTP/1.1 as this client reads it, or was cut off."""


class _Stale(Exception):
    """A kept-alive connection that the server had closed: nothing was answered on it."""


class LeanHttp:
    def __init__(self, origin: str, connect_timeout: float = 10.0, read_timeout: float = 30.0):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = parts.scheme == "https"
        self._host_header = parts.netloc
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(CONNECTIONS)
        self._tls_context: ssl.SSLContext | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """(status, body) of the answer. Raises ConnectFailed when no connection could be
        made, TimeoutError when the answer takes longer than the read timeout, and OSError
        (BadAnswer among them) when the connection fails on the way."""
        status, _, answer = await self._request(method, target, headers, body, False)
        return status, answer

    async def exchange(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """As `request`, with the answer's headers (names in lower case)."""
        return await self._request(method, target, headers, body, True)

    async def _request(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep_fields: bool
    ) -> tuple[int, dict[str, str], bytes]:
        head = "".join(
            [
                f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\n",
                f"Content-Length: {len(body)}\r\n",
                *(f"{name}: {value}\r\n" for name, value in headers.items()),
                "\r\n",
            ]
        ).encode("latin-1")
        async with self._slots:
            return await self._send(head + body, method, target, keep_fields)

    async def _send(
        self, request: bytes, method: str, target: str, keep_fields: bool
    ) -> tuple[int, dict[str, str], bytes]:
        # A kept connection that the server closed while idle fails before any answer (the
        # request was never taken): it goes again on the next kept one, or a new one.
        while True:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect()
            try:
                async with asyncio.timeout(self._read_timeout):
                    status, fields, answer, keep = await _exchange(
                        connection, request, method, keep_fields
                    )
            except _Stale:
                connection[1].close()
                if reused:
                    continue
                raise BadAnswer(f"{method} {target}: the server closed the connection") from None
            except (asyncio.IncompleteReadError, ValueError) as error:
                connection[1].close()
                raise BadAnswer(f"{method} {target}: a broken or cut-off answer") from error
            except BaseException:
                # Timed out, cancelled or failed half-way: the connection's state is unknown.
                connection[1].close()
                raise
            if keep:
                self._idle.append(connection)
            else:
                connection[1].close()
            return status, fields, answer

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        tls: ssl.SSLContext | None = None
        if self._tls:
            if self._tls_context is None:
                self._tls_context = ssl.create_default_context()
            tls = self._tls_context
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await asyncio.open_connection(
                    self._host, self._port, ssl=tls, server_hostname=self._host if tls else None
                )
        except (OSError, TimeoutError) as error:
            raise ConnectFailed(f"cannot connect to {self._host_header}: {error!r}") from error


async def _exchange(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    request: bytes,
    method: str,
    keep_fields: bool,
) -> tuple[int, dict[str, str], bytes, bool]:
    """Send the request; (status, headers, body, whether the connection may be reused).
    The headers are kept only when asked (`keep_fields`): table writes, most of all
    requests, need none of them, and decoding each costs them a few microseconds."""
    reader, writer = connection
    try:
        writer.write(request)
        status_line = await reader.readline()
    except (ConnectionResetError, BrokenPipeError) as error:
        raise _Stale from error
    if not status_line:
        raise _Stale
    fields = status_line.split(None, 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/1.") or not fields[1].isdigit():
        raise BadAnswer(f"not an HTTP/1.1 status line: {status_line[:100]!r}")
    status = int(fields[1])
    keep = fields[0] == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n"):
        if not line:
            raise asyncio.IncompleteReadError(line, None)
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if keep_fields:
            headers[name.decode("latin-1")] = value.strip().decode("latin-1")
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            keep = value.strip().lower() != b"close"
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", keep
    if chunked:
        parts = []
        while size := int((await reader.readline()).split(b";", 1)[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return status, headers, b"".join(parts), keep
    if length is not None:
        return status, headers, await reader.readexactly(length), keep
    return status, headers, await reader.read(), False  # to the end: the server closes
