"""durable_client_input end to end: the SDK's DurableOrchestrationClient, unchanged, called
from HTTP functions of tests/devhost/apps/durable_app (see its client_api.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devhost.testing import HostHandle
from tests.devhost.helpers import app_host, new_hub, wait_for_status, wait_until

pytestmark = pytest.mark.slow

CHECK_STATUS_KEYS = {
    "id",
    "statusQueryGetUri",
    "sendEventPostUri",
    "terminatePostUri",
    "rewindPostUri",
    "purgeHistoryDeleteUri",
    "restartPostUri",
    "suspendPostUri",
    "resumePostUri",
}


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    with app_host("durable_app", tmp_path_factory.mktemp("client"), hub=new_hub()) as handle:
        yield handle


def unique_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def start(host: HostHandle, name: str, value: Any = None, instance_id: str | None = None) -> str:
    path = f"{host.api}/client/start/{name}" + (f"/{instance_id}" if instance_id else "")
    response = requests.post(path, json=value, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def status(host: HostHandle, instance_id: str, **flags: str) -> dict[str, Any]:
    response = requests.get(f"{host.api}/client/status/{instance_id}", params=flags, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_status(host: HostHandle, instance_id: str, wanted: str, **flags: str) -> dict[str, Any]:
    return wait_until(
        lambda: (lambda s: s if s.get("runtimeStatus") == wanted else None)(
            status(host, instance_id, **flags)
        ),
        message=f"{instance_id} to be {wanted}",
    )


def operate(host: HostHandle, operation: str, instance_id: str, reason: str) -> requests.Response:
    return requests.post(
        f"{host.api}/client/{operation}/{instance_id}", params={"reason": reason}, timeout=10
    )


def test_start_new_without_an_id_runs_the_orchestration(host: HostHandle) -> None:
    instance_id = start(host, "echo_orchestrator", "hello")

    done = wait_status(host, instance_id, "Completed")

    assert re.fullmatch(r"[0-9a-f]{32}", instance_id)
    assert done["name"] == "echo_orchestrator"
    assert done["output"] == {"input": "hello", "shouted": "HELLO"}


def test_start_new_with_an_instance_id_uses_it(host: HostHandle) -> None:
    wanted = unique_id("order")

    instance_id = start(host, "echo_orchestrator", "abc", instance_id=wanted)

    assert instance_id == wanted
    assert wait_status(host, wanted, "Completed")["output"]["shouted"] == "ABC"


def test_start_new_of_an_unknown_orchestrator_raises_in_the_client(host: HostHandle) -> None:
    response = requests.post(f"{host.api}/client/start/no_such_orchestrator", timeout=10)

    assert response.status_code == 500
    assert "no_such_orchestrator" in response.json()["error"]
    assert "doesn't exist" in response.json()["error"]


def test_get_status_with_history_input_and_history_output(host: HostHandle) -> None:
    instance_id = start(host, "echo_orchestrator", "quiet")
    wait_status(host, instance_id, "Completed")

    detailed = status(host, instance_id, history="true", historyOutput="true", input="true")
    plain = status(host, instance_id)

    assert detailed["input"] == "quiet"
    events = detailed["history"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    assert events[0]["FunctionName"] == "echo_orchestrator"
    assert events[1]["FunctionName"] == "shout"
    assert events[1]["Result"] == "QUIET"
    assert events[2]["Result"] == {"input": "quiet", "shouted": "QUIET"}
    assert plain["history"] is None
    created = datetime.fromisoformat(detailed["createdTime"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=5)


def test_get_status_of_an_unknown_instance_is_empty(host: HostHandle) -> None:
    assert status(host, unique_id("missing")) == {"found": False}


def test_get_status_by_filters_on_status_prefix_and_created_time(host: HostHandle) -> None:
    prefix = unique_id("by")
    before = datetime.now(UTC) - timedelta(seconds=5)
    running = start(host, "approval_orchestrator", instance_id=f"{prefix}-running")
    done = start(host, "echo_orchestrator", "x", instance_id=f"{prefix}-done")
    wait_status(host, running, "Running")
    wait_status(host, done, "Completed")

    def ids(**params: str) -> set[str]:
        response = requests.get(f"{host.api}/client/status-by", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return {s["instanceId"] for s in response.json()}

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ids(prefix=prefix) == {running, done}
    assert ids(prefix=prefix, runtimeStatus="Running") == {running}
    assert ids(prefix=prefix, runtimeStatus="Completed,Failed") == {done}
    assert ids(prefix=prefix, **{"from": before.isoformat()}) == {running, done}
    assert ids(prefix=prefix, **{"from": later}) == set()
    assert ids(prefix=prefix, to=before.isoformat()) == set()


def test_get_status_all_lists_every_instance(host: HostHandle) -> None:
    started = {start(host, "echo_orchestrator", "a"), start(host, "echo_orchestrator", "b")}

    response = requests.get(f"{host.api}/client/status-all", timeout=10)

    assert response.status_code == 200
    listed = {s["instanceId"]: s for s in response.json()}
    assert started <= set(listed)
    assert all(listed[i]["name"] == "echo_orchestrator" for i in started)


def test_raise_event_completes_a_waiting_orchestration(host: HostHandle) -> None:
    instance_id = start(host, "approval_orchestrator")
    waiting = wait_status(host, instance_id, "Running")
    assert waiting["customStatus"] == {"stage": "waiting for approval"}

    raised = requests.post(
        f"{host.api}/client/raise/{instance_id}/approval", json={"by": "ada"}, timeout=10
    )
    done = wait_status(host, instance_id, "Completed")
    again = requests.post(f"{host.api}/client/raise/{instance_id}/approval", json={}, timeout=10)
    unknown = requests.post(f"{host.api}/client/raise/{unique_id('nobody')}/approval", json={})

    assert raised.status_code == 200, raised.text
    assert done["output"] == {"approval": {"by": "ada"}}
    assert done["customStatus"] == {"stage": "approved"}
    # The SDK turns the host's 410 and 404 into these exceptions.
    assert again.status_code == 500 and "is gone" in again.json()["error"]
    assert unknown.status_code == 500 and "No instance with ID" in unknown.json()["error"]


def test_terminate_ends_a_running_orchestration_with_the_reason(host: HostHandle) -> None:
    instance_id = start(host, "sleeper", 3600)
    wait_status(host, instance_id, "Running")

    terminated = operate(host, "terminate", instance_id, "no longer needed")
    final = wait_status(host, instance_id, "Terminated")
    unknown = operate(host, "terminate", unique_id("nobody"), "x")

    assert terminated.status_code == 200, terminated.text
    assert final["output"] == "no longer needed"
    assert unknown.status_code == 500 and "No instance with ID" in unknown.json()["error"]


def test_suspend_holds_events_until_resume(host: HostHandle) -> None:
    instance_id = start(host, "approval_orchestrator")
    wait_status(host, instance_id, "Running")

    suspended = operate(host, "suspend", instance_id, "maintenance")
    wait_status(host, instance_id, "Suspended")
    raised = requests.post(
        f"{host.api}/client/raise/{instance_id}/approval", json="while suspended", timeout=10
    )
    still_suspended = status(host, instance_id)
    resumed = operate(host, "resume", instance_id, "maintenance over")
    done = wait_status(host, instance_id, "Completed")

    assert suspended.status_code == 200 and resumed.status_code == 200
    assert raised.status_code == 200
    assert still_suspended["runtimeStatus"] == "Suspended"
    assert done["output"] == {"approval": "while suspended"}


def test_purge_instance_history_deletes_one_instance(host: HostHandle) -> None:
    instance_id = start(host, "echo_orchestrator", "gone soon")
    wait_status(host, instance_id, "Completed")

    first = requests.delete(f"{host.api}/client/purge/{instance_id}", timeout=10)
    second = requests.delete(f"{host.api}/client/purge/{instance_id}", timeout=10)

    assert first.json() == {"instancesDeleted": 1}
    assert second.json() == {"instancesDeleted": 0}
    assert status(host, instance_id) == {"found": False}


def test_purge_instance_history_by_time_and_status(host: HostHandle) -> None:
    since = datetime.now(UTC)
    finished = [start(host, "echo_orchestrator", str(n)) for n in range(2)]
    running = start(host, "approval_orchestrator")
    for instance_id in finished:
        wait_status(host, instance_id, "Completed")
    wait_status(host, running, "Running")

    purged = requests.delete(
        f"{host.api}/client/purge-by",
        params={"from": since.isoformat(), "runtimeStatus": "Completed"},
        timeout=10,
    )

    assert purged.status_code == 200, purged.text
    assert purged.json() == {"instancesDeleted": 2}
    assert all(status(host, i) == {"found": False} for i in finished)
    assert status(host, running)["runtimeStatus"] == "Running"


def test_create_check_status_response_urls_work_as_is(host: HostHandle) -> None:
    response = requests.post(
        f"{host.api}/client/check-status/echo_orchestrator", json="ping", timeout=10
    )

    assert response.status_code == 202
    payload = response.json()
    assert set(payload) == CHECK_STATUS_KEYS
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    assert payload["statusQueryGetUri"].startswith(f"{host.management}/instances/{payload['id']}?")
    assert f"code={host.system_key}" in payload["statusQueryGetUri"]
    done = wait_for_status(payload["statusQueryGetUri"])
    assert done["output"] == {"input": "ping", "shouted": "PING"}


def test_wait_for_completion_returns_the_output_when_done_in_time(host: HostHandle) -> None:
    response = requests.post(
        f"{host.api}/client/wait/echo_orchestrator",
        params={"timeoutMs": "10000", "intervalMs": "50"},
        json="fast",
        timeout=30,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"input": "fast", "shouted": "FAST"}


def test_wait_for_completion_times_out_with_a_check_status_response(host: HostHandle) -> None:
    response = requests.post(
        f"{host.api}/client/wait/sleeper",
        params={"timeoutMs": "300", "intervalMs": "100"},
        json=3600,
        timeout=30,
    )

    assert response.status_code == 202
    payload = response.json()
    assert set(payload) == CHECK_STATUS_KEYS
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    still_running = requests.get(payload["statusQueryGetUri"], timeout=10)
    assert still_running.status_code == 202
    assert still_running.json()["runtimeStatus"] == "Running"
