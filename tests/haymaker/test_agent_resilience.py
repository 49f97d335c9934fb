"""An agent rides out what a long run meets: a host that restarts, storage that goes away,
a step that fails. It carries on, loses no event, and says what happened."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from haymaker.naming import local_resource_name, name_prefix
from haymaker.providers.local_cloud import LocalCloud
from tests.haymaker.agents import Agent, wait_for
from tests.outage import StorageRelay

# Scenario time runs 600 times faster than real time: an operate round every 0.5 s.
SCALE = "600"


class FakeHostClock:
    """devhost's `/admin/host/clock` (without clock participants: the agent follows it by
    sleeping), running `speed` times faster than real time from now; `stop()` takes the
    host away (connections refused), `start()` brings it back."""

    def __init__(self, speed: float) -> None:
        self.started = datetime.now(UTC)
        self.speed = speed
        self._server = self._serve(0)
        self.port = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin/host/clock"

    def now(self) -> datetime:
        return self.started + (datetime.now(UTC) - self.started) * self.speed

    def _serve(self, port: int) -> ThreadingHTTPServer:
        clock = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"now": clock.now().isoformat(), "virtual": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def start(self) -> None:
        self._server = self._serve(self.port)


@pytest.fixture
def agent_storage(private_storage_connection_string: str) -> str:
    return private_storage_connection_string


@pytest.fixture
def host_clock() -> Iterator[FakeHostClock]:
    clock = FakeHostClock(speed=600)
    yield clock
    clock.stop()


def operating(agent: Agent) -> None:
    wait_for(lambda: "heartbeat" in agent.drain(), what="the agent to operate")


def all_events(agent: Agent) -> list[dict[str, Any]]:
    wait_for(lambda: {"finished", "failed"} & set(agent.drain()), what="the agent's last event")
    return agent.events


def test_an_agent_rides_out_a_host_clock_that_goes_away(
    start_agent: Callable[..., Agent], host_clock: FakeHostClock
) -> None:
    # The deadline is two hours of host time away: twelve seconds at the host's pace.
    agent = start_agent(
        seconds=7200, HAYMAKER_AGENT_CLOCK_URL=host_clock.url, HAYMAKER_AGENT_TIME_SCALE=SCALE
    )
    operating(agent)
    host_clock.stop()
    wait_for(lambda: "host clock unreachable" in agent.log.read_text(), what="a failed read")
    host_clock.start()
    assert agent.exited() == {"state": "succeeded", "exit_code": 0}, agent.log.read_text()
    types = [event["type"] for event in all_events(agent)]
    assert types[-1] == "finished" and "failed" not in types
    assert "host clock answers again" in agent.log.read_text()
    # It went on until the host's clock said the deadline was near, then cleaned up.
    assert types.count("resource_deleted") == 2


def test_an_agent_rides_out_storage_outages_and_reports_the_gap(
    start_agent: Callable[..., Agent], agent_storage: str
) -> None:
    relay = StorageRelay(agent_storage)
    agent = start_agent(
        seconds=7200, storage=relay.connection_string, HAYMAKER_AGENT_TIME_SCALE=SCALE
    )
    operating(agent)
    # The queue service alone: the agent works on, holding its events ...
    relay.outage(3.0, services=("queue",))
    # ... then the whole account: its steps wait storage out.
    relay.outage(3.0)

    assert agent.exited() == {"state": "succeeded", "exit_code": 0}, agent.log.read_text()
    # A send that failed after storage had taken it is sent again: the same event, by id.
    events = list({event["id"]: event for event in all_events(agent)}.values())
    types = [event["type"] for event in events]
    assert "failed" not in types and "finished" in types
    # Nothing was lost: every event the agent stamped arrived.
    assert sorted(event["seq"] for event in events) == list(range(len(events)))
    # Steps waited storage out instead of failing ...
    commands = [event for event in events if event["type"] == "command"]
    assert all(event["exit_code"] == 0 for event in commands), commands
    # ... and the agent said how long its events were held.
    gaps = [event for event in events if event.get("step") == "report events"]
    assert gaps and all(gap["type"] == "error" for gap in gaps), gaps
    assert max(gap["gap_seconds"] for gap in gaps) >= 1.0, gaps
    assert all("held and sent late" in gap["message"] for gap in gaps)


def test_an_operate_step_that_fails_is_reported_and_the_agent_carries_on(
    start_agent: Callable[..., Agent], agent_storage: str
) -> None:
    agent = start_agent(seconds=7200, HAYMAKER_AGENT_TIME_SCALE=SCALE)
    operating(agent)
    # Someone deletes the agent's settings table: writing a setting fails from now on.
    table = local_resource_name(
        "table", agent.run_id, "a00", f"{name_prefix(agent.run_id, 'a00')}cfg"
    )
    LocalCloud(agent_storage).delete("table", table)

    assert agent.exited() == {"state": "succeeded", "exit_code": 0}, agent.log.read_text()
    events = all_events(agent)
    errors = [event for event in events if event["type"] == "error"]
    assert errors and {(e["phase"], e["step"]) for e in errors} == {("operate", "Write a setting")}
    assert "ResourceNotFoundError" in errors[0]["message"]
    # The other operate step went on working, and the agent finished its scenario.
    deploys = [e for e in events if e["type"] == "command" and e["step"] == "Deploy content"]
    assert all(event["exit_code"] == 0 for event in deploys)
    assert [event["type"] for event in events][-1] == "finished"


def test_an_agent_whose_host_is_gone_for_good_cleans_up_and_says_it_was_cut_short(
    start_agent: Callable[..., Agent], host_clock: FakeHostClock
) -> None:
    agent = start_agent(
        seconds=7200,
        HAYMAKER_AGENT_CLOCK_URL=host_clock.url,
        HAYMAKER_AGENT_TIME_SCALE=SCALE,
        HAYMAKER_AGENT_HOST_PATIENCE="2",
    )
    operating(agent)
    host_clock.stop()

    assert agent.exited() == {"state": "succeeded", "exit_code": 0}, agent.log.read_text()
    events = all_events(agent)
    finished = events[-1]
    assert finished["type"] == "finished", events
    assert "has not answered" in finished["cut_short"], finished
    assert [e["type"] for e in events].count("resource_deleted") == 2


def test_the_wall_time_cap_cuts_the_scenario_short_and_says_so(
    start_agent: Callable[..., Agent],
) -> None:
    # Two hours of scenario time at 600x is 12 s; the cap ends operating after 2.
    agent = start_agent(
        seconds=7200, HAYMAKER_AGENT_TIME_SCALE=SCALE, HAYMAKER_AGENT_MAX_WALL_SECONDS="2"
    )
    assert agent.exited() == {"state": "succeeded", "exit_code": 0}, agent.log.read_text()
    finished = all_events(agent)[-1]
    assert finished["type"] == "finished" and "wall-time cap of 2s" in finished["cut_short"]
    assert "before its deadline" in finished["cut_short"], finished
