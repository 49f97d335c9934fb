"""Storage that hangs or refuses writes: the API answers 503 in seconds, never hangs.

The host's storage goes through a proxy (tests/storage_proxy.py) in front of Azurite that
the test makes hang (requests held, unanswered) or refuse writes (500, as Azurite answers
with a full disk). The lease blob stays reachable, so the host keeps its task hub.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.app.helpers import App, app_host, wait_until
from tests.storage_proxy import StorageProxy, running_proxy

pytestmark = pytest.mark.slow


def unavailable(response: requests.Response) -> dict[str, Any]:
    """The 503 the API answers when storage does not: Retry-After and the error body."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["code"] == "storage_unavailable", body
    return dict(body["error"])


@pytest.fixture(scope="module")
def proxied(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[App, StorageProxy]]:
    """One host whose storage goes through the proxy, for every test of the module."""
    with running_proxy() as proxy:
        storage = proxy.connection_string
        with app_host(
            tmp_path_factory.mktemp("outage"), storage, AzureWebJobsStorage=storage
        ) as app:
            yield app, proxy


@pytest.fixture
def proxied_app(proxied: tuple[App, StorageProxy]) -> Iterator[tuple[App, StorageProxy]]:
    """The shared host, its storage working again after each test (also a failed one)."""
    yield proxied
    for service in ("blob", "queue", "table"):
        proxied[1].set(service, "pass")


def test_hung_storage_gets_503_with_retry_after_and_the_api_recovers(
    proxied_app: tuple[App, StorageProxy],
) -> None:
    app, proxy = proxied_app
    assert app.get("runs").status_code == 200
    known = app.start_run({"count": 1, "duration": "PT30M"})
    app.wait_for_run(known)

    proxy.set("table", "hang")
    # Sent together: each must come back on its own (the test's own timeout is 60 s).
    calls = {
        "list": lambda: app.get_once("runs"),
        "get": lambda: app.get_once(f"runs/{known}"),
        "events": lambda: app.get_once(f"runs/{known}/events"),
        "start": lambda: app.post("runs", {"count": 1, "duration": "PT30M"}),
        "health": lambda: app.get_once("health"),
    }
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        answers = dict(zip(calls, pool.map(lambda call: call(), calls.values()), strict=True))
    for name in ("list", "get", "events"):
        assert "did not answer" in unavailable(answers[name])["message"], name
    # A start that storage held up names the run id that finishes it without a second run.
    refused_start = unavailable(answers["start"])
    match = re.search(r'"run_id": "([a-z0-9-]+)"', refused_start["message"])
    assert match, refused_start
    health = answers["health"]
    assert health.status_code == 503 and health.json()["ok"] is False, health.text
    storage_check = next(c for c in health.json()["checks"] if c["name"] == "storage")
    assert storage_check["ok"] is False and "did not answer" in storage_check["detail"]

    proxy.set("table", "pass")
    wait_until(lambda: app.get_once("runs").status_code == 200, 60, "the API to answer again")
    retried = app.post("runs", {"count": 1, "duration": "PT30M", "run_id": match.group(1)})
    assert retried.status_code in (200, 202), retried.text
    app.runs.append(match.group(1))
    assert app.wait_for_run(match.group(1))["status"] == "completed"
    listed = [r["run_id"] for r in app.get("runs", limit=200).json()["runs"]]
    assert listed.count(match.group(1)) == 1


def test_deep_health_reports_storage_that_cannot_be_written(
    proxied_app: tuple[App, StorageProxy],
) -> None:
    app, proxy = proxied_app
    assert app.get("health", deep="true").json()["ok"] is True

    proxy.set("table", "refuse_writes")
    shallow = app.get("health")
    assert shallow.status_code == 200, shallow.text  # reads still work
    deep = app.get_once("health", deep="true")
    assert deep.status_code == 503 and deep.json()["ok"] is False, deep.text
    storage_check = next(c for c in deep.json()["checks"] if c["name"] == "storage")
    assert storage_check["ok"] is False, storage_check

    proxy.set("table", "pass")
    wait_until(lambda: app.get("health", deep="true").status_code == 200, 60, "deep health to pass")


def test_hung_storage_gets_a_bounded_503_from_the_management_api(
    proxied_app: tuple[App, StorageProxy],
) -> None:
    app, proxy = proxied_app
    proxy.set("table", "hang")
    answer = requests.get(
        f"{app.host.management}/instances", params={"code": app.host.system_key}, timeout=60
    )
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert "storage" in answer.json()["Message"]
    status = requests.get(f"{app.host.base_url}/admin/host/status", timeout=10)
    assert status.json()["state"] == "Running"  # the host itself is fine
    proxy.set("table", "pass")
    wait_until(lambda: app.instances() is not None, 60, "the management API to answer again")
