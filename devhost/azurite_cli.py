"""`devhost azurite status|stop`: the shared Azurite that hosts start and never stop."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import azurite


def devhost_command() -> str:
    """How to type `devhost` so that it runs: the bare name when this installation's script
    is on PATH, else its full path (a virtual environment not activated, as `./dev` uses
    it), else through this interpreter."""
    script = Path(sys.executable).with_name("devhost")
    if not script.exists():
        return f"{sys.executable} -m devhost"
    found = shutil.which("devhost")
    if found and Path(found).resolve() == script.resolve():
        return "devhost"
    return str(script)


def stop_command(ports: dict[str, int]) -> str:
    """The command that stops the shared Azurite on `ports`, to paste."""
    named = ",".join(str(ports[service]) for service in azurite.PORTS)
    flag = "" if ports == azurite.PORTS else f" --ports {named}"
    return f"{devhost_command()} azurite stop{flag}"


def _ports(text: str) -> dict[str, int]:
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != len(azurite.PORTS) or not all(0 < n < 65536 for n in numbers):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not three ports BLOB,QUEUE,TABLE (e.g. 10000,10001,10002)"
        )
    return dict(zip(azurite.PORTS, numbers, strict=True))


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "azurite",
        help="show or stop the Azurite that devhost started (it outlives the host)",
        description="A host whose storage names the emulator starts Azurite on the named "
        "ports if nothing listens there, and leaves it running for other hosts when it stops. "
        "This shows it, or stops it (SIGTERM: Azurite saves its data first).",
    )
    parser.add_argument("action", choices=("status", "stop"))
    parser.add_argument(
        "--ports",
        type=_ports,
        default=dict(azurite.PORTS),
        metavar="BLOB,QUEUE,TABLE",
        help="the Azurite's ports (default 10000,10001,10002)",
    )


def run(args: argparse.Namespace) -> int:
    ports: dict[str, int] = args.ports
    location = azurite.shared_location(ports)
    named = ", ".join(f"{service} {port}" for service, port in ports.items())
    if args.action == "stop":
        pid = azurite.stop_shared(ports)
        if pid is None:
            print(f"devhost started no Azurite that still runs on {named}")
            return 1 if azurite.is_running(ports) else 0
        print(f"stopped Azurite (pid {pid}); its data stays in {location}")
        return 0
    if not azurite.is_running(ports):
        print(f"no Azurite on {named}")
        return 1
    pid = azurite.recorded_pid(location)
    if pid is None:
        print(f"Azurite answers on {named} (not started by devhost)")
    else:
        print(f"Azurite answers on {named}: started by devhost (pid {pid}), data in {location}")
    return 0
