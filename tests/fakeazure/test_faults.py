"""The fault switchboard, driven through the real SDK clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.keyvault.secrets import SecretClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fakeazure import FakeAzure
from tests.fakeazure.conftest import Graph


def test_sdk_retries_a_throttled_request_after_retry_after(
    fake: FakeAzure, arm: ResourceManagementClient
) -> None:
    fake.faults.throttle("arm.resource_groups.put", times=1, retry_after=1)
    arm.resource_groups.create_or_update("rg", {"location": "eastus"})
    puts = [r for r in fake.requests if r.op == "arm.resource_groups.put"]
    assert [r.status for r in puts] == [429, 201]
    assert puts[1].time - puts[0].time >= 1
    assert fake.early_requests == []


def test_graph_429_is_retried_for_patch_too(fake: FakeAzure, graph: Graph) -> None:
    fake.faults.throttle("graph.applications.patch", retry_after=0)
    graph.create_application("hm-a")
    patches = [r.status for r in fake.requests if r.op == "graph.applications.patch"]
    assert patches == [429, 201]


def test_early_retries_are_recorded_by_the_fake_clock() -> None:
    now = [100.0]
    with FakeAzure(clock=lambda: now[0]) as fake:
        token = requests.get(
            fake.identity_endpoint,
            params={"api-version": "2019-08-01", "resource": "https://graph.microsoft.com"},
            headers={"X-IDENTITY-HEADER": fake.identity_header},
            verify=fake.ca_bundle,
            timeout=10,
        ).json()["access_token"]

        def list_applications() -> requests.Response:
            return requests.get(
                f"{fake.url}/v1.0/applications",
                headers={"Authorization": f"Bearer {token}"},
                verify=fake.ca_bundle,
                timeout=10,
            )

        fake.faults.throttle("graph.applications.list", times=1, retry_after=5)
        throttled = list_applications()
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "5"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        now[0] = 104.0
        assert list_applications().status_code == 200  # early, and served
        now[0] = 105.0
        assert list_applications().status_code == 200  # on time
        assert [r.time for r in fake.early_requests] == [104.0]


def test_principal_not_found_until_replicated(
    fake: FakeAzure, authorization: AuthorizationManagementClient, graph: Graph
) -> None:
    sp = graph.create_service_principal(graph.create_application("hm-a")["appId"])
    fake.faults.principal_not_found(times=2)
    scope = f"/subscriptions/{fake.subscription_id}"
    role = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{uuid.uuid4()}"
    body = {"properties": {"roleDefinitionId": role, "principalId": sp["id"]}}
    for _ in range(2):
        with pytest.raises(HttpResponseError) as failed:
            authorization.role_assignments.create(scope, str(uuid.uuid4()), body)
        assert failed.value.error is not None and failed.value.error.code == "PrincipalNotFound"
    authorization.role_assignments.create(scope, str(uuid.uuid4()), body)
    assert len(fake.role_assignments()) == 1


def test_no_backing_application_until_replicated(fake: FakeAzure, graph: Graph) -> None:
    app = graph.create_application("hm-a")
    fake.faults.no_backing_application(times=1)
    failed = graph.send("POST", "/servicePrincipals", json={"appId": app["appId"]})
    assert failed.status_code == 400
    assert failed.json()["error"]["details"][0]["code"] == "NoBackingApplicationObject"
    graph.create_service_principal(app["appId"])


def test_another_operation_in_progress(fake: FakeAzure, arm: ResourceManagementClient) -> None:
    fake.add_resource_group("rg")
    fake.faults.another_operation("arm.resource_groups.delete", match="/rg")
    with pytest.raises(ResourceExistsError) as busy:
        arm.resource_groups.begin_delete("rg")
    assert busy.value.error is not None
    assert busy.value.error.code == "RetryableErrorDueToAnotherOperation"
    arm.resource_groups.begin_delete("rg").result()


def test_failed_resource_group_delete_keeps_the_group(
    fake: FakeAzure, arm: ResourceManagementClient
) -> None:
    fake.add_resource_group("rg")
    fake.faults.fail_lro("arm.resource_groups.delete")
    with pytest.raises(HttpResponseError):
        arm.resource_groups.begin_delete("rg").result()
    assert arm.resource_groups.check_existence("rg")


def test_faults_match_by_path_and_clear(fake: FakeAzure, arm: ResourceManagementClient) -> None:
    fake.faults.throttle("arm.resource_groups.put", times=5, retry_after=0, match="/other")
    arm.resource_groups.create_or_update("mine", {"location": "eastus"})
    assert [r.status for r in fake.requests if r.op == "arm.resource_groups.put"] == [201]
    fake.faults.clear()
    arm.resource_groups.create_or_update("other", {"location": "eastus"})
    with pytest.raises(ValueError, match="unknown op"):
        fake.faults.throttle("arm.nope")
    with pytest.raises(ValueError, match="not long-running"):
        fake.faults.fail_lro("arm.resource_groups.put")


def test_hang_holds_one_request_while_others_proceed(
    fake: FakeAzure, vault: SecretClient, arm: ResourceManagementClient
) -> None:
    vault.set_secret("warm-up", "x")  # do the challenge round trip first
    release = fake.faults.hang("keyvault.secrets.put", match="/secrets/hm-a")
    worker = threading.Thread(target=vault.set_secret, args=("hm-a", "value"))
    worker.start()
    fake.faults.wait_hanging("keyvault.secrets.put", timeout=10)

    arm.resource_groups.create_or_update("rg", {"location": "eastus"})  # not blocked
    assert [s["id"].split("/")[-2] for s in fake.secrets()] == ["warm-up"]
    release.set()
    worker.join(timeout=10)
    assert sorted(s["value"] for s in fake.secrets()) == ["value", "x"]


def test_a_hung_request_of_a_killed_client_is_dropped(fake: FakeAzure) -> None:
    """The kill -9 scenario: the process dies while its secret PUT hangs; nothing is stored."""
    script = textwrap.dedent(
        f"""
        from azure.identity import ManagedIdentityCredential
        from azure.keyvault.secrets import SecretClient
        vault = SecretClient({fake.url + "/"!r}, ManagedIdentityCredential(),
                             verify_challenge_resource=False)
        vault.set_secret("hm-crash", "CANARY-never-stored")
        """
    )
    release = fake.faults.hang("keyvault.secrets.put")
    child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **fake.env()})
    try:
        fake.faults.wait_hanging("keyvault.secrets.put", timeout=60)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    release.set()
    (held,) = [r for r in fake.requests if r.op == "keyvault.secrets.put" and r.status != 401]
    deadline = time.monotonic() + 10
    while not held.dropped and time.monotonic() < deadline:
        time.sleep(0.02)
    assert held.dropped and held.status is None
    assert fake.secrets() == []


def test_wait_hanging_times_out(fake: FakeAzure) -> None:
    fake.faults.hang("keyvault.secrets.put")
    with pytest.raises(TimeoutError):
        fake.faults.wait_hanging("keyvault.secrets.put", timeout=0.1)
