"""Fixtures that show how to point the real Azure SDK clients at `FakeAzure`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.pipeline import policies
from azure.core.rest import HttpRequest, HttpResponse
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.appcontainers import ContainerAppsAPIClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fakeazure import FakeAzure
from tests.fakeazure.environment import OTHER_CREDENTIAL_VARIABLES


@pytest.fixture
def fake() -> Iterator[FakeAzure]:
    with FakeAzure() as running:
        yield running
        assert running.internal_errors == []


@pytest.fixture
def credential(fake: FakeAzure, monkeypatch: pytest.MonkeyPatch) -> TokenCredential:
    """DefaultAzureCredential resolving to the fake's managed identity, as in the app."""
    for name in OTHER_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    return DefaultAzureCredential()


# Retry-After 0 on long-running operations reads as "absent" to azure-core, which then waits
# polling_interval (default 30 s) between polls: keep it small against the fake.
POLLING_INTERVAL = 0


@pytest.fixture
def arm(fake: FakeAzure, credential: TokenCredential) -> ResourceManagementClient:
    return ResourceManagementClient(
        credential, fake.subscription_id, base_url=fake.url, polling_interval=POLLING_INTERVAL
    )


@pytest.fixture
def authorization(fake: FakeAzure, credential: TokenCredential) -> AuthorizationManagementClient:
    return AuthorizationManagementClient(credential, fake.subscription_id, base_url=fake.url)


@pytest.fixture
def apps(fake: FakeAzure, credential: TokenCredential) -> ContainerAppsAPIClient:
    return ContainerAppsAPIClient(
        credential, fake.subscription_id, base_url=fake.url, polling_interval=POLLING_INTERVAL
    )


@pytest.fixture
def vault(fake: FakeAzure, credential: TokenCredential) -> SecretClient:
    return SecretClient(fake.url + "/", credential, verify_challenge_resource=False)


class Graph:
    """Microsoft Graph through a plain azure-core PipelineClient, as the product calls it."""

    def __init__(self, base_url: str, credential: TokenCredential) -> None:
        self.base_url = base_url
        self.client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            base_url,
            policies=[
                policies.RetryPolicy(),
                policies.BearerTokenCredentialPolicy(
                    credential, "https://graph.microsoft.com/.default"
                ),
            ],
        )

    def send(self, method: str, path: str, **kwargs: Any) -> HttpResponse:
        """Send to `path` (relative to /v1.0, or an absolute URL such as a nextLink)."""
        url = path if path.startswith("https://") else f"{self.base_url}/v1.0{path}"
        return self.client.send_request(HttpRequest(method, url, **kwargs))

    def create_application(self, unique_name: str, display_name: str | None = None) -> Any:
        response = self.send(
            "PATCH",
            f"/applications(uniqueName='{unique_name}')",
            json={"displayName": display_name or unique_name},
            headers={"Prefer": "create-if-missing"},
        )
        assert response.status_code == 201, response.text()
        return response.json()

    def create_service_principal(self, app_id: str) -> Any:
        response = self.send("POST", "/servicePrincipals", json={"appId": app_id})
        assert response.status_code == 201, response.text()
        return response.json()


@pytest.fixture
def graph(fake: FakeAzure, credential: TokenCredential) -> Graph:
    return Graph(fake.url, credential)
