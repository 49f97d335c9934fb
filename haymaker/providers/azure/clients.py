"""The Azure SDK clients the azure provider uses, built once from its settings.

All of them share one credential (`DefaultAzureCredential`: the app's managed identity
in Azure, a developer's login elsewhere) and the bounded retry policy. The endpoints
come from the settings, so the same code serves sovereign clouds and the fake Azure the
tests run.
"""

from __future__ import annotations

import functools
from typing import Any

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.appcontainers import ContainerAppsAPIClient
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from haymaker.providers.azure.graph import GraphClient
from haymaker.providers.azure.jobs import environment_subscription
from haymaker.providers.azure.pipeline import BoundedRetryPolicy
from haymaker.settings import AzureSettings

# Seconds between polls of a long-running operation when the service gives no Retry-After.
LRO_POLL_SECONDS = 5
# azure-mgmt-authorization serves several API versions; this one has principalType.
AUTHORIZATION_API_VERSION = "2022-04-01"


class AzureClients:
    """Lazily built clients; building one costs no request."""

    def __init__(self, settings: AzureSettings, credential: TokenCredential | None = None):
        self.settings = settings
        self.credential: TokenCredential = credential or DefaultAzureCredential(
            exclude_interactive_browser_credential=True
        )

    def _arm_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.arm_endpoint,
            "credential_scopes": [f"{self.settings.arm_endpoint}/.default"],
            "retry_policy": BoundedRetryPolicy(),
            "polling_interval": LRO_POLL_SECONDS,
        }

    @functools.cached_property
    def resources(self) -> ResourceManagementClient:
        return ResourceManagementClient(
            self.credential, self.settings.subscription_id, **self._arm_options()
        )

    @functools.cached_property
    def authorization(self) -> AuthorizationManagementClient:
        return AuthorizationManagementClient(
            self.credential,
            self.settings.subscription_id,
            api_version=AUTHORIZATION_API_VERSION,
            **self._arm_options(),
        )

    @functools.cached_property
    def container_apps(self) -> ContainerAppsAPIClient:
        """In the environment's subscription, which holds the agents' jobs."""
        subscription = environment_subscription(self.settings.container_apps_environment_id)
        return ContainerAppsAPIClient(self.credential, subscription, **self._arm_options())

    @functools.cached_property
    def secrets(self) -> SecretClient:
        return SecretClient(
            self.settings.key_vault_url,
            self.credential,
            verify_challenge_resource=self.settings.verify_key_vault_challenge,
            retry_policy=BoundedRetryPolicy(),
        )

    @functools.cached_property
    def graph(self) -> GraphClient:
        return GraphClient(self.settings.graph_endpoint, self.credential)
