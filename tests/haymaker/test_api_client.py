"""The CLI's API client against a real HTTP server that is busy for a while."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from haymaker.api_client import ApiClient, ApiError


class BusyServer(ThreadingHTTPServer):
    """Answers the first `busy` requests 503 with Retry-After, then 200."""

    def __init__(self, busy: int, retry_after: str = "0.1") -> None:
        super().__init__(("127.0.0.1", 0), BusyHandler)
        self.busy = busy
        self.retry_after = retry_after
        self.requests: list[str] = []


class BusyHandler(BaseHTTPRequestHandler):
    server: BusyServer

    def _answer(self) -> None:
        self.server.requests.append(self.command)
        body: dict[str, object]
        if len(self.server.requests) <= self.server.busy:
            body = {"error": {"code": "storage_unavailable", "message": "storage is slow"}}
            self.send_response(503)
            self.send_header("Retry-After", self.server.retry_after)
        else:
            body = {"status": "running"}
            self.send_response(200)
        raw = json.dumps(body).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[type[BusyServer]]:
    servers: list[BusyServer] = []

    def start(busy: int, retry_after: str = "0.1") -> BusyServer:
        server = BusyServer(busy, retry_after)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(server: BusyServer) -> ApiClient:
    host, port = server.server_address[:2]
    return ApiClient(f"http://{host!s}:{port}")


def test_a_read_waits_out_a_busy_server_as_it_asks(serve) -> None:
    server = serve(busy=2)
    assert _client(server).get("runs/r1") == {"status": "running"}
    assert server.requests == ["GET", "GET", "GET"]


def test_a_write_is_not_repeated_when_the_server_is_busy(serve) -> None:
    server = serve(busy=1)
    with pytest.raises(ApiError) as raised:
        _client(server).post("runs", {"count": 1})
    assert raised.value.status == 503 and "storage is slow" in str(raised.value)
    assert server.requests == ["POST"]


def test_a_server_busy_for_too_long_is_an_error_naming_it(serve) -> None:
    server = serve(busy=100, retry_after="0.2")
    client = _client(server)
    client.busy_patience = 0.5  # spent after a few answers of "try again in 0.2 s"
    with pytest.raises(ApiError) as raised:
        client.get("runs/r1")
    assert raised.value.status == 503 and raised.value.retry_after == 0.2
    assert 2 <= len(server.requests) <= 4
