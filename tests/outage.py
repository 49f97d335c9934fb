"""Outages on demand: a TCP relay in front of a service that can be cut and restored.

`Relay(upstream_port)` listens on a free port and relays every connection to the service.
`cut()` closes the listener and drops every open connection, so clients see exactly what
a service that went away shows them (connection refused, connection reset); `restore()`
listens again on the same port. `StorageRelay` does this for the three Azurite services
(together or one at a time) and gives the connection string that goes through it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse

from devhost.azurite import PORTS, dev_connection_string

HOST = "127.0.0.1"


class Relay:
    """Relays connections from a port of its own to `upstream_port`, until it is cut."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.port = self._listen(0)

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection((HOST, self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._connections.discard(sock)

    def cut(self) -> None:
        """Stop listening and drop every open connection: the service is gone."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        """Listen again on the same port."""
        if self._listener is None:
            self._listen(self.port)


class StorageRelay:
    """Relays for an Azurite's blob, queue and table services (given by its connection
    string; the shared one by default)."""

    def __init__(self, connection_string: str | None = None) -> None:
        ports = _ports(connection_string) if connection_string else PORTS
        self.relays = {service: Relay(ports[service]) for service in PORTS}

    @property
    def connection_string(self) -> str:
        return dev_connection_string(ports={s: r.port for s, r in self.relays.items()})

    def outage(self, seconds: float, services: tuple[str, ...] = tuple(PORTS)) -> None:
        """`services` are away for `seconds` (the fault's length, not a wait), then back."""
        for service in services:
            self.relays[service].cut()
        try:
            time.sleep(seconds)
        finally:
            for service in services:
                self.relays[service].restore()


def _ports(connection_string: str) -> dict[str, int]:
    """The port of each service in an Azurite connection string."""
    ports = {}
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        service = name.removesuffix("Endpoint").lower()
        if service in PORTS and value:
            ports[service] = int(urllib.parse.urlsplit(value).port or 0)
    return ports
