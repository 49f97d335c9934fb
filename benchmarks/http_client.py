"""A lean HTTP client for the benchmarks' many small requests (starts, raised events).

With `requests`, the client was the bottleneck it was meant to measure around: each
request cost its process about 2 ms of CPU (2.05-2.15 ms, 8 threads, against a server
that answers at once), and its threads share one GIL, so one client process sent at most
about 480 requests a second on this 2-core machine, whatever the engine behind it. The
starts target (1,000/s accepted) was out of reach of the instrument itself. So these
requests go through the agents' own client (agent/host_http.py: one kept-alive
http.client connection per thread and server), a tenth of the CPU a request. Every
engine's workloads that send many requests use it, so the engines still meet the same
client.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from agent import host_http


class KeptAlive:
    """JSON requests to one server under `base_url`, with `params` on every one.
    A status of 400 or more raises urllib's HTTPError."""

    def __init__(self, base_url: str, params: dict[str, str] | None = None, timeout: float = 30):
        self._base = base_url.rstrip("/")
        self._query = "?" + urlencode(params) if params else ""
        self._timeout = timeout

    def post(self, path: str, payload: Any = None) -> tuple[int, Any]:
        return self._request("POST", path, json.dumps(payload).encode())

    def get(self, path: str) -> tuple[int, Any]:
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, body: bytes | None) -> tuple[int, Any]:
        """(status, JSON body or None)."""
        url = f"{self._base}/{path.lstrip('/')}{self._query}"
        status, data = host_http.request(method, url, body, timeout=self._timeout)
        return status, json.loads(data) if data else None
