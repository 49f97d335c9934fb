"""The Durable HTTP management API under /runtime/webhooks/durabletask, called as curl
would call it: status codes, headers and bodies as the Durable extension answers."""

from __future__ import annotations

import concurrent.futures
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
STATUS_KEYS = {
    "name",
    "instanceId",
    "runtimeStatus",
    "input",
    "customStatus",
    "output",
    "createdTime",
    "lastUpdatedTime",
}
TIME_FORMAT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    with app_host("durable_app", tmp_path_factory.mktemp("mgmt"), hub=new_hub()) as handle:
        yield handle


def query(host: HostHandle, **extra: str) -> dict[str, str]:
    """What every management call carries: taskHub, connection and the system key."""
    assert host.hub is not None
    return {"taskHub": host.hub, "connection": "Storage", "code": host.system_key, **extra}


def start(
    host: HostHandle, name: str, value: Any = None, instance_id: str | None = None
) -> dict[str, Any]:
    url = f"{host.management}/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    response = requests.post(url, params=query(host), json=value, timeout=10)
    assert response.status_code == 202, response.text
    payload: dict[str, Any] = response.json()
    return payload


def instance_url(host: HostHandle, instance_id: str, operation: str = "") -> str:
    return f"{host.management}/instances/{instance_id}" + (f"/{operation}" if operation else "")


def get_status(host: HostHandle, instance_id: str, **flags: str) -> requests.Response:
    return requests.get(instance_url(host, instance_id), params=query(host, **flags), timeout=10)


def wait_running(host: HostHandle, instance_id: str, wanted: str = "Running") -> dict[str, Any]:
    return wait_until(
        lambda: (lambda r: r.json() if r.json().get("runtimeStatus") == wanted else None)(
            get_status(host, instance_id)
        ),
        message=f"{instance_id} to be {wanted}",
    )


def unique_prefix() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


# -- starting ----------------------------------------------------------------------------


def test_start_answers_202_with_check_status_payload_and_headers(host: HostHandle) -> None:
    response = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator",
        params=query(host),
        json="hi",
        timeout=10,
    )

    assert response.status_code == 202
    payload = response.json()
    assert set(payload) == CHECK_STATUS_KEYS
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    assert response.headers["Retry-After"] == "10"
    instance = f"{host.management}/instances/{payload['id']}"
    assert payload["statusQueryGetUri"].startswith(instance + "?")
    assert payload["sendEventPostUri"].startswith(instance + "/raiseEvent/{eventName}?")
    assert payload["terminatePostUri"].startswith(instance + "/terminate?reason={text}&")
    assert payload["suspendPostUri"].startswith(instance + "/suspend?reason={text}&")
    assert payload["resumePostUri"].startswith(instance + "/resume?reason={text}&")
    assert payload["purgeHistoryDeleteUri"].startswith(instance + "?")
    for name in CHECK_STATUS_KEYS - {"id"}:
        params = parse_qs(urlsplit(payload[name]).query)
        assert params["taskHub"] == [host.hub]
        assert params["connection"] == ["Storage"]
        assert params["code"] == [host.system_key]
    # The status-query URL works as it is, with nothing added.
    done = wait_for_status(payload["statusQueryGetUri"])
    assert done["output"] == {"input": "hi", "shouted": "HI"}


def test_start_with_an_instance_id_keeps_it(host: HostHandle) -> None:
    wanted = f"chosen-{uuid.uuid4().hex[:8]}"

    payload = start(host, "echo_orchestrator", "x", instance_id=wanted)

    assert payload["id"] == wanted
    assert f"/instances/{wanted}?" in payload["statusQueryGetUri"]


def test_a_finished_instance_id_started_again_runs_anew_with_only_its_new_history(
    host: HostHandle,
) -> None:
    wanted = f"again-{uuid.uuid4().hex[:8]}"
    start(host, "echo_orchestrator", "first", instance_id=wanted)
    wait_running(host, wanted, "Completed")

    start(host, "echo_orchestrator", "second", instance_id=wanted)
    done = wait_running(host, wanted, "Completed")

    assert done["output"] == {"input": "second", "shouted": "SECOND"}
    history = get_status(host, wanted, showHistory="true", showHistoryOutput="true").json()
    events = history["historyEvents"]
    started = [e for e in events if e["EventType"] == "ExecutionStarted"]
    assert [e["Input"] for e in started] == ["second"], events
    assert events[-1]["EventType"] == "ExecutionCompleted", events
    assert events[-1]["Result"] == {"input": "second", "shouted": "SECOND"}, events


