"""Report moments: on the host's clock, agents send operate events before the monitors'
polls, which fall on the multiples of the poll interval; and the agent's requests to the
host (one clock read and one wait per round, over a kept connection)."""

from __future__ import annotations

import http.server
import threading
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent import host_http
from agent.contract import Contract
from agent.operate_window import OperateWindow
from haymaker.naming import next_multiple
from haymaker.plans import AgentPlan, RunPlan

START = datetime(2026, 12, 1, 6, 2, 30, tzinfo=UTC)


def _contract(**overrides: str) -> Contract:
    env = {
        "HAYMAKER_RUN_ID": "run-1",
        "HAYMAKER_AGENT_ID": "a02",
        "HAYMAKER_SCENARIO": '{"id": "s", "deploy": [], "operate": [], "cleanup": []}',
        "HAYMAKER_DEADLINE": "2026-12-01T08:00:00Z",
        "HAYMAKER_RESOURCE_GROUP": "rg",
        "HAYMAKER_TAGS": "{}",
        "HAYMAKER_EVENTS_QUEUE": "q",
        "HAYMAKER_SECRET_REF": "haymaker-x",
        "HAYMAKER_STATE_DIR": "/tmp/x",
        "AzureWebJobsStorage": "AccountKey=k",
        "HAYMAKER_AGENT_CLOCK_URL": "http://127.0.0.1:9/admin/host/clock",
        **overrides,
    }
    return Contract.from_env(env)


class FakeHost:
    """The host's clock and the agent's participant in one: a wait jumps to its time."""

    def __init__(self) -> None:
        self.now_at = START
        self.reads = 0
        self.waits: list[datetime] = []

    def now(self) -> datetime:
        self.reads += 1
        return self.now_at

    def away_for(self) -> float:
        return 0.0

    def wait_until(self, moment: datetime, give_up_at: float | None = None) -> datetime:
        self.waits.append(moment)
        self.now_at = moment
        return moment


def _follow(window: OperateWindow, host: FakeHost) -> list[datetime]:
    """Pause round after round until the window stops; the times events were sent."""
    sent: list[datetime] = []
    window._host_clock = host  # type: ignore[assignment]
    window._participant = host  # type: ignore[assignment]
    while window.pause(before_report=lambda: sent.append(host.now_at)) is None:
        pass
    return sent


def test_held_events_go_out_before_each_wait_that_passes_a_report_moment() -> None:
    host = FakeHost()
    sent = _follow(OperateWindow(_contract(HAYMAKER_AGENT_REPORT_EVERY="900")), host)
    # Rounds every 5 minutes; events go before the waits to 06:15, 06:30, ... and before
    # the last wait, to the cleanup moment (07:55).
    assert host.waits[0] == START.replace(minute=5, second=0)
    assert host.waits[-1] == datetime(2026, 12, 1, 7, 55, tzinfo=UTC)
    assert [t.strftime("%H:%M") for t in sent] == [
        "06:10", "06:25", "06:40", "06:55", "07:10", "07:25", "07:40", "07:50",
    ]  # fmt: skip
    # One clock read per round, and the wait's answer tells when it ended.
    assert host.reads == len(host.waits)


def test_without_report_moments_events_go_out_after_every_round() -> None:
    host = FakeHost()
    sent = _follow(OperateWindow(_contract()), host)
    assert len(sent) == len(host.waits) == 23


def test_polls_and_progress_ticks_fall_on_the_multiples_of_the_interval() -> None:
    assert next_multiple(START, 900) == datetime(2026, 12, 1, 6, 15, tzinfo=UTC)
    on_one = datetime(2026, 12, 1, 6, 15, tzinfo=UTC)
    assert next_multiple(on_one, 900) == on_one + timedelta(seconds=900)


def test_plans_from_before_aligned_polls_are_written_as_they_were() -> None:
    old = {
        "run_id": "run-1",
        "agent_id": "a00",
        "scenario_id": "s",
        "deadline": "2026-12-01T08:00:00Z",
        "poll_seconds": 900,
        "polls_per_generation": 48,
    }
    assert AgentPlan.from_dict(old).to_dict() == old
    assert not AgentPlan.from_dict(old).aligned_polls
    run = RunPlan("run-1", ["s"], 3600, 900, 5, aligned_polls=True)
    agent = run.agents("2026-12-01T08:00:00Z")[0]
    assert agent.aligned_polls and agent.to_dict()["aligned_polls"] is True
    assert RunPlan.from_dict(run.to_dict()) == run


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The clients' addresses, one per connection accepted (a closed socket's id() may be
    # reused by the next one, so ids would count two connections as one).
    connections: list[tuple[str, int]] = []

    def setup(self) -> None:
        super().setup()
        type(self).connections.append(self.client_address)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status = 404 if self.path == "/missing" else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/then-close":
            # Closed without saying so, as a host's keep-alive timeout does.
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_requests_to_the_host_reuse_one_connection_and_survive_its_closing(server: str) -> None:
    _Handler.connections.clear()
    for _ in range(3):
        assert host_http.request("GET", server + "/clock") == (200, b'{"ok": true}')
    assert len(_Handler.connections) == 1
    host_http.request("GET", server + "/then-close")
    # The kept connection is dead now: the next request goes on a new one.
    assert host_http.request("GET", server + "/clock")[0] == 200
    assert len(_Handler.connections) == 2
    with pytest.raises(urllib.error.HTTPError) as error:
        host_http.request("GET", server + "/missing")
    assert error.value.code == 404
