"""Find, start and stop Azurite, the Azure Storage emulator, for development storage."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .process import PORT_ATTEMPTS, free_service_ports

# The emulator's documented, public development account: not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
HOST = "127.0.0.1"
PORTS = {"blob": 10000, "queue": 10001, "table": 10002}


def dev_connection_string(host: str = HOST, ports: dict[str, int] | None = None) -> str:
    """The explicit connection string that `UseDevelopmentStorage=true` stands for
    (or, given other ports, the one for an Azurite listening there)."""
    ports = ports or PORTS
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{ports['blob']}/{DEV_ACCOUNT};"
        f"QueueEndpoint=http://{host}:{ports['queue']}/{DEV_ACCOUNT};"
        f"TableEndpoint=http://{host}:{ports['table']}/{DEV_ACCOUNT};"
    )


def resolve_connection_string(value: str | None, setting: str = "AzureWebJobsStorage") -> str:
    """Turn a storage setting's value into a connection string the SDK clients accept."""
    if not value or not value.strip():
        raise ValueError(
            f"{setting} is not set: put a connection string, or "
            "UseDevelopmentStorage=true, in local.settings.json Values or the environment"
        )
    if value.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        return dev_connection_string()
    return value


def connection_fields(value: str) -> dict[str, str]:
    """`Key=Value;...` as a dict with the keys lower-cased (connection strings ignore case)."""
    fields = {}
    for part in value.split(";"):
        key, sep, field_value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = field_value.strip()
    return fields


def emulator_ports(value: str | None) -> dict[str, int] | None:
    """The ports of the Azurite a storage setting names, or None if it names no emulator.

    `UseDevelopmentStorage=true` means 10000-10002. A `devstoreaccount1` connection string
    with loopback endpoints means the ports in those endpoints (a service it leaves out
    keeps its default port).
    """
    if not value:
        return None
    if value.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        return dict(PORTS)
    fields = connection_fields(value)
    if fields.get("accountname") != DEV_ACCOUNT:
        return None
    ports = dict(PORTS)
    named = False
    for service in PORTS:
        endpoint = urlsplit(fields.get(f"{service}endpoint", ""))
        if endpoint.hostname is None:
            continue
        if endpoint.hostname not in ("127.0.0.1", "localhost", "::1"):
            return None  # an Azurite on another machine: devhost can neither check nor start it
        named = True
        ports[service] = endpoint.port or 80
    return ports if named else None


def is_development_storage(value: str | None) -> bool:
    return bool(value) and (
        value.strip().rstrip(";").lower() == "usedevelopmentstorage=true"  # type: ignore[union-attr]
        or f"AccountName={DEV_ACCOUNT};" in (value or "")
    )


def _port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def is_running(ports: dict[str, int] | None = None) -> bool:
    """True when every Azurite service port answers."""
    return all(_port_open(port) for port in (ports or PORTS).values())


def find_executable(search_from: Path | None = None) -> str | None:
    """The azurite launcher: a project's node_modules/.bin (walking up), else PATH."""
    start = (search_from or Path.cwd()).resolve()
    for folder in [start, *start.parents]:
        candidate = folder / "node_modules" / ".bin" / "azurite"
        if candidate.exists():
            return str(candidate)
    here = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "azurite"
    if here.exists():
        return str(here)
    return shutil.which("azurite")


@dataclass
class AzuriteProcess:
    """An Azurite this process started; `stop()` ends it. `None` process: already running."""

    process: subprocess.Popen[bytes] | None
    location: Path | None
    # The ports it listens on.
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))

    def connection_string(self) -> str:
        return dev_connection_string(ports=self.ports)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def ensure_running(
    location: Path, search_from: Path | None = None, timeout: float = 30.0
) -> AzuriteProcess:
    """Start Azurite with its data under `location` unless it already listens.

    Raises RuntimeError naming what is missing when it cannot be started.
    """
    if is_running():
        return AzuriteProcess(None, None)
    busy = [name for name, port in PORTS.items() if _port_open(port)]
    if busy:
        raise RuntimeError(
            f"Azurite ports are partly taken ({', '.join(busy)} answer, the rest do not): "
            "stop whatever holds them or start Azurite fully"
        )
    return start(location, PORTS, search_from, timeout)


