"""HTTP to the host (its clock and its clock participants) over kept-alive connections.

An agent on the host's clock asks it something about twice per operate round, and
`urllib.request` opens a new connection for every request: a TCP handshake and a new
server-side connection each time, on both processes' CPU. So each thread keeps one
connection per host and reuses it. A kept connection the host has closed meanwhile (its
keep-alive timeout, a restart) fails on first use: the request is then sent once more on a
new connection. Every request here may be repeated (a clock read, a join, a wait, a leave).

Errors are urllib's, as before: `urllib.error.HTTPError` for a status of 400 or more,
`OSError` when the host cannot be reached.
"""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.parse
from email.message import Message

_local = threading.local()
# A kept connection that fails like this was closed by the host: try once on a new one.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def request(
    method: str, url: str, body: bytes | None = None, timeout: float = 30.0
) -> tuple[int, bytes]:
    """(status, body) of one request; HTTPError for a status of 400 or more."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http:// URL: {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    key = (parts.hostname, parts.port or 80)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    for attempt in range(2):
        connection = _connection(key, timeout)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except _STALE:
            _drop(key)
            if attempt == 0:
                continue
            raise
        except http.client.HTTPException as error:  # a garbled answer: as unreachable
            _drop(key)
            raise OSError(f"{method} {url}: {type(error).__name__}: {error}") from None
        except BaseException:
            _drop(key)
            raise
        if response.will_close:
            _drop(key)
        if response.status >= 400:
            headers_read = Message()
            for name, value in response.getheaders():
                headers_read[name] = value
            raise urllib.error.HTTPError(url, response.status, response.reason, headers_read, None)
        return response.status, data
    raise AssertionError("unreachable")


def _connection(key: tuple[str, int], timeout: float) -> http.client.HTTPConnection:
    connections: dict[tuple[str, int], http.client.HTTPConnection] = _local.__dict__.setdefault(
        "connections", {}
    )
    connection = connections.get(key)
    if connection is None:
        connection = connections[key] = http.client.HTTPConnection(*key, timeout=timeout)
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    return connection


def _drop(key: tuple[str, int]) -> None:
    connection = _local.__dict__.get("connections", {}).pop(key, None)
    if connection is not None:
        connection.close()
