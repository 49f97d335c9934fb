"""The fake's server: TLS, managed identity, authentication, routing, request log, snapshots."""

from __future__ import annotations

import pytest
import requests
from azure.core.credentials import TokenCredential
from azure.identity import ManagedIdentityCredential
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fakeazure import FakeAzure


def test_env_names_what_a_process_needs(fake: FakeAzure) -> None:
    env = fake.env()
    assert env["IDENTITY_ENDPOINT"] == f"{fake.url}/msi/token" == fake.identity_endpoint
    assert env["IDENTITY_HEADER"] == fake.identity_header
    assert env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"] == fake.ca_bundle
    assert fake.url.startswith("https://127.0.0.1:")


def test_tls_is_verified_with_the_ca_bundle_only(fake: FakeAzure) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{fake.url}/nothing", verify=True, timeout=10)
    response = requests.get(f"{fake.url}/nothing", verify=fake.ca_bundle, timeout=10)
    assert response.status_code == 404


def test_managed_identity_credential_gets_a_token(
    fake: FakeAzure, credential: TokenCredential
) -> None:
    token = ManagedIdentityCredential().get_token("https://management.azure.com/.default")
    assert token.token
    assert credential.get_token("https://vault.azure.net/.default").token != token.token
    assert [r.op for r in fake.requests] == ["msi.token", "msi.token"]
    assert fake.requests[0].query["resource"] == "https://management.azure.com"


def test_token_endpoint_checks_the_identity_header(fake: FakeAzure) -> None:
    url = f"{fake.identity_endpoint}?api-version=2019-08-01&resource=https://vault.azure.net"
    missing = requests.get(url, verify=fake.ca_bundle, timeout=10)
    wrong = requests.get(
        url, headers={"X-IDENTITY-HEADER": "guess"}, verify=fake.ca_bundle, timeout=10
    )
    right = requests.get(
        url, headers={"X-IDENTITY-HEADER": fake.identity_header}, verify=fake.ca_bundle, timeout=10
    )
    assert (missing.status_code, wrong.status_code, right.status_code) == (400, 401, 200)
    body = right.json()
    assert body["resource"] == "https://vault.azure.net"
    assert body["token_type"] == "Bearer"
    assert int(body["expires_on"]) > 0
    assert body["client_id"] == fake.identity_client_id


def _token(fake: FakeAzure, resource: str) -> str:
    response = requests.get(
        fake.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": resource},
        headers={"X-IDENTITY-HEADER": fake.identity_header},
        verify=fake.ca_bundle,
        timeout=10,
    )
    return str(response.json()["access_token"])


def test_requests_need_a_token_for_the_right_audience(fake: FakeAzure) -> None:
    groups = (
        f"{fake.url}/subscriptions/{fake.subscription_id}/resourcegroups?api-version=2025-04-01"
    )
    arm_token = {"Authorization": "Bearer " + _token(fake, "https://management.azure.com/")}
    graph_token = {"Authorization": "Bearer " + _token(fake, "https://graph.microsoft.com")}

    def get(url: str, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(url, headers=headers, verify=fake.ca_bundle, timeout=10)

    assert get(groups).json()["error"]["code"] == "AuthenticationFailed"
    forged = get(groups, {"Authorization": "Bearer forged"})
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert get(groups, graph_token).json()["error"]["code"] == "InvalidAuthenticationTokenAudience"
    assert get(groups, arm_token).status_code == 200

    applications = f"{fake.url}/v1.0/applications"
    assert get(applications, arm_token).status_code == 401
    assert get(applications, graph_token).status_code == 200

    secrets = f"{fake.url}/secrets?api-version=7.5"
    challenge = get(secrets, graph_token)
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{fake.tenant_id}", '
        'resource="https://vault.azure.net"'
    )


def test_arm_requires_api_version(fake: FakeAzure) -> None:
    headers = {"Authorization": "Bearer " + _token(fake, "https://management.azure.com")}
    response = requests.get(
        f"{fake.url}/subscriptions/{fake.subscription_id}/resourcegroups",
        headers=headers,
        verify=fake.ca_bundle,
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_unknown_routes_answer_404_naming_the_path(fake: FakeAzure) -> None:
    response = requests.post(f"{fake.url}/no/such/thing?x=1", verify=fake.ca_bundle, timeout=10)
    assert response.status_code == 404
    assert "POST /no/such/thing" in response.json()["error"]["message"]
    assert fake.requests[-1].op == "unknown"


def test_other_subscriptions_do_not_exist(fake: FakeAzure) -> None:
    headers = {"Authorization": "Bearer " + _token(fake, "https://management.azure.com")}
    response = requests.get(
        f"{fake.url}/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups",
        params={"api-version": "2025-04-01"},
        headers=headers,
        verify=fake.ca_bundle,
        timeout=10,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SubscriptionNotFound"


def test_requests_are_logged_with_the_injected_clock() -> None:
    now = [1000.0]
    with FakeAzure(clock=lambda: now[0], subscription_id="sub-x", tenant_id="tenant-y") as fake:
        assert (fake.subscription_id, fake.tenant_id) == ("sub-x", "tenant-y")
        _token(fake, "https://management.azure.com")
        now[0] = 1500.0
        requests.get(f"{fake.url}/nothing", verify=fake.ca_bundle, timeout=10)
        first, second = fake.requests
    assert (first.time, first.method, first.op, first.status) == (1000.0, "GET", "msi.token", 200)
    assert first.path == "/msi/token"
    assert first.query == {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    assert (second.time, second.op, second.status) == (1500.0, "unknown", 404)


def test_snapshot_is_all_persistent_state(fake: FakeAzure, arm: ResourceManagementClient) -> None:
    fake.add_resource_group("keep", tags={"a": "1"})
    before = fake.snapshot()
    arm.resource_groups.create_or_update("temp", {"location": "eastus"})
    fake.add_resource("temp", "Microsoft.Storage/storageAccounts", "st1")
    assert fake.snapshot() != before
    arm.resource_groups.begin_delete("temp").result()
    assert fake.snapshot() == before
    assert set(before) == {
        "resource_groups",
        "resources",
        "jobs",
        "role_assignments",
        "applications",
        "service_principals",
        "secrets",
        "deleted_secrets",
    }
    assert [g["name"] for g in before["resource_groups"]] == ["keep"]


def test_seeding_rejects_unknown_types_and_groups(fake: FakeAzure) -> None:
    fake.add_resource_group("rg")
    with pytest.raises(ValueError, match="unknown resource type"):
        fake.add_resource("rg", "Microsoft.Nope/things", "x")
    with pytest.raises(ValueError, match="does not exist"):
        fake.add_resource("missing", "Microsoft.Storage/storageAccounts", "x")
