"""`python -m devhost start`: the function list, execution logs, refusal of apps the
worker cannot index, host status and a clean SIGTERM shutdown."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from devhost.process import HostStartError, free_port
from devhost.testing import HostHandle
from tests.devhost.helpers import app_host, copy_app, executions, new_hub, wait_for_status

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

HTTP_APP_FUNCTIONS = {
    "echo",
    "async_echo",
    "item_by_id",
    "item_by_name",
    "greet",
    "create",
    "teapot",
    "no_content",
    "boom",
    "whoami",
    "guarded",
    "admin_only",
    "bp_hello",
    "bp_keyed",
}


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    with app_host("http_app", tmp_path_factory.mktemp("cli"), hub=new_hub()) as handle:
        yield handle


def listed_functions(log: str) -> list[str]:
    """Names under 'Found the following functions:' in a host log."""
    lines = log.splitlines()
    start = lines.index("Found the following functions:")
    names = []
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        names.append(line.strip().split(":", 1)[0])
    return names


def test_found_the_following_functions_lists_every_function(host: HostHandle) -> None:
    names = listed_functions(host.log())
    admin = requests.get(
        f"{host.base_url}/admin/functions", params={"code": host.master_key}, timeout=10
    )

    assert sorted(names) == sorted(HTTP_APP_FUNCTIONS)
    assert sorted(f["name"] for f in admin.json()) == sorted(HTTP_APP_FUNCTIONS)


def test_each_execution_logs_one_executing_and_one_executed_line(host: HostHandle) -> None:
    for n in range(3):
        assert requests.get(f"{host.api}/echo/{n}", timeout=10).status_code == 200
    whoami = requests.get(f"{host.api}/whoami", timeout=10).json()

    echo_runs = executions(host.log(), "echo")
    whoami_runs = executions(host.log(), "whoami")

    assert len(echo_runs) == 3
    for run in echo_runs.values():
        assert len(run["executing"]) == 1
        assert len(run["executed"]) == 1
        assert run["executed"][0].group("outcome") == "Succeeded"
        assert run["executed"][0].group("duration") is not None
        assert run["executing"][0].group("reason")
    # The Id in the log is the invocation id the function's context saw.
    assert list(whoami_runs) == [whoami["invocation_id"]]
    assert whoami["function_name"] == "whoami"


def test_a_failed_execution_logs_failed_once_with_the_traceback(host: HostHandle) -> None:
    assert requests.get(f"{host.api}/boom", timeout=10).status_code == 500

    log = host.log()
    runs = executions(log, "boom")

    assert len(runs) == 1
    ((invocation, run),) = runs.items()
    assert len(run["executing"]) == 1
    assert [m.group("outcome") for m in run["executed"]] == ["Failed"]
    assert run["executed"][0].group("duration") is not None
    after = log[run["executing"][0].end() :]
    assert "Traceback (most recent call last)" in after
    assert "ValueError: boom: this function fails on purpose" in after


def test_a_failed_activity_logs_failed_once_with_the_traceback(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host("durable_app", tmp_path, hub=unique_name) as own:
        started = requests.post(
            f"{own.management}/orchestrators/failing_orchestrator",
            params={"code": own.system_key},
            json="for the log",
            timeout=10,
        )
        final = wait_for_status(started.json()["statusQueryGetUri"])
        log = own.log()

    runs = executions(log, "explode")
    assert final["runtimeStatus"] == "Failed"
    assert len(runs) == 1
    (run,) = runs.values()
    assert len(run["executing"]) == 1
    assert [m.group("outcome") for m in run["executed"]] == ["Failed"], run["executed"]
    assert run["executed"][0].group("duration") is not None
    after = log[run["executing"][0].end() :]
    assert "Traceback (most recent call last)" in after
    assert "RuntimeError: explode: this activity fails on purpose (for the log)" in after


def test_host_status_is_running_and_sigterm_exits_zero(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host("http_app", tmp_path, hub=unique_name) as own:
        status = requests.get(f"{own.base_url}/admin/host/status", timeout=10)
        exit_code = own.stop()
        log = own.log()

    assert status.status_code == 200
    assert status.json()["state"] == "Running"
    assert status.json()["functionCount"] == len(HTTP_APP_FUNCTIONS)
    assert exit_code == 0
    assert "Stopping host" in log
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{own.base_url}/admin/host/status", timeout=2)


class OtherHostStatus(BaseHTTPRequestHandler):
    """Another process on the port, which says it is a running host."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps({"state": "Running", "processId": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def port_held_by_another_host() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), OtherHostStatus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_a_picked_port_another_host_took_first_is_replaced_and_the_host_is_its_own(
    storage_connection_string: str, tmp_path: Path, unique_name: str, port_held_by_another_host: int
) -> None:
    """Two test workers can be handed the same free port: the host that comes second must
    neither pass the other one's answer off as its own nor fail."""
    taken = port_held_by_another_host

    def handle(port_picked: bool, name: str) -> HostHandle:
        return HostHandle(
            app_dir=copy_app("http_app", tmp_path / name),
            port=taken,
            port_picked=port_picked,
            hub=unique_name,
            clock="real",
            env={},
            extra_args=[],
            log_path=tmp_path / f"{name}.log",
            # Settings that name the port (the clock URL agents follow) follow it.
            env_for_port=lambda port: {"HOST_URL": f"http://127.0.0.1:{port}"},
        )

    picked = handle(True, "picked")
    picked.start()
    try:
        status = requests.get(f"{picked.base_url}/admin/host/status", timeout=10).json()
    finally:
        picked.stop()
    assert picked.port != taken and picked.env["HOST_URL"] == picked.base_url
    assert picked.process is not None and status["processId"] == picked.process.pid

    asked = handle(False, "asked")
    with pytest.raises(HostStartError, match=f"port {taken} is in use"):
        asked.start()


@pytest.mark.parametrize(
    ("app", "messages"),
    [
        (
            "broken_import",
            ["KeyError", "missing_setting_for_the_test", "function_app.py"],
        ),
        ("two_apps", ["More than one", "top level function app instances"]),
        ("no_app", ["Could not find top level function app instances in function_app.py"]),
        ("duplicate_names", ["same_name does not have a unique function name"]),
    ],
)
def test_an_app_the_worker_cannot_index_makes_start_fail(
    tmp_path: Path, app: str, messages: list[str]
) -> None:
    app_dir = copy_app(app, tmp_path)
    port = free_port()

    result = subprocess.run(
        [sys.executable, "-m", "devhost", "start", str(app_dir), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )

    assert result.returncode == 1, result.stderr  # as the README says: an indexing error exits 1
    for message in messages:
        assert message in result.stderr
    # No partial list: nothing was listed and nothing was served.
    assert "Found the following functions" not in result.stdout
    assert "Host running" not in result.stdout
    assert "never served" not in result.stdout + result.stderr


def test_help_names_the_command_as_it_was_called() -> None:
    installed = Path(sys.executable).with_name("devhost")  # pip's entry point, in the venv
    assert installed.exists(), "pip install -e . installs the devhost command"
    for command, prog in (
        ([str(installed)], "devhost"),
        ([sys.executable, "-m", "devhost"], "python -m devhost"),
    ):
        shown = subprocess.run([*command, "--help"], capture_output=True, text=True, check=False)
        assert shown.returncode == 0 and shown.stdout.startswith(f"usage: {prog} "), shown.stdout