def test_an_instance_done_in_one_episode_shows_each_run_until_purged(host: HostHandle) -> None:
    wanted = f"instant-{uuid.uuid4().hex[:8]}"
    start(host, "instant_orchestrator", "one", instance_id=wanted)
    first = wait_running(host, wanted, "Completed")
    start(host, "instant_orchestrator", "two", instance_id=wanted)
    second = wait_running(host, wanted, "Completed")
    again = get_status(host, wanted)
    start(host, "approval_orchestrator", instance_id=wanted)  # runs on: not done at once
    waiting = get_status(host, wanted)
    requests.post(instance_url(host, wanted, "terminate"), params=query(host), timeout=10)
    wait_running(host, wanted, "Terminated")
    waited = requests.post(
        f"{host.management}/orchestrators/instant_orchestrator/{wanted}",
        params=query(host, timeout="30"),
        json="three",
        timeout=40,
    )
    purged = requests.delete(instance_url(host, wanted), params=query(host), timeout=10)
    after = get_status(host, wanted)
    large = "x" * 50_000  # kept in a blob, and not kept in memory
    start(host, "instant_orchestrator", large, instance_id=f"{wanted}-large")
    large_status = wait_running(host, f"{wanted}-large", "Completed")

    assert (first["input"], first["output"]) == ("one", "one")
    assert (second["input"], second["output"]) == ("two", "two")
    assert again.status_code == 200 and again.json() == second
    assert (waiting.status_code, waiting.json()["runtimeStatus"]) == (202, "Running")
    assert waiting.json()["name"] == "approval_orchestrator"
    assert set(second) == STATUS_KEYS
    assert TIME_FORMAT.fullmatch(second["createdTime"])
    assert TIME_FORMAT.fullmatch(second["lastUpdatedTime"])
    assert (waited.status_code, waited.json()) == (200, "three")
    assert (purged.status_code, purged.json()) == (200, {"instancesDeleted": 1})
    assert after.status_code == 404
    assert (large_status["input"], large_status["output"]) == (large, large)


def test_a_start_refused_as_a_duplicate_is_followed_by_a_status_that_finds_it(
    host: HostHandle,
) -> None:
    """Two starts with one id race: the loser's 409 means the instance exists, so a status
    query right after it must find the instance, even while the winner still writes.

    The instance waits for an event: one that had already finished when the second start
    came (a loaded machine may run one request well after the other) would rightly be
    started again (202), as a finished instance's id may be reused."""
    url = f"{host.management}/orchestrators/approval_orchestrator"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(15):
            wanted = f"twice-{uuid.uuid4().hex[:8]}"

            def start_then_status(_: int, wanted: str = wanted) -> tuple[int, int]:
                started = requests.post(f"{url}/{wanted}", params=query(host), json=1, timeout=10)
                return started.status_code, get_status(host, wanted).status_code

            answers = sorted(pool.map(start_then_status, range(2)))
            approved = requests.post(
                instance_url(host, wanted, "raiseEvent/approval"),
                params=query(host),
                json=True,
                timeout=10,
            )
            assert [code for code, _ in answers] == [202, 409], answers
            assert all(status in (200, 202) for _, status in answers), answers
            assert approved.status_code == 202, approved.text


def test_an_event_raised_while_its_instance_starts_is_accepted(host: HostHandle) -> None:
    """An event that comes while a start of its instance still writes the instance's row
    is taken (202) and delivered: never refused as if the instance were finished (410)."""
    url = f"{host.management}/orchestrators/approval_orchestrator"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for _ in range(5):
            wanted = f"raced-{uuid.uuid4().hex[:8]}"
            event = instance_url(host, wanted, "raiseEvent/approval")

            def raise_until_found(wanted: str = wanted, event: str = event) -> int:
                while True:
                    answer = requests.post(event, params=query(host), json="yes", timeout=10)
                    if answer.status_code != 404:
                        return answer.status_code

            raised = pool.submit(raise_until_found)
            started = requests.post(f"{url}/{wanted}", params=query(host), timeout=10)
            assert started.status_code == 202, started.text
            assert raised.result(timeout=30) == 202
            completed = wait_running(host, wanted, "Completed")
            assert completed["output"] == {"approval": "yes"}, completed


