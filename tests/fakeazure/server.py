"""The HTTPS server: one port for every service, a thread per connection, and the dispatch
pipeline every request goes through.

Pipeline: route (op name) -> log -> authenticate -> protocol checks -> throttle -> hang ->
another-operation fault -> handler. A thread per connection matters: a hang fault blocks its
request's thread while other requests carry on. Connections are HTTP/1.1 keep-alive, like the
SDKs' pooled connections.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import ssl
import threading
import traceback
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import ANOTHER_OPERATION, Faults
from .records import RequestRecord
from .wire import ApiError, Request, Response, Route, Service

_LOG = logging.getLogger(__name__)
_HANDSHAKE_TIMEOUT = 10.0
_IDLE_TIMEOUT = 120.0
_NO_BODY_STATUSES = (204, 304)


class Dispatcher:
    """Turns requests into responses through the services, faults and request log."""

    def __init__(
        self, services: Sequence[Service], faults: Faults, clock: Callable[[], float]
    ) -> None:
        self.services = list(services)
        self.faults = faults
        self.clock = clock
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._internal_errors: list[str] = []

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    @property
    def internal_errors(self) -> list[str]:
        with self._lock:
            return list(self._internal_errors)

    def dispatch(self, request: Request, client_gone: Callable[[], bool]) -> Response | None:
        """The response to send, or None to drop the request without answering."""
        service, route = self._route(request)
        record = RequestRecord(
            self.clock(), request.method, request.path, dict(request.query), route.op
        )
        with self._lock:
            self._records.append(record)
        response = self._serve(service, route, request, record, client_gone)
        if response is None:
            record.dropped = True
        else:
            record.status = response.status
        return response

    def _route(self, request: Request) -> tuple[Service, Route]:
        for service in self.services:
            route = service.route(request)
            if route is not None:
                return service, route

        def no_route(_request: Request) -> Response:
            raise ApiError(
                404,
                "FakeAzureNoRoute",
                f"The fake Azure has no route for {request.method} {request.path}",
            )

        return Service(), Route("unknown", no_route)

    def _serve(
        self,
        service: Service,
        route: Route,
        request: Request,
        record: RequestRecord,
        client_gone: Callable[[], bool],
    ) -> Response | None:
        try:
            if route.op != "unknown":
                rejection = service.authenticate(request) or service.precheck(request)
                if rejection is not None:
                    return rejection
                retry_after = self.faults.throttled(route.op, request.path, record)
                if retry_after is not None:
                    raise ApiError(
                        429,
                        service.throttle_code,
                        "Too many requests; retry after the time in the Retry-After header.",
                        headers={"Retry-After": str(math.ceil(retry_after))},
                    )
                if self.faults.hold_if_hung(route.op, request.path) and (
                    self.faults.stopping or client_gone()
                ):
                    return None
                if self.faults.take(ANOTHER_OPERATION, route.op, request.path):
                    raise ApiError(
                        409,
                        "RetryableErrorDueToAnotherOperation",
                        "Another operation is in progress on the resource; retry later.",
                    )
            return route.handler(request)
        except ApiError as error:
            return service.error(error)
        except Exception as exc:  # noqa: BLE001 - the fake must answer, and tell the test why
            with self._lock:
                self._internal_errors.append(traceback.format_exc())
            _LOG.exception("fake Azure failed on %s %s", request.method, request.path)
            return service.error(ApiError(500, "FakeAzureInternalError", repr(exc)))


class TlsServer(ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 that does the TLS handshake in each connection's
    thread (a slow client must not stall accept())."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, context: ssl.SSLContext, dispatcher: Dispatcher) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context
        self.dispatcher = dispatcher
        self.base_url = f"https://127.0.0.1:{self.server_address[1]}"
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            request.close()
            return
        with self._connections_lock:
            self._connections.add(connection)
        try:
            _Handler(connection, client_address, self)
        except OSError:
            pass  # the client went away mid-request
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            connection.close()

    def close_connections(self) -> None:
        """Cut every open connection (keep-alive ones included) so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _LOG.debug("connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server: TlsServer

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_GET

    def _serve(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query={k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            base_url=self.server.base_url,
        )
        response = self.server.dispatcher.dispatch(request, self._client_gone)
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status not in _NO_BODY_STATUSES:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.status not in _NO_BODY_STATUSES:
            self.wfile.write(response.body)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _client_gone(self) -> bool:
        """Whether the client closed its connection (e.g. its process was killed)."""
        try:
            raw = socket.fromfd(self.connection.fileno(), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            return True
        try:
            return raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            raw.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; `FakeAzure.requests` is the log."""