def start(
    location: Path,
    ports: dict[str, int],
    search_from: Path | None = None,
    timeout: float = 30.0,
    extra_args: Sequence[str] = (),
) -> AzuriteProcess:
    """Start an Azurite of our own on `ports`, with its data under `location`.

    `extra_args` go on its command line as they are (e.g. `--oauth basic --cert ... --key ...`
    to serve HTTPS and accept bearer tokens).
    """
    exe = find_executable(search_from)
    if exe is None:
        raise RuntimeError(
            "Azurite is not running and no 'azurite' was found in node_modules/.bin or on "
            "PATH: run 'npm ci' in the project (or 'npm install -g azurite')"
        )
    location.mkdir(parents=True, exist_ok=True)
    log = open(location / "azurite.log", "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [
            exe,
            "--silent",
            "--location",
            str(location),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            # Node closes idle keep-alive connections after 5 s by default; a client that
            # reuses one just then gets "connection reset" on a write it cannot retry.
            *(f"--{service}KeepAliveTimeout=600" for service in ports),
            *(f"--{service}Port={port}" for service, port in ports.items()),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "AZURITE_DISABLE_TELEMETRY": "true"},
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"Azurite exited with code {process.returncode}; see {location / 'azurite.log'}"
            )
        if is_running(ports):
            return AzuriteProcess(process, location, dict(ports))
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"Azurite did not start listening within {timeout:.0f}s")


def start_on_free_ports(
    location: Path,
    search_from: Path | None = None,
    timeout: float = 30.0,
    extra_args: Sequence[str] = (),
) -> AzuriteProcess:
    """Start an Azurite of our own on free ports (see `AzuriteProcess.ports`).

    A free port can be taken before Azurite binds it (another process was handed the same
    one): Azurite then exits, and is started again on other free ports.
    """
    attempt = 1
    while True:
        ports = free_service_ports(PORTS)
        try:
            return start(location, ports, search_from, timeout, extra_args)
        except RuntimeError:
            taken = any(_port_open(port) for port in ports.values())
            if not taken or attempt == PORT_ATTEMPTS:
                raise
        attempt += 1


# -- the shared Azurite a host starts: it outlives the host ---------------------------------

HOME_SETTING = "DEVHOST_AZURITE_HOME"
PID_FILE = "azurite.pid"


def shared_location(ports: dict[str, int]) -> Path:
    """Where the shared Azurite on `ports` keeps its data: one folder per set of ports."""
    home = os.environ.get(HOME_SETTING)
    root = Path(home) if home else Path.home() / ".devhost" / "azurite"
    return root / "-".join(str(ports[service]) for service in PORTS)


@dataclass
class SharedAzurite:
    """The Azurite a storage setting names: whether this host started it, and its data."""

    ports: dict[str, int]
    started: bool
    pid: int | None
    location: Path | None


def ensure_shared(
    ports: dict[str, int], search_from: Path | None = None, timeout: float = 30.0
) -> SharedAzurite:
    """Use the Azurite on `ports`, or start one there that outlives this process.

    Every host whose storage names these ports shares it, so none may stop it on its way
    out: stopping is explicit (`devhost azurite stop`, see `stop_shared`).
    """
    location = shared_location(ports)
    if is_running(ports):
        pid = recorded_pid(location)
        return SharedAzurite(ports, False, pid, location if pid else None)
    busy = [f"{name} {port}" for name, port in ports.items() if _port_open(port)]
    if busy:
        raise RuntimeError(
            f"Azurite ports are partly taken ({', '.join(busy)} answer, the rest do not): "
            "stop whatever holds them or start Azurite fully"
        )
    process = start(location, ports, search_from, timeout)
    assert process.process is not None
    (location / PID_FILE).write_text(f"{process.process.pid}\n")
    return SharedAzurite(ports, True, process.process.pid, location)


def stop_shared(ports: dict[str, int], timeout: float = 30.0) -> int | None:
    """Stop the Azurite devhost started on `ports`; its pid, or None if devhost started none.

    SIGTERM lets Azurite save its metadata before it exits.
    """
    location = shared_location(ports)
    pid = recorded_pid(location)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    (location / PID_FILE).unlink(missing_ok=True)
    return pid


def recorded_pid(location: Path) -> int | None:
    """The pid of the Azurite devhost started there, if it still runs."""
    try:
        pid = int((location / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        return None
    # The pid may since have gone to another program: never signal that one.
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"azurite" in command else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by a parent that is still running) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
