"""Ctrl-C while following a run: the run goes on, and the command says so (--wait) or
ends quietly (--watch, --follow); exit 130 either way. Against a fake API that presses
Ctrl-C (SIGINT to this process) when the run is first looked at."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from haymaker.cli import main

RUN_ID = "run-20261203-000000-abcdef"


class Api(BaseHTTPRequestHandler):
    def _answer(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # the CLI stopped reading at Ctrl-C
            self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        plan = {"agents": 1, "estimated_cost_usd": 0.5}
        self._answer({"run_id": RUN_ID, "statusQueryGetUri": "http://x/s?code=k", "plan": plan})

    def do_GET(self) -> None:  # noqa: N802
        if "/admin/host/clock" in self.path:
            self._answer({}, 404)
            return
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C
        self._answer({"run_id": RUN_ID, "status": "running", "events": [], "agents": []})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def api_url() -> Iterator[str]:
    # Ctrl-C raises KeyboardInterrupt here as in a terminal, even when the tests were
    # started with SIGINT ignored (a script's `./dev test &`): Python then installs no
    # handler, the fake's Ctrl-C did nothing, and the watch it should end ran forever.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_wait_says_the_run_goes_on_and_how_to_follow_or_end_it(capsys, api_url):
    code = main(["run", "start", "--count", "1", "--wait", "--url", api_url, "--key", "k"])
    assert code == 130
    assert capsys.readouterr().err == (
        f"haymaker: interrupted: run {RUN_ID} goes on without this command; follow it with "
        f"`haymaker run status {RUN_ID} --watch`, end it with `haymaker run cancel {RUN_ID}`\n"
    )


@pytest.mark.parametrize(
    "argv", [("run", "status", RUN_ID, "--watch"), ("run", "logs", RUN_ID, "--follow")]
)
def test_ctrl_c_ends_watching_and_following_quietly(capsys, api_url, argv):
    assert main([*argv, "--url", api_url, "--key", "k"]) == 130
    assert capsys.readouterr().err == ""
