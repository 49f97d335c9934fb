"""Agent programs as the local provider starts them: a scenario, and a handle on a started
agent (see the `start_agent` fixture in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from haymaker.events import EventReceiver
from haymaker.providers.local import LocalProvider

SCENARIO: dict[str, Any] = {
    "id": "web-static-site",
    "title": "A static site",
    "area": "web-apps",
    "description": "Inline test scenario in the catalog's shape.",
    "duration_hint": None,
    "resources": [{"kind": "web_app", "name": "{prefix}-site", "local_kind": "blob_container"}],
    "deploy": [
        {
            "name": "Create the site",
            "command": "az webapp create --name {prefix}-site --resource-group {resource_group} "
            "--location {location} --tags {tags}",
            "creates": {"kind": "web_app", "name": "{prefix}-site", "local_kind": "blob_container"},
        },
        {
            "name": "Create the settings table",
            "command": "az storage table create --name {prefix}cfg --query '{{name: name}}'",
            "creates": {"kind": "storage_table", "name": "{prefix}cfg", "local_kind": "table"},
        },
    ],
    "operate": [
        {
            "name": "Deploy content",
            "command": "az webapp deploy --name {prefix}-site --src-path index.html",
            "uses": {"kind": "web_app", "name": "{prefix}-site", "local_kind": "blob_container"},
        },
        {
            "name": "Write a setting",
            "command": "az storage entity insert --table-name {prefix}cfg --entity a=b",
            "uses": {"kind": "storage_table", "name": "{prefix}cfg", "local_kind": "table"},
        },
    ],
    "cleanup": [
        {
            "name": "Delete the site",
            "command": "az webapp delete --name {prefix}-site --resource-group {resource_group}",
            "deletes": {"kind": "web_app", "name": "{prefix}-site", "local_kind": "blob_container"},
        }
    ],
}


def wait_for(probe: Callable[[], Any], timeout: float = 40.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Agent:
    provider: LocalProvider
    run_id: str
    receiver: EventReceiver
    log: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    agent_id: str = "a00"

    def status(self) -> dict[str, Any]:
        return dict(self.provider.agent_status(self.run_id, self.agent_id))

    def exited(self) -> dict[str, Any]:
        return wait_for(lambda: self.status()["state"] != "running" and self.status(), what="exit")

    def drain(self) -> list[str]:
        batch = self.receiver.receive()
        self.receiver.acknowledge(batch)
        self.events += batch
        return [event["type"] for event in self.events]
