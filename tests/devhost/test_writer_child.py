"""The history writer, a child of `devhost start` forked at start-up: it writes for the host
that takes the hub, and never outlives its host, whether the host stops, is killed, or
stood by without a hub."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import requests

from devhost.testing import HostHandle
from tests.devhost.helpers import app_host, wait_for_status, wait_until
from tests.processes import still_running


def forked_children(pid: int) -> list[int]:
    """The children of `pid` that were forked from it (their command line is its own; an
    Azurite the host started is a child too)."""
    found = []
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) != pid:
                    continue
                if (entry / "cmdline").read_bytes() == command:
                    found.append(int(entry.name))
            except OSError:
                continue  # it ended meanwhile
    return found


def run_echo(host: HostHandle) -> None:
    started = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator",
        params={"code": host.system_key},
        json="hay",
        timeout=30,
    )
    assert started.status_code == 202, started.text
    done = wait_for_status(started.json()["statusQueryGetUri"])
    assert done["output"] == {"input": "hay", "shouted": "HAY"}, done


def test_the_writer_child_never_outlives_its_host(tmp_path: Path, unique_name: str) -> None:
    with app_host("durable_app", tmp_path / "running", hub=unique_name) as running:
        assert running.process is not None
        run_echo(running)  # its writer stored the history: it serves this host's hub
        (writer,) = forked_children(running.process.pid)
        with app_host(
            "durable_app", tmp_path / "standing-by", hub=unique_name, ready=("Standby",)
        ) as standby:
            assert standby.process is not None
            (idle,) = forked_children(standby.process.pid)  # forked, waiting for a hub
            os.kill(standby.process.pid, signal.SIGKILL)  # no clean stop: nothing closes it
            wait_until(
                lambda: not still_running(idle), timeout=10, message="the standby's writer to end"
            )
        os.kill(running.process.pid, signal.SIGKILL)
        wait_until(lambda: not still_running(writer), timeout=10, message="the writer to end")
