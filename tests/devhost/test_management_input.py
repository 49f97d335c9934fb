"""Bad input to the Durable management API: a prompt 400 naming the parameter, never a 500.

Instance ids follow the Durable Functions extension's rules (devhost/api_input.py): no
leading @, none of / \\ # ? or control characters, at most 256 UTF-16 code units. Before
these checks such ids reached storage, which refused them, and the host answered 500
after seconds of retried writes.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from devhost.testing import HostHandle
from tests.devhost.helpers import app_host, new_hub, wait_for_status

pytestmark = pytest.mark.slow

# (raw id, why it is refused): each as it would arrive in a URL path, percent-encoded.
BAD_IDS = [
    ("a#b", "#"),
    ("a/b", "/"),
    ("a\\b", "\\"),
    ("a\x00b", "control"),
    ("a?b", "?"),
    ("a\x1fb", "control"),
    ("a\x7fb", "control"),
    ("a\x85b", "control"),  # C1 controls count too (char.IsControl)
    ("x" * 257, "257"),
    ("\U0001f600" * 129, "258"),  # 129 characters, but 258 UTF-16 code units
]


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    with app_host("durable_app", tmp_path_factory.mktemp("input"), hub=new_hub()) as handle:
        yield handle


def params(host: HostHandle, **extra: str) -> dict[str, str]:
    assert host.hub is not None
    return {"taskHub": host.hub, "connection": "Storage", "code": host.system_key, **extra}


def refused(response: requests.Response, parameter: str) -> str:
    """A 400 whose message names `parameter`; returns the message."""
    assert response.status_code == 400, (response.status_code, response.text)
    message = str(response.json()["Message"])
    assert parameter in message, message
    return message


def path_id(instance_id: str) -> str:
    return quote(instance_id, safe="")


@pytest.mark.parametrize(("instance_id", "why"), BAD_IDS)
def test_ids_the_extension_refuses_are_400_on_every_route(
    host: HostHandle, instance_id: str, why: str
) -> None:
    base = f"{host.management}/instances/{path_id(instance_id)}"
    start = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator/{path_id(instance_id)}",
        params=params(host),
        json="x",
        timeout=30,
    )
    assert why in refused(start, "instanceId")
    for response in (
        requests.get(base, params=params(host), timeout=30),
        requests.delete(base, params=params(host), timeout=30),
        requests.post(f"{base}/raiseEvent/go", params=params(host), json=1, timeout=30),
        requests.post(f"{base}/terminate", params=params(host), timeout=30),
        requests.post(f"{base}/restart", params=params(host), timeout=30),
        requests.post(f"{base}/rewind", params=params(host), timeout=30),
    ):
        refused(response, "instanceId")


def test_the_longest_id_and_the_at_sign_rule(host: HostHandle) -> None:
    longest = "\U0001f600" * 128  # exactly 256 UTF-16 code units
    started = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator/{path_id(longest)}",
        params=params(host),
        json="x",
        timeout=30,
    )
    assert started.status_code == 202, started.text
    assert wait_for_status(started.json()["statusQueryGetUri"])["instanceId"] == longest
    entity_like = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator/{path_id('@counter@one')}",
        params=params(host),
        timeout=30,
    )
    assert "@" in refused(entity_like, "instanceId")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # Python's parser would overflow its recursion
        b"[" * 65 + b"]" * 65,  # parses, but deeper than Json.NET's default MaxDepth
        b"9" * 5000,  # more digits than int() converts
        b"\xff\xfe",
        b'{"a": ',
    ],
)
def test_bodies_that_are_not_usable_json_are_400(host: HostHandle, body: bytes) -> None:
    instance_id = f"body-{uuid.uuid4().hex[:8]}"
    start = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator/{instance_id}",
        params=params(host),
        data=body,
        timeout=30,
    )
    refused(start, "input")
    assert (
        requests.get(
            f"{host.management}/instances/{instance_id}", params=params(host), timeout=30
        ).status_code
        == 404
    )
    event = requests.post(
        f"{host.management}/instances/{instance_id}/raiseEvent/go",
        params=params(host),
        data=body,
        timeout=30,
    )
    refused(event, "eventData")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"createdTimeFrom": "9999-12-31T23:59:59-23:59"}, "createdTimeFrom"),
        ({"createdTimeTo": "0001-01-01T00:00:00+01:00"}, "createdTimeTo"),
        ({"createdTimeFrom": "yesterday"}, "createdTimeFrom"),
        ({"top": "-1"}, "top"),
        ({"top": "0"}, "top"),
        ({"top": "x"}, "top"),
        ({"top": "9" * 50}, "top"),
        ({"runtimeStatus": "Sleeping"}, "runtimeStatus"),
        ({"instanceIdPrefix": "a/b"}, "instanceIdPrefix"),
        ({"showInput": "maybe"}, "showInput"),
    ],
)
def test_bad_list_parameters_are_400_naming_them(
    host: HostHandle, query: dict[str, str], parameter: str
) -> None:
    response = requests.get(
        f"{host.management}/instances", params=params(host, **query), timeout=30
    )
    message = refused(response, parameter)
    assert "invalid literal" not in message  # says what is wrong, in the API's words
    if "createdTimeFrom" in query:
        purge = requests.delete(
            f"{host.management}/instances", params=params(host, **query), timeout=30
        )
        refused(purge, parameter)


@pytest.mark.parametrize(
    "token",
    ["garbage!!", base64.b64encode(b"-5").decode(), base64.b64encode(b"abc").decode(), "LTU"],
)
def test_a_continuation_token_devhost_never_issued_is_400(host: HostHandle, token: str) -> None:
    response = requests.get(
        f"{host.management}/instances",
        params=params(host),
        headers={"x-ms-continuation-token": token},
        timeout=30,
    )
    refused(response, "x-ms-continuation-token")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("showHistory", "yes"),
        ("showHistoryOutput", "1"),
        ("returnInternalServerErrorOnFailure", "x"),
    ],
)
def test_bad_flags_and_timeouts_are_400(host: HostHandle, flag: str, value: str) -> None:
    started = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator", params=params(host), timeout=30
    )
    status_url = started.json()["statusQueryGetUri"]
    refused(requests.get(status_url, params={flag: value}, timeout=30), flag)
    for timeout in ("soon", "-1", "nan", "1e309"):
        waiting = requests.post(
            f"{host.management}/orchestrators/echo_orchestrator",
            params=params(host, timeout=timeout),
            timeout=30,
        )
        refused(waiting, "timeout")


def test_a_start_that_waits_reads_every_parameter_first(host: HostHandle) -> None:
    """A refused start starts nothing: the check comes before the instance is created."""
    instance_id = f"nothing-{uuid.uuid4().hex[:8]}"
    response = requests.post(
        f"{host.management}/orchestrators/echo_orchestrator/{instance_id}",
        params=params(host, timeout="forever"),
        json="x",
        timeout=30,
    )
    refused(response, "timeout")
    assert (
        requests.get(
            f"{host.management}/instances/{instance_id}", params=params(host), timeout=30
        ).status_code
        == 404
    )
