"""`devhost start --watch`: an edit restarts the host with the new code, storage and the
orchestrations in flight carry over, and only the app's own files are watched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devhost.process import free_port
from devhost.watch import changes, snapshot
from tests.devhost.helpers import copy_app, new_hub, wait_for_status, wait_until

ADDED_FUNCTION = """

@app.route(route="added", methods=["GET"])
def added(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("added while watching")
"""


def test_only_the_apps_own_files_are_watched(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text("app = None\n")
    for folder in (".devhost", ".venv/lib", "__pycache__", "node_modules/x", "pkg/__pycache__"):
        (tmp_path / folder).mkdir(parents=True)
    before = snapshot(tmp_path)
    for noise in (
        ".devhost/host.log",
        ".venv/lib/x.py",
        "__pycache__/a.pyc",
        "node_modules/x/i.js",
    ):
        (tmp_path / noise).write_text("changed")
    (tmp_path / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    assert changes(before, snapshot(tmp_path)) == []

    (tmp_path / "pkg" / "module.py").write_text("x = 1\n")
    (tmp_path / "local.settings.json").write_text("{}")
    assert changes(before, snapshot(tmp_path)) == [
        str(tmp_path / "local.settings.json"),
        str(tmp_path / "pkg" / "module.py"),
    ]


@pytest.mark.slow
def test_an_edit_restarts_the_host_and_orchestrations_resume(
    storage_connection_string: str, tmp_path: Path
) -> None:
    app = copy_app("durable_app", tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "watch.log"
    with log_path.open("wb") as log:
        watcher = subprocess.Popen(
            [sys.executable, "-m", "devhost", "start", str(app), "--watch"]
            + ["--port", str(port), "--hub", new_hub()],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def status(path: str, **params: str) -> requests.Response | None:
        assert watcher.poll() is None, log_path.read_text()
        try:
            return requests.get(f"{base}{path}", params=params, timeout=10)
        except requests.RequestException:
            return None  # restarting

    try:

        def running() -> bool:
            answer = status("/admin/host/status")
            return answer is not None and answer.json()["state"] == "Running"

        wait_until(running, timeout=90, message="the host to run")
        system_key = json.loads((app / ".devhost" / "keys.json").read_text())["systemKeys"][
            "durabletask_extension"
        ]
        management = f"{base}/runtime/webhooks/durabletask"
        started = requests.post(
            f"{management}/orchestrators/approval_orchestrator",
            params={"code": system_key},
            timeout=30,
        )
        assert started.status_code == 202
        instance = started.json()["statusQueryGetUri"]
        wait_for_status(instance, ("Running",), timeout=60)

        with (app / "function_app.py").open("a") as source:
            source.write(ADDED_FUNCTION)

        def added() -> bool:
            answer = status("/api/added")
            return answer is not None and answer.text == "added while watching"

        wait_until(added, timeout=120, message="the host to restart with the new function")
        raised = requests.post(
            f"{management}/instances/{started.json()['id']}/raiseEvent/approval",
            params={"code": system_key},
            json={"by": "the restarted host"},
            timeout=30,
        )
        assert raised.status_code == 202, requests.get(instance, timeout=10).text
        done = wait_for_status(instance, timeout=60)
    finally:
        if watcher.poll() is None:
            os.killpg(watcher.pid, signal.SIGINT)
        watcher.wait(timeout=60)
    output = log_path.read_text()

    assert done["runtimeStatus"] == "Completed"
    assert done["output"] == {"approval": {"by": "the restarted host"}}
    assert output.count("restarting the host") == 1
    assert "Changed: function_app.py; restarting the host" in output
    assert watcher.returncode == 0
    assert "Traceback" not in output
