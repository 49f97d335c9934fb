"""The storage a host uses, and the lines that tell the user about it at start.

A storage setting that names the emulator (`UseDevelopmentStorage=true`, or a
`devstoreaccount1` connection string with loopback endpoints) gets Azurite on exactly the
ports it names: the one already listening there, else one devhost starts. That Azurite is
shared by every host whose storage names those ports and outlives the host that started
it, so stopping one host never pulls storage from under another; `devhost azurite stop`
ends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import azurite
from .azurite_cli import stop_command


@dataclass
class HostStorage:
    setting: str
    connection_string: str
    emulator: azurite.SharedAzurite | None

    def describe(self) -> list[str]:
        fields = azurite.connection_fields(self.connection_string)
        endpoints = ", ".join(
            f"{service} {fields[f'{service}endpoint']}"
            for service in azurite.PORTS
            if f"{service}endpoint" in fields
        )
        if self.emulator is None:
            account = fields.get("accountname", "?")
            return [f"Storage ({self.setting}): account {account}: {endpoints or 'default'}"]
        lines = [f"Storage ({self.setting}): Azurite at {endpoints}"]
        shared = self.emulator
        if shared.started:
            lines.append(
                f"  started by this host (pid {shared.pid}), data in {shared.location}; "
                f"it keeps running for other hosts after this one stops: "
                f"`{stop_command(shared.ports)}` ends it"
            )
        elif shared.pid is not None:
            lines.append(
                f"  started earlier by devhost (pid {shared.pid}), data in {shared.location}"
            )
        else:
            lines.append("  already running (not started by devhost; its data is where it says)")
        return lines


def open_storage(setting: str, value: str | None, search_from: Path) -> HostStorage:
    """Resolve the setting's value; start the Azurite it names if nothing listens there."""
    connection = azurite.resolve_connection_string(value, setting)
    ports = azurite.emulator_ports(value)
    if ports is None:
        return HostStorage(setting, connection, None)
    shared = azurite.ensure_shared(ports, search_from=search_from)
    if value and value.strip().rstrip(";").lower() == "usedevelopmentstorage=true":
        connection = azurite.dev_connection_string()
    return HostStorage(setting, connection, shared)
