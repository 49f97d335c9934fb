"""Orchestrations run by devhost through the real azure-functions-durable replay engine.

Every test starts orchestrations over the management API (as curl would) against a host
on Azurite and asserts what a user sees: the output, the runtime status, the history.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.testing import HostHandle, running_host

APP = Path(__file__).parent / "apps" / "durable"


class Durable:
    """The management API, as a user would call it with curl."""

    def __init__(self, host: HostHandle):
        self.host = host
        self.params = {"code": host.system_key}

    def start(self, name: str, payload: Any = None, instance_id: str | None = None) -> str:
        url = f"{self.host.management}/orchestrators/{name}"
        if instance_id:
            url += f"/{instance_id}"
        response = requests.post(url, params=self.params, json=payload, timeout=10)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def status(self, instance_id: str, **query: Any) -> dict[str, Any]:
        response = requests.get(
            f"{self.host.management}/instances/{instance_id}",
            params={**self.params, **query},
            timeout=10,
        )
        assert response.status_code in (200, 202), response.text
        return dict(response.json())

    def raise_event(self, instance_id: str, name: str, payload: Any) -> None:
        response = requests.post(
            f"{self.host.management}/instances/{instance_id}/raiseEvent/{name}",
            params=self.params,
            json=payload,
            timeout=10,
        )
        assert response.status_code == 202, response.text

    def clock_ahead(self) -> float:
        """Seconds the host's (virtual) clock is ahead of real time."""
        response = requests.get(f"{self.host.base_url}/admin/host/clock", timeout=10)
        now = datetime.fromisoformat(response.json()["now"]).timestamp()
        return now - time.time()

    def terminate(self, instance_id: str, reason: str) -> None:
        response = requests.post(
            f"{self.host.management}/instances/{instance_id}/terminate",
            params={**self.params, "reason": reason},
            timeout=10,
        )
        assert response.status_code == 202, response.text

    def wait(
        self, instance_id: str, timeout: float = 30, until: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Poll until the instance reaches a final status (or one of `until`)."""
        final = ("Completed", "Failed", "Terminated", *until)
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(instance_id)
            if status["runtimeStatus"] in final:
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{instance_id} still {status['runtimeStatus']}: {status}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("durable") / "app"
    shutil.copytree(APP, target)
    return target


def _hub(suffix: str) -> str:
    return "t" + str(int(time.time() * 1000))[-10:] + suffix


@pytest.fixture(scope="module")
def durable(app_dir: Path, storage_connection_string: str) -> Iterator[Durable]:
    """A host on the virtual clock: timers fire as soon as the host is idle."""
    with running_host(app_dir, clock="virtual", hub=_hub("virtual")) as host:
        yield Durable(host)


@pytest.fixture(scope="module")
def durable_real(app_dir: Path, storage_connection_string: str) -> Iterator[Durable]:
    """A host on the real clock, for tests that raise events while a long timer waits."""
    with running_host(app_dir, clock="real", hub=_hub("real")) as host:
        yield Durable(host)


def test_sequence_runs_sync_and_async_activities_in_order(durable: Durable) -> None:
    instance = durable.start("sequence", ["a", "b"])
    status = durable.wait(instance)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["A", "A!", "B", "B!"]
    assert status["input"] == ["a", "b"]


def test_fan_out_gathers_every_result(durable: Durable) -> None:
    status = durable.wait(durable.start("fan_out", 100))
    assert status["output"] == sum(i * i for i in range(100))


def test_event_beats_timer_and_timer_is_cancelled(durable_real: Durable) -> None:
    instance = durable_real.start("approval", 3600)
    durable_real.wait(instance, until=("Running",))
    durable_real.raise_event(instance, "approve", "alice")
    status = durable_real.wait(instance)
    assert status["output"] == {"approved": True, "by": "alice"}


def test_timer_beats_missing_event(durable: Durable) -> None:
    status = durable.wait(durable.start("approval", 7200))
    assert status["output"] == {"approved": False}


def test_events_are_delivered_in_the_order_they_were_raised(durable_real: Durable) -> None:
    instance = durable_real.start("events_in_order", 3)
    durable_real.wait(instance, until=("Running",))
    for name in ("one", "two", "three"):
        durable_real.raise_event(instance, "item", name)
    assert durable_real.wait(instance)["output"] == ["one", "two", "three"]


def test_activity_retry_reaches_success_on_third_attempt(durable: Durable) -> None:
    status = durable.wait(durable.start("flaky_with_retry", "retry-key"))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == "retry-key after 3 attempts"
    history = durable.status(status["instanceId"], showHistory="true")["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds.count("TaskFailed") == 2
    assert kinds.count("TimerFired") == 2
    assert kinds.count("TaskCompleted") == 1


def test_sub_orchestrations_with_and_without_retry(durable: Durable) -> None:
    instance = durable.start("parent", "sub-key")
    status = durable.wait(instance)
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {
        "first": ["X", "X!"],
        "second": ["Y", "Y!"],
        "third": "sub-key after 3 attempts",
    }
    child = durable.status(f"{instance}-child")
    assert child["runtimeStatus"] == "Completed"


def test_continue_as_new_restarts_with_new_input_and_keeps_custom_status(durable: Durable) -> None:
    status = durable.wait(durable.start("counter", {"n": 0, "limit": 4}))
    assert status["output"] == 4
    assert status["customStatus"] == {"n": 4}
    history = durable.status(status["instanceId"], showHistory="true")["historyEvents"]
    # Only the last generation's history is kept: it stays small however long the loop runs.
    assert [e["EventType"] for e in history].count("ExecutionStarted") == 1


def test_orchestrator_exception_fails_the_instance_with_its_message(durable: Durable) -> None:
    status = durable.wait(durable.start("failing"))
    assert status["runtimeStatus"] == "Failed"
    assert "the orchestrator gave up on purpose" in status["output"]


def test_activity_exception_is_catchable_in_the_orchestrator(durable: Durable) -> None:
    status = durable.wait(durable.start("activity_error_caught"))
    assert status["output"].startswith("caught: ")
    assert "boom" in status["output"]


def test_unregistered_activity_fails_naming_it(durable: Durable) -> None:
    status = durable.wait(durable.start("calls_missing_activity"))
    assert status["runtimeStatus"] == "Failed"
    assert "no_such_activity" in status["output"]


def test_unregistered_sub_orchestrator_fails_naming_it(durable: Durable) -> None:
    status = durable.wait(durable.start("calls_missing_orchestrator"))
    assert status["runtimeStatus"] == "Failed"
    assert "no_such_orchestrator" in status["output"]


def test_starting_unknown_orchestrator_is_400_naming_it(durable: Durable) -> None:
    response = requests.post(
        f"{durable.host.management}/orchestrators/not_there", params=durable.params, timeout=10
    )
    assert response.status_code == 400
    assert "not_there" in response.json()["Message"]


def test_terminate_while_waiting_on_a_timer(durable_real: Durable) -> None:
    instance = durable_real.start("approval", 10**6)
    durable_real.wait(instance, until=("Running",))
    durable_real.terminate(instance, "no longer needed")
    status = durable_real.wait(instance)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "no longer needed"


def test_eight_hours_of_fifteen_minute_timers_pass_on_the_virtual_clock(durable: Durable) -> None:
    ahead = durable.clock_ahead()
    status = durable.wait(durable.start("long_wait"), timeout=120)
    assert status["output"]["polls"] == 32
    # Each timer fires at or just after its time, as in Azure: never early.
    assert 8.0 <= status["output"]["elapsed_hours"] < 8.01
    # The host's clock jumped over the waits instead of sitting through them.
    jumped = durable.clock_ahead() - ahead
    assert jumped >= 7 * 3600, f"the clock jumped only {jumped:.0f}s"


def test_history_is_in_storage_tables_named_for_the_hub(
    durable: Durable, storage_connection_string: str
) -> None:
    from azure.data.tables import TableServiceClient

    instance = durable.start("sequence", ["q"])
    durable.wait(instance)
    service = TableServiceClient.from_connection_string(storage_connection_string)
    hub = durable.host.hub
    row = service.get_table_client(f"{hub}Instances").get_entity(instance, "")
    assert row["RuntimeStatus"] == "Completed"
    history = list(
        service.get_table_client(f"{hub}History").query_entities(f"PartitionKey eq '{instance}'")
    )
    assert {e["EventType"] for e in history} >= {0, 4, 5, 12, 13}
    assert all(len(e["RowKey"]) == 16 for e in history)


def test_payloads_larger_than_a_table_property_round_trip(
    durable: Durable, storage_connection_string: str
) -> None:
    from azure.storage.blob import BlobServiceClient

    payload = "".join(f"{i:07d}" for i in range(20_000))  # 140,000 characters
    status = durable.wait(durable.start("echo_large", payload))
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"]["length"] == len(payload)
    assert status["output"]["payload"] == payload
    assert status["input"] == payload
    blobs = BlobServiceClient.from_connection_string(storage_connection_string)
    container = blobs.get_container_client(f"{str(durable.host.hub).lower()}-largemessages")
    names = [b.name for b in container.list_blobs(name_starts_with=status["instanceId"])]
    assert names, "large values are kept in the largemessages container"
