"""Run devhost as a child process for an app folder: for tests, scripts and tools.

    with running_host(app_dir, clock="virtual") as host:
        requests.post(f"{host.api}/orchestrators/hello", params=host.function_params)

The host runs as a child process (so a test can kill -9 it and start it again on the
same storage), on a free port, with its output in `host.log_path`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Ports this process handed out lately. A port whose probing socket closed is free again at
# once, and the system may give it out again before whoever got it first binds it: an
# Azurite given one port for two of its services failed to start.
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=256)


def free_ports(count: int) -> list[int]:
    """`count` ports free now, all different, none handed out lately by this process (each
    probing socket stays bound until all are picked, so they differ)."""
    with contextlib.ExitStack() as sockets:
        ports: list[int] = []
        while len(ports) < count:
            sock = sockets.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in _HANDED_OUT:
                ports.append(port)
        _HANDED_OUT.extend(ports)
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def free_service_ports(services: Iterable[str]) -> dict[str, int]:
    """A different free port for each service (Azurite's blob, queue and table)."""
    names = list(services)
    return dict(zip(names, free_ports(len(names)), strict=True))


def port_is_free(port: int) -> bool:
    """Whether a host could listen on 127.0.0.1:`port` now (bound as the host binds it, so
    connections of an earlier host that linger do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class HostStartError(RuntimeError):
    pass


class _PortTaken(Exception):
    """The host exited, and its port is held by another process."""


# How many picked ports a host (or an Azurite) is started on before its start fails.
PORT_ATTEMPTS = 3
# How much of its log a failed start shows.
LOG_TAIL_LINES = 40


@dataclass
class HostHandle:
    app_dir: Path
    port: int
    hub: str | None
    clock: str
    env: dict[str, str]
    extra_args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    keys: dict[str, Any] = field(default_factory=dict)
    # The states `start` waits for: "Running", or also "Standby" (another host holds the
    # task hub's lease, and this one waits to take over).
    ready: tuple[str, ...] = ("Running",)
    # Whether `port` was picked here (any free port does) rather than asked for.
    port_picked: bool = False
    # The host's settings when they name its port (`env` is made from it at each start).
    env_for_port: Callable[[int], Mapping[str, str]] | None = None
    # Where the latest start's lines begin in the log (another host may share the file).
    log_start: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base_url}/api"

    @property
    def master_key(self) -> str:
        return str(self.keys["masterKey"])

    @property
    def function_key(self) -> str:
        return str(self.keys["functionKeys"]["default"])

    @property
    def system_key(self) -> str:
        return str(self.keys["systemKeys"]["durabletask_extension"])

    @property
    def management(self) -> str:
        return f"{self.base_url}/runtime/webhooks/durabletask"

    def start(self, timeout: float = 60.0) -> None:
        """Start the host and wait until it is ready.

        A picked port can be taken before the host binds it: another process (a parallel
        test worker) may have been handed the same free port. Then the host exits, and it is
        started again on another free port; a port the caller asked for is never changed.
        """
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_once(timeout)
                return
            except _PortTaken as taken:
                if not self.port_picked or attempt == PORT_ATTEMPTS:
                    raise HostStartError(str(taken)) from None
                self.port = free_port()

    def _start_once(self, timeout: float) -> None:
        command = [
            sys.executable,
            "-m",
            "devhost",
            "start",
            str(self.app_dir),
            "--port",
            str(self.port),
            "--clock",
            self.clock,
            *self.extra_args,
        ]
        if self.hub:
            command += ["--hub", self.hub]
        if self.env_for_port is not None:
            self.env = dict(self.env_for_port(self.port))
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed when the process ends
        # Where this start's lines begin: another host may share the log (two on one app).
        self.log_start = log.tell()
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_ready(timeout)
            self.keys = json.loads((self.app_dir / ".devhost" / "keys.json").read_text())
        except BaseException:
            self.kill()  # a host that is not handed back must not outlive its start
            raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                message = f"devhost exited with code {self.process.returncode}:\n{self.log_tail()}"
                if not port_is_free(self.port):
                    raise _PortTaken(message)
                raise HostStartError(message)
            status = self._own_status()
            if status.get("state") in self.ready:
                return
            if status.get("state") == "Standby":
                # Another host runs this task hub: this one would wait until it stops.
                holder = status.get("standbyFor") or "another devhost"
                raise HostStartError(
                    f"this task hub ({self.hub or 'the app default'}) is run by {holder}: "
                    "stop that host (`haymaker down`, if `haymaker up` started it) or use "
                    "another task hub"
                )
            time.sleep(0.1)
        tail = self.log_tail()
        raise HostStartError(f"devhost did not become ready in {timeout:.0f}s:\n{tail}")

    def _own_status(self) -> dict[str, Any]:
        """/admin/host/status of this host (not of another process that holds the port);
        empty while it does not answer."""
        assert self.process is not None
        try:
            with urllib.request.urlopen(f"{self.base_url}/admin/host/status", timeout=1) as r:
                status = json.load(r)
        except (OSError, ValueError):
            return {}
        if not isinstance(status, dict) or status.get("processId") != self.process.pid:
            return {}
        return status

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait: the clean shutdown path."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, with no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines this start wrote to the log (not a shared log's whole
        history: a failed start once printed 6 MB of it)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_start)
            written = log.read().decode(errors="replace").splitlines()
        cut = f"... ({len(written) - lines} earlier lines in {self.log_path})\n"
        return (cut if len(written) > lines else "") + "\n".join(written[-lines:])


@contextmanager
def running_host(
    app_dir: Path,
    *,
    clock: str = "real",
    hub: str | None = None,
    env: Mapping[str, str] | Callable[[int], Mapping[str, str]] | None = None,
    extra_args: list[str] | None = None,
    log_path: Path | None = None,
    port: int | None = None,
    ready: tuple[str, ...] = ("Running",),
) -> Iterator[HostHandle]:
    """A devhost for `app_dir` on a free port (or `port`); stopped (SIGTERM) when the block
    ends. `env` may be a function of the port, for settings that name it.

    It is ready once its state is one of `ready` (add "Standby" for a second host on a
    task hub another host runs)."""
    handle = HostHandle(
        app_dir=Path(app_dir),
        port=port or free_port(),
        port_picked=port is None,
        env_for_port=env if callable(env) else None,
        hub=hub,
        clock=clock,
        env={} if callable(env) else dict(env or {}),
        extra_args=list(extra_args or []),
        log_path=log_path or Path(app_dir) / ".devhost" / "host.log",
        ready=ready,
    )
    handle.log_path.parent.mkdir(parents=True, exist_ok=True)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