def test_start_with_bad_json_is_400_and_starts_nothing(host: HostHandle) -> None:
    prefix = unique_prefix()

    response = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator/{prefix}-bad",
        params=query(host),
        data=b'{"not": json',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 400
    assert get_status(host, f"{prefix}-bad").status_code == 404


def test_start_with_timeout_waits_for_the_output_or_answers_202(host: HostHandle) -> None:
    quick = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator",
        params=query(host, timeout="10", pollingInterval="0.05"),
        json="soon",
        timeout=30,
    )
    slow = requests.post(
        f"{host.management}/orchestrators/sleeper",
        params=query(host, timeout="0.3", pollingInterval="0.1"),
        json=3600,
        timeout=30,
    )

    assert (quick.status_code, quick.json()) == (200, {"input": "soon", "shouted": "SOON"})
    assert slow.status_code == 202
    assert set(slow.json()) == CHECK_STATUS_KEYS
    assert slow.headers["Location"] == slow.json()["statusQueryGetUri"]


def test_start_of_an_unknown_orchestrator_is_400(host: HostHandle) -> None:
    response = requests.post(
        f"{host.management}/orchestrators/no_such_function", params=query(host), timeout=10
    )

    assert response.status_code == 400
    assert "no_such_function" in response.text


# -- auth --------------------------------------------------------------------------------


@pytest.mark.parametrize("key_name", [None, "wrong", "function"])
def test_calls_without_the_system_key_are_401(host: HostHandle, key_name: str | None) -> None:
    key = {None: None, "wrong": "not-a-key", "function": host.function_key}[key_name]
    params = {"taskHub": str(host.hub), "connection": "Storage"}
    if key:
        params["code"] = key

    responses = [
        requests.get(f"{host.management}/instances/anything", params=params, timeout=10),
        requests.get(f"{host.management}/instances/", params=params, timeout=10),
        requests.post(f"{host.management}/orchestrators/echo_orchestrator", params=params),
        requests.delete(f"{host.management}/instances/anything", params=params, timeout=10),
    ]

    assert [r.status_code for r in responses] == [401, 401, 401, 401]


def test_system_key_in_header_and_master_key_are_accepted(host: HostHandle) -> None:
    by_header = requests.get(
        f"{host.management}/instances/nobody",
        headers={"x-functions-key": host.system_key},
        timeout=10,
    )
    by_master = requests.get(
        f"{host.management}/instances/nobody", params={"code": host.master_key}, timeout=10
    )

    assert by_header.status_code == 404
    assert by_master.status_code == 404


# -- status ------------------------------------------------------------------------------


def test_status_of_a_running_instance_is_202_with_location_and_retry_after(
    host: HostHandle,
) -> None:
    payload = start(host, "approval_orchestrator")
    wait_running(host, payload["id"])

    response = get_status(host, payload["id"])

    assert response.status_code == 202
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    body = response.json()
    assert set(body) == STATUS_KEYS
    assert body["runtimeStatus"] == "Running"
    assert body["customStatus"] == {"stage": "waiting for approval"}


def test_status_of_a_completed_instance_is_200_with_the_documented_body(
    host: HostHandle,
) -> None:
    payload = start(host, "echo_orchestrator", "body")
    wait_for_status(payload["statusQueryGetUri"])

    plain = get_status(host, payload["id"])
    no_input = get_status(host, payload["id"], showInput="false")
    history = get_status(host, payload["id"], showHistory="true")
    history_output = get_status(host, payload["id"], showHistory="true", showHistoryOutput="true")

    assert plain.status_code == 200
    assert "Location" not in plain.headers
    body = plain.json()
    assert set(body) == STATUS_KEYS
    assert body["name"] == "echo_orchestrator"
    assert body["instanceId"] == payload["id"]
    assert body["runtimeStatus"] == "Completed"
    assert body["input"] == "body"
    assert body["output"] == {"input": "body", "shouted": "BODY"}
    assert body["customStatus"] is None
    assert TIME_FORMAT.fullmatch(body["createdTime"])
    assert TIME_FORMAT.fullmatch(body["lastUpdatedTime"])
    assert no_input.json()["input"] is None
    events = history.json()["historyEvents"]
    assert [e["EventType"] for e in events] == [
        "ExecutionStarted",
        "TaskCompleted",
        "ExecutionCompleted",
    ]
    assert "Result" not in events[1]
    assert history_output.json()["historyEvents"][1]["Result"] == "BODY"


