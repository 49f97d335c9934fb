"""A lean HTTP client for the benchmarks' many small requests (starts, raised events).

With `requests`, the client was the bottleneck it was meant to measure around: each
request cost its process about 2 ms of CPU (2.05-2.15 ms, 8 threads, against a server
that answers at once), and its threads share one GIL, so one client process sent at most
about 480 requests a second on this 2-core machine, whatever the engine behind it. The
starts target (1,000/s accepted) was out of reach of the instrument itself. Here each
thread keeps one HTTP/1.1 connection to the server and writes and reads the bytes with
http.client: a tenth of the CPU a request. Every engine's workloads that send many
requests use it, so the engines still meet the same client.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit


class HttpError(Exception):
    """A status of 400 or more (the body says why)."""

    def __init__(self, method: str, url: str, status: int, body: bytes):
        super().__init__(f"{method} {url}: {status} {body[:300]!r}")
        self.status = status


class KeptAlive:
    """Requests to one server, each thread over its own kept-alive connection."""

    def __init__(self, base_url: str, params: dict[str, str] | None = None, timeout: float = 30):
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// URL: {base_url!r}")
        self._host, self._port = parts.hostname, parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._query = "?" + urlencode(params) if params else ""
        self._timeout = timeout
        self._local = threading.local()

    def post(self, path: str, payload: Any = None) -> tuple[int, Any]:
        body = json.dumps(payload).encode()
        return self._request("POST", path, body, {"Content-Type": "application/json"})

    def get(self, path: str) -> tuple[int, Any]:
        return self._request("GET", path, None, {})

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """(status, JSON body or None); HttpError for a status of 400 or more."""
        target = f"{self._prefix}/{path.lstrip('/')}{self._query}"
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request(method, target, body, headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the kept connection (its keep-alive timeout): once more
                # on a new one. Every request here may be repeated (an id'd start, a read).
                self._local.connection = None
                connection.close()
                if attempt:
                    raise
                continue
            if response.status >= 400:
                raise HttpError(method, target, response.status, data)
            return response.status, json.loads(data) if data else None
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection
