"""devhost as a drop-in for `func start`: Ctrl-C, local.settings.json `Host`, CORS, a busy
port, 401s that say which key, `--functions` and `--version`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost import azurite
from devhost.process import free_port
from devhost.testing import running_host
from tests.devhost.helpers import copy_app, new_hub, wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

ORIGIN = "http://frontend.test:3000"


def start_process(
    app: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`python -m devhost start APP ARGS` in its own process group, as a terminal runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "devhost", "start", str(app), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def wait_running(port: int, process: subprocess.Popen[str]) -> None:
    def running() -> bool:
        assert process.poll() is None, f"devhost exited with {process.returncode}"
        try:
            status = requests.get(f"http://127.0.0.1:{port}/admin/host/status", timeout=10)
        except requests.RequestException:  # not listening yet, or too busy starting
            return False
        # Its own answer, not that of another process handed the same free port.
        answer = status.json()
        return answer["state"] == "Running" and answer["processId"] == process.pid

    wait_until(running, timeout=90, message="devhost to run")


def with_host_section(app: Path, section: dict[str, object]) -> None:
    path = app / "local.settings.json"
    settings = json.loads(path.read_text())
    settings["Host"] = section
    path.write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def settings_host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    """A host whose port and CORS come from local.settings.json Host, not from flags."""
    app = copy_app("http_app", tmp_path_factory.mktemp("dropin"))
    port = free_port()
    with_host_section(
        app, {"LocalHttpPort": port, "CORS": f"{ORIGIN},http://other.test", "CORSCredentials": True}
    )
    process = start_process(app, "--hub", new_hub())
    try:
        wait_running(port, process)
        yield port, app
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=60)


def test_local_settings_host_sets_the_port(settings_host: tuple[int, Path]) -> None:
    port, _ = settings_host
    answer = requests.get(f"http://127.0.0.1:{port}/api/echo/1", timeout=10)
    assert answer.status_code == 200


def test_a_cors_preflight_is_answered_with_the_allow_headers(
    settings_host: tuple[int, Path],
) -> None:
    port, _ = settings_host
    preflight = requests.options(
        f"http://127.0.0.1:{port}/api/guarded",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-functions-key,content-type",
        },
        timeout=10,
    )
    stranger = requests.options(
        f"http://127.0.0.1:{port}/api/guarded",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET"
    assert preflight.headers["Access-Control-Allow-Headers"] == "x-functions-key,content-type"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_a_cross_origin_call_gets_the_allow_origin_header(
    settings_host: tuple[int, Path],
) -> None:
    port, _ = settings_host
    answer = requests.get(
        f"http://127.0.0.1:{port}/api/echo/2", headers={"Origin": ORIGIN}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_401_says_which_key_is_needed_and_where_it_is(settings_host: tuple[int, Path]) -> None:
    port, app = settings_host
    base = f"http://127.0.0.1:{port}"
    function = requests.get(f"{base}/api/guarded", timeout=10)
    admin = requests.get(f"{base}/api/admin-only", params={"code": "wrong"}, timeout=10)
    management = requests.get(f"{base}/runtime/webhooks/durabletask/instances/x", timeout=10)

    keys_file = str(app.resolve() / ".devhost" / "keys.json")
    for answer, needed in (
        (function, "a function key"),
        (admin, "the master key"),
        (management, "system key"),
    ):
        assert answer.status_code == 401
        message = answer.json()["error"]["message"]
        assert needed in message
        assert keys_file in message
        assert "--no-auth" in message


def test_ctrl_c_stops_quietly_and_exits_zero(
    storage_connection_string: str, tmp_path: Path
) -> None:
    app = copy_app("http_app", tmp_path)
    port = free_port()
    process = start_process(app, "--port", str(port), "--hub", new_hub())
    wait_running(port, process)
    # A terminal's Ctrl-C: SIGINT to the whole foreground process group.
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)

    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert "Unclosed" not in output
    assert "Stopping host" in output


def test_ctrl_c_stops_at_once_when_storage_is_gone(tmp_path: Path) -> None:
    """Azurite stopped first (or a network gone): the host cannot release its lease and
    says so, without waiting out the storage SDK's retry (15 s) in silence."""
    app = copy_app("http_app", tmp_path)
    storage = azurite.start_on_free_ports(tmp_path / "azurite", ROOT)
    port = free_port()
    try:
        connection = storage.connection_string()
        process = start_process(
            app, "--port", str(port), "--hub", new_hub(), env={"AzureWebJobsStorage": connection}
        )
        wait_running(port, process)
    finally:
        storage.stop()
    os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=12)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"devhost was still stopping 12 s after Ctrl+C:\n{output[-2000:]}")

    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "Releasing the lease on task hub" in output and "failed" in output


def test_a_port_in_use_is_one_line_before_any_function_is_listed(tmp_path: Path) -> None:
    app = copy_app("http_app", tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devhost", "start", str(app), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 1
    assert result.stdout == ""  # nothing listed, no host started
    assert result.stderr.strip() == f"port {port} is in use; pass --port"


def test_flags_win_over_local_settings_and_choose_the_functions(
    storage_connection_string: str, tmp_path: Path
) -> None:
    app = copy_app("http_app", tmp_path)
    with_host_section(app, {"CORS": ORIGIN})
    flags = ["--functions", "echo", "teapot", "--cors", "*"]
    with running_host(app, hub=new_hub(), extra_args=flags) as host:
        listed = requests.get(
            f"{host.base_url}/admin/functions", params={"code": host.master_key}, timeout=10
        )
        dropped = requests.get(f"{host.api}/greet/you", timeout=10)
        preflight = requests.options(
            f"{host.api}/echo/1",
            headers={"Origin": "http://anyone.test", "Access-Control-Request-Method": "POST"},
            timeout=10,
        )

    assert sorted(f["name"] for f in listed.json()) == ["echo", "teapot"]
    assert dropped.status_code == 404
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_version_prints_the_devhost_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("devhost ")