def test_status_of_a_failed_instance_is_200_or_500_when_asked(host: HostHandle) -> None:
    payload = start(host, "failing_orchestrator", "bad input")
    wait_for_status(payload["statusQueryGetUri"])

    normal = get_status(host, payload["id"])
    asked = get_status(host, payload["id"], returnInternalServerErrorOnFailure="true")

    assert normal.status_code == 200
    assert normal.json()["runtimeStatus"] == "Failed"
    assert "explode: this activity fails on purpose" in str(normal.json()["output"])
    assert asked.status_code == 500
    assert asked.json()["runtimeStatus"] == "Failed"


def test_unknown_instance_is_404_everywhere(host: HostHandle) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"

    responses = {
        "status": get_status(host, missing),
        "raise": requests.post(
            instance_url(host, missing, "raiseEvent/go"), params=query(host), json={}
        ),
        "terminate": requests.post(
            instance_url(host, missing, "terminate"), params=query(host, reason="x")
        ),
        "suspend": requests.post(instance_url(host, missing, "suspend"), params=query(host)),
        "resume": requests.post(instance_url(host, missing, "resume"), params=query(host)),
        "purge": requests.delete(instance_url(host, missing), params=query(host), timeout=10),
    }

    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)


# -- events and control ------------------------------------------------------------------


def test_raise_event_then_410_once_finished(host: HostHandle) -> None:
    payload = start(host, "approval_orchestrator")
    wait_running(host, payload["id"])
    send_event = payload["sendEventPostUri"].replace("{eventName}", "approval")

    bad_json = requests.post(
        send_event, data=b"{oops", headers={"Content-Type": "application/json"}, timeout=10
    )
    raised = requests.post(send_event, json={"approved": True}, timeout=10)
    done = wait_for_status(payload["statusQueryGetUri"])
    again = requests.post(send_event, json={"approved": False}, timeout=10)
    terminate = requests.post(payload["terminatePostUri"].replace("{text}", "too late"), timeout=10)

    assert bad_json.status_code == 400
    assert raised.status_code == 202
    assert done["output"] == {"approval": {"approved": True}}
    assert again.status_code == 410
    assert terminate.status_code == 410


def test_suspend_resume_and_terminate(host: HostHandle) -> None:
    payload = start(host, "sleeper", 3600)
    wait_running(host, payload["id"])

    suspend = requests.post(payload["suspendPostUri"].replace("{text}", "pause"), timeout=10)
    suspended = wait_running(host, payload["id"], "Suspended")
    suspended_response = get_status(host, payload["id"])
    resume = requests.post(payload["resumePostUri"].replace("{text}", "go on"), timeout=10)
    wait_running(host, payload["id"], "Running")
    terminate = requests.post(payload["terminatePostUri"].replace("{text}", "stop now"))
    terminated = wait_for_status(payload["statusQueryGetUri"])
    terminate_again = requests.post(payload["terminatePostUri"].replace("{text}", "again"))

    assert (suspend.status_code, resume.status_code, terminate.status_code) == (202, 202, 202)
    assert suspended["runtimeStatus"] == "Suspended"
    # Suspended is not finished: still 202 with a Location to poll.
    assert suspended_response.status_code == 202
    assert suspended_response.headers["Retry-After"] == "5"
    assert terminated["runtimeStatus"] == "Terminated"
    assert terminated["output"] == "stop now"
    assert terminate_again.status_code == 410


# -- listing -----------------------------------------------------------------------------


