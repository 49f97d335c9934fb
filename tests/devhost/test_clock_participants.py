"""Clock participants: processes beside the host that the virtual clock waits for.

A busy participant holds the clock (no jump, however idle the host is); a waiting one
lets it jump straight to its time; leaving, or going silent past its lease, lets it go.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.clock import Clock
from devhost.participants import Participants
from devhost.testing import running_host
from tests.devhost.helpers import new_hub
from tests.devhost.test_orchestrations import APP, Durable


@pytest.fixture(scope="module")
def durable(
    tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str
) -> Iterator[Durable]:
    app = tmp_path_factory.mktemp("participants") / "app"
    shutil.copytree(APP, app)
    with running_host(app, clock="virtual", hub=new_hub()) as host:
        yield Durable(host)


def clock(durable: Durable) -> dict[str, Any]:
    return dict(requests.get(f"{durable.host.base_url}/admin/host/clock", timeout=10).json())


def participant(durable: Durable, name: str) -> str:
    return f"{durable.host.base_url}/admin/host/clock/participants/{name}"


def host_now(durable: Durable) -> datetime:
    return datetime.fromisoformat(clock(durable)["now"])


def test_a_busy_participant_holds_the_clock_and_a_waiting_one_lets_it_jump(
    durable: Durable,
) -> None:
    assert requests.put(participant(durable, "p1"), json={}, timeout=10).status_code == 200
    sleeper = durable.start("sleeper")  # a one-day timer
    durable.wait(sleeper, until=("Running",))

    # Waiting two hours ahead: the clock jumps there (not on to the timer) and answers.
    until = host_now(durable) + timedelta(hours=2)
    answer = requests.post(
        participant(durable, "p1") + "/wait", json={"until": until.isoformat()}, timeout=60
    ).json()
    reached = datetime.fromisoformat(answer["now"])
    assert answer["reached"] is True
    assert until <= reached < until + timedelta(hours=1)

    # Busy again from that moment: the idle host does not jump to the timer.
    jumps = clock(durable)["jumps"]
    assert clock(durable)["participants"] == {"busy": 1, "waiting": 0}
    time.sleep(1.0)  # fifty idle-settle periods in which a jump would happen
    assert clock(durable)["jumps"] == jumps
    assert durable.status(sleeper)["runtimeStatus"] == "Running"

    # Leaving lets the clock go: the timer fires.
    assert requests.delete(participant(durable, "p1"), timeout=10).status_code == 204
    assert durable.wait(sleeper)["output"] == "woke"


def test_a_busy_participant_silent_past_its_lease_is_dropped(durable: Durable) -> None:
    response = requests.put(participant(durable, "gone"), json={"lease_seconds": 1}, timeout=10)
    assert response.status_code == 200
    sleeper = durable.start("sleeper")
    assert durable.wait(sleeper, timeout=60)["output"] == "woke"
    assert clock(durable)["participants"] == {"busy": 0, "waiting": 0}


def test_a_wait_for_a_time_already_past_answers_at_once(durable: Durable) -> None:
    earlier = host_now(durable) - timedelta(minutes=5)
    answer = requests.post(
        participant(durable, "late") + "/wait", json={"until": earlier.isoformat()}, timeout=10
    ).json()
    assert answer["reached"] is True
    requests.delete(participant(durable, "late"), timeout=10)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/wait", {"until": "tomorrow"}, "until"),
        ("/wait", {}, "until"),
        ("/wait", {"until": "2030-01-01T00:00:00Z", "timeout": -1}, "timeout"),
        ("", {"lease_seconds": "long"}, "lease_seconds"),
    ],
)
def test_bad_requests_name_the_field(
    durable: Durable, path: str, body: dict[str, Any], field: str
) -> None:
    method = requests.post if path else requests.put
    response = method(participant(durable, "bad") + path, json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_leaving_twice_is_a_404_and_bad_names_are_refused(durable: Durable) -> None:
    response = requests.delete(participant(durable, "never-joined"), timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "name"
    response = requests.put(participant(durable, "a%20b"), json={}, timeout=10)
    assert response.status_code == 400


def test_a_restarted_host_waits_for_the_participants_of_the_host_before(
    tmp_path: Path, storage_connection_string: str
) -> None:
    """Participants live in the host's memory. One that was busy when the host was killed
    asks again a few seconds after the new host runs (an agent retries a failed wait, or
    waits once its round is done); until then the new host does not jump, so it does not
    jump past that participant's moment to the orchestration's timer."""
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    with running_host(app, clock="virtual", hub=new_hub()) as host:
        durable = Durable(host)
        assert requests.put(participant(durable, "agent"), json={}, timeout=10).status_code == 200
        sleeper = durable.start("sleeper")  # a one-day timer
        durable.wait(sleeper, until=("Running",))
        until = host_now(durable) + timedelta(hours=2)

        host.kill()
        host.restart()
        time.sleep(3.0)  # the participant's pause before it asks again (it saw no restart)
        answer = requests.post(
            participant(durable, "agent") + "/wait", json={"until": until.isoformat()}, timeout=60
        ).json()
        assert answer["reached"] is True
        assert until <= datetime.fromisoformat(answer["now"]) < until + timedelta(hours=1), answer
        assert durable.status(sleeper)["runtimeStatus"] == "Running"
        requests.delete(participant(durable, "agent"), timeout=10)


def test_a_waiting_participant_keeps_its_stop_on_the_clock_of_a_new_term() -> None:
    """A host that lost its hub's lease and took the hub over again runs a new clock: a
    participant waiting since the old term is released at its time on the new one, not
    jumped past (the new clock once saw it idle with no stop, and went on to the deadline)."""

    async def scenario() -> None:
        old = Clock(virtual=True)
        participants = Participants(old)
        until = old.now() + timedelta(hours=2)
        waiting = asyncio.ensure_future(participants.wait("p1", until, timeout=10))
        await asyncio.sleep(0)
        new = Clock(virtual=True, is_idle=participants.idle, idle_settle=0.001)
        participants.clock = new
        new.call_at(new.now() + timedelta(hours=8), lambda: None)  # the deadline's timer
        new.start()
        try:
            assert await waiting is True
            assert until <= new.now() < until + timedelta(minutes=1)
        finally:
            await new.stop()

    asyncio.run(scenario())
