"""The resource providers the fake's subscription knows, with their types' api-versions.

Deleting a resource by id needs an api-version its type supports; product code finds one via
`providers.get(namespace)`. Real lists mix previews in and are not sorted the same way for
every provider, so product code must choose deliberately — the lists below keep that trait.
"""

from __future__ import annotations

from .wire import JSON

_LOCATIONS = ["East US", "East US 2", "West US 2", "West Europe", "North Europe"]

_CONTAINER_APPS_VERSIONS = [
    "2026-07-01",
    "2025-10-02-preview",
    "2025-07-01",
    "2025-01-01",
    "2024-03-01",
    "2023-05-01",
]

PROVIDERS: dict[str, dict[str, list[str]]] = {
    "Microsoft.Storage": {
        "storageAccounts": [
            "2025-06-01",
            "2025-01-01",
            "2024-01-01",
            "2023-05-01",
            "2023-01-01",
            "2022-09-01",
        ],
    },
    "Microsoft.App": {
        "jobs": _CONTAINER_APPS_VERSIONS,
        "managedEnvironments": _CONTAINER_APPS_VERSIONS,
    },
    "Microsoft.Web": {
        "sites": ["2024-11-01", "2024-04-01", "2023-12-01", "2023-01-01", "2022-09-01"],
        "serverFarms": ["2024-11-01", "2024-04-01", "2023-12-01", "2023-01-01", "2022-09-01"],
    },
    "Microsoft.Compute": {
        "virtualMachines": ["2025-04-01", "2024-11-01", "2024-07-01", "2024-03-01", "2023-09-01"],
        "disks": ["2025-01-02", "2024-03-02", "2023-10-02", "2023-04-02"],
    },
    "Microsoft.Network": {
        "virtualNetworks": ["2024-07-01", "2024-05-01", "2024-03-01", "2024-01-01", "2023-11-01"],
        "publicIPAddresses": [
            "2024-07-01",
            "2024-05-01",
            "2024-03-01",
            "2024-01-01",
            "2023-11-01",
        ],
    },
    "Microsoft.KeyVault": {
        "vaults": ["2024-12-01-preview", "2024-11-01", "2023-07-01", "2023-02-01", "2022-07-01"],
    },
    "Microsoft.DocumentDB": {
        "databaseAccounts": ["2025-04-15", "2024-11-15", "2024-08-15", "2024-05-15", "2023-11-15"],
    },
    "Microsoft.CognitiveServices": {
        "accounts": ["2025-06-01", "2024-10-01", "2024-06-01-preview", "2023-05-01"],
    },
    "Microsoft.OperationalInsights": {
        "workspaces": ["2025-02-01", "2023-09-01", "2022-10-01", "2021-06-01", "2020-08-01"],
    },
    "Microsoft.ManagedIdentity": {
        "userAssignedIdentities": ["2024-11-30", "2023-01-31", "2018-11-30"],
    },
}


def canonical_namespace(namespace: str) -> str | None:
    """The namespace as Azure spells it, or None if the fake does not know it."""
    return next((ns for ns in PROVIDERS if ns.lower() == namespace.lower()), None)


def api_versions(resource_type: str) -> list[str] | None:
    """The api-versions of `Namespace/type` (case-insensitive), or None if unknown."""
    namespace, _, type_name = resource_type.partition("/")
    canonical = canonical_namespace(namespace)
    if canonical is None:
        return None
    for name, versions in PROVIDERS[canonical].items():
        if name.lower() == type_name.lower():
            return versions
    return None


def canonical_type(resource_type: str) -> str | None:
    """`Namespace/type` as Azure spells it, or None if unknown."""
    namespace, _, type_name = resource_type.partition("/")
    canonical = canonical_namespace(namespace)
    if canonical is None:
        return None
    name = next((n for n in PROVIDERS[canonical] if n.lower() == type_name.lower()), None)
    return f"{canonical}/{name}" if name else None


def provider_json(subscription_id: str, namespace: str) -> JSON:
    """A Provider as `GET /subscriptions/{s}/providers/{namespace}` returns it."""
    return {
        "id": f"/subscriptions/{subscription_id}/providers/{namespace}",
        "namespace": namespace,
        "registrationState": "Registered",
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {
                "resourceType": type_name,
                "locations": list(_LOCATIONS),
                "apiVersions": list(versions),
                "capabilities": "None",
            }
            for type_name, versions in PROVIDERS[namespace].items()
        ],
    }