def list_instances(
    host: HostHandle, continuation: str | None = None, **params: str
) -> requests.Response:
    headers = {"x-ms-continuation-token": continuation} if continuation else None
    return requests.get(
        f"{host.management}/instances/", params=query(host, **params), headers=headers, timeout=10
    )


def test_list_filters_on_runtime_status_created_time_and_prefix(host: HostHandle) -> None:
    prefix = unique_prefix()
    before = datetime.now(UTC) - timedelta(seconds=2)
    running = start(host, "approval_orchestrator", instance_id=f"{prefix}-running")["id"]
    done = start(host, "echo_orchestrator", "d", instance_id=f"{prefix}-done")
    wait_for_status(done["statusQueryGetUri"])
    wait_running(host, running)
    other = start(host, "echo_orchestrator", "o", instance_id=f"other-{prefix}")["id"]

    def ids(**params: str) -> list[str]:
        response = list_instances(host, **params)
        assert response.status_code == 200, response.text
        return sorted(s["instanceId"] for s in response.json())

    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = (before - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(instanceIdPrefix=prefix) == sorted([running, done["id"]])
    assert other in ids()
    assert ids(instanceIdPrefix=prefix, runtimeStatus="Running") == [running]
    assert ids(instanceIdPrefix=prefix, runtimeStatus="Completed") == [done["id"]]
    assert ids(instanceIdPrefix=prefix, runtimeStatus="Running,Completed") == sorted(
        [running, done["id"]]
    )
    assert ids(instanceIdPrefix=prefix, runtimeStatus="Failed") == []
    assert ids(instanceIdPrefix=prefix, createdTimeFrom=earlier) == sorted([running, done["id"]])
    assert ids(instanceIdPrefix=prefix, createdTimeFrom=later) == []
    assert ids(instanceIdPrefix=prefix, createdTimeTo=earlier) == []
    listed = list_instances(host, instanceIdPrefix=prefix, runtimeStatus="Running").json()
    assert set(listed[0]) == STATUS_KEYS
    assert listed[0]["name"] == "approval_orchestrator"


def test_list_pages_with_top_and_continuation_token(host: HostHandle) -> None:
    prefix = unique_prefix()
    started = {start(host, "echo_orchestrator", str(n), f"{prefix}-{n}")["id"] for n in range(5)}

    pages: list[list[str]] = []
    token: str | None = None
    while True:
        response = list_instances(
            host,
            continuation=token,
            instanceIdPrefix=prefix,
            top="2",
        )
        assert response.status_code == 200
        pages.append([s["instanceId"] for s in response.json()])
        token = response.headers.get("x-ms-continuation-token")
        if not token:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(i for page in pages for i in page) == sorted(started)


# -- purging -----------------------------------------------------------------------------


def test_purge_one_instance(host: HostHandle) -> None:
    payload = start(host, "echo_orchestrator", "purge me")
    wait_for_status(payload["statusQueryGetUri"])

    purged = requests.delete(payload["purgeHistoryDeleteUri"], timeout=10)
    status_after = requests.get(payload["statusQueryGetUri"], timeout=10)
    purged_again = requests.delete(payload["purgeHistoryDeleteUri"], timeout=10)

    assert (purged.status_code, purged.json()) == (200, {"instancesDeleted": 1})
    assert status_after.status_code == 404
    assert purged_again.status_code == 404


def test_purge_by_created_time(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host("durable_app", tmp_path, hub=unique_name) as own:
        since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        finished = [start(own, "echo_orchestrator", str(n)) for n in range(3)]
        for payload in finished:
            wait_for_status(payload["statusQueryGetUri"])
        running = start(own, "approval_orchestrator")["id"]
        wait_running(own, running)

        without_from = requests.delete(f"{own.management}/instances/", params=query(own))
        purged = requests.delete(
            f"{own.management}/instances/", params=query(own, createdTimeFrom=since)
        )
        left = list_instances(own).json()
        nothing_left = requests.delete(
            f"{own.management}/instances/", params=query(own, createdTimeFrom=since)
        )

    assert without_from.status_code == 400
    assert (purged.status_code, purged.json()) == (200, {"instancesDeleted": 3})
    # Only finished instances are purged; the running one stays.
    assert [s["instanceId"] for s in left] == [running]
    assert nothing_left.status_code == 404
