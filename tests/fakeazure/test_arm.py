"""ARM through the real ResourceManagementClient and AuthorizationManagementClient."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fakeazure import FakeAzure
from tests.fakeazure.conftest import Graph

STORAGE = "Microsoft.Storage/storageAccounts"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


def _ops(fake: FakeAzure, prefix: str = "arm.") -> list[tuple[str, int | None]]:
    return [(r.op, r.status) for r in fake.requests if r.op.startswith(prefix)]


def _status_of(call: Any) -> int:
    """Run an SDK call with `cls` capturing the HTTP status."""
    return int(call(cls=lambda response, *_: response.http_response.status_code))


# -- resource groups ---------------------------------------------------------------------------


def test_resource_group_create_update_get_exists(
    fake: FakeAzure, arm: ResourceManagementClient
) -> None:
    def put(tags: dict[str, str]) -> int:
        return _status_of(
            lambda **kw: arm.resource_groups.create_or_update(
                "Rg1", {"location": "eastus", "tags": tags}, **kw
            )
        )

    assert put({"a": "1"}) == 201
    assert put({"a": "2"}) == 200
    group = arm.resource_groups.get("rg1")
    assert group.id == f"/subscriptions/{fake.subscription_id}/resourceGroups/Rg1"
    assert (group.name, group.location, group.tags) == ("Rg1", "eastus", {"a": "2"})
    assert group["properties"]["provisioningState"] == "Succeeded"
    assert arm.resource_groups.check_existence("RG1") is True
    assert arm.resource_groups.check_existence("other") is False
    with pytest.raises(ResourceNotFoundError) as missing:
        arm.resource_groups.get("other")
    assert missing.value.error is not None and missing.value.error.code == "ResourceGroupNotFound"


def test_resource_group_without_tags_has_no_tags_field(arm: ResourceManagementClient) -> None:
    group = arm.resource_groups.create_or_update("bare", {"location": "eastus"})
    assert group.tags is None


def test_fixed_segments_match_case_insensitively(fake: FakeAzure) -> None:
    fake.add_resource_group("MyGroup")
    token = requests.get(
        fake.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": fake.identity_header},
        verify=fake.ca_bundle,
        timeout=10,
    ).json()["access_token"]
    response = requests.get(
        f"{fake.url}/SUBSCRIPTIONS/{fake.subscription_id}/ResourceGroups/mygroup",
        params={"API-VERSION": "2025-04-01"},
        headers={"Authorization": f"Bearer {token}"},
        verify=fake.ca_bundle,
        timeout=10,
    )
    assert response.json()["id"] == f"/subscriptions/{fake.subscription_id}/resourceGroups/MyGroup"


def test_resource_group_list_filters_by_tag_and_pages(
    fake: FakeAzure, arm: ResourceManagementClient
) -> None:
    fake.page_size = 2
    for index in range(5):
        fake.add_resource_group(f"hm-{index}", tags={"HayMaker": "yes"})
    fake.add_resource_group("hm-other", tags={"HayMaker": "no"})
    fake.add_resource_group("untagged")

    tagged = arm.resource_groups.list(filter="tagName eq 'haymaker' and tagValue eq 'yes'")
    assert [g.name for g in tagged] == [f"hm-{i}" for i in range(5)]
    assert _ops(fake) == [("arm.resource_groups.list", 200)] * 3
    assert len(list(arm.resource_groups.list(filter="tagName eq 'HayMaker'"))) == 6
    assert len(list(arm.resource_groups.list(top=1))) == 7


def test_resource_group_delete_is_long_running_and_cascades(
    fake: FakeAzure,
    arm: ResourceManagementClient,
    authorization: AuthorizationManagementClient,
    graph: Graph,
) -> None:
    fake.add_resource_group("doomed")
    fake.add_resource_group("kept")
    fake.add_resource("doomed", STORAGE, "st1")
    kept = fake.add_resource("kept", STORAGE, "st2")
    sp = graph.create_service_principal(graph.create_application("hm-a")["appId"])
    scope = f"/subscriptions/{fake.subscription_id}/resourceGroups/doomed"
    _assign(fake, authorization, scope, sp["id"])

    poller = arm.resource_groups.begin_delete("doomed")
    assert poller.result() is None
    assert _ops(fake)[-3:] == [
        ("arm.resource_groups.delete", 202),
        ("arm.operations.get", 202),
        ("arm.operations.get", 200),
    ]
    assert [r["id"] for r in fake.resources()] == [kept]
    assert fake.role_assignments() == []
    assert [g["name"] for g in fake.resource_groups()] == ["kept"]
    with pytest.raises(ResourceNotFoundError):
        arm.resource_groups.begin_delete("doomed")


class SleepRecordingTransport(RequestsTransport):
    """The SDK's own transport, noting each wait the pipeline or a poller asks it for."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    def sleep(self, duration: float) -> None:
        self.slept.append(duration)
        super().sleep(duration)


def test_clients_with_endpoint_scopes_and_default_polling(
    fake: FakeAzure, credential: TokenCredential
) -> None:
    """A client that asks a token for `{endpoint}/.default` and keeps the SDK's 30 s
    polling_interval: with lro_in_progress_polls 0 its long-running calls never wait."""
    fake.lro_in_progress_polls = 0
    transport = SleepRecordingTransport()
    client = ResourceManagementClient(
        credential,
        fake.subscription_id,
        base_url=fake.url,
        credential_scopes=[f"{fake.url}/.default"],
        transport=transport,
    )
    client.resource_groups.create_or_update("rg", {"location": "eastus"})
    client.resource_groups.begin_delete("rg").result()
    assert transport.slept == []
    assert fake.resource_groups() == []


# -- generic resources -------------------------------------------------------------------------


def test_resources_list_by_tag_and_by_group(fake: FakeAzure, arm: ResourceManagementClient) -> None:
    fake.page_size = 1
    fake.add_resource_group("rg1")
    fake.add_resource_group("rg2")
    first = fake.add_resource("rg1", STORAGE, "st1", tags={"run": "r1"})
    second = fake.add_resource("rg2", "Microsoft.Web/sites", "web1", tags={"run": "r1"})
    fake.add_resource("rg2", STORAGE, "st3", tags={"run": "r2"})

    found = list(arm.resources.list(filter="tagName eq 'run' and tagValue eq 'r1'"))
    assert sorted(r["id"] for r in found) == sorted([first, second])
    assert found[0].type == STORAGE
    assert [r["name"] for r in arm.resources.list_by_resource_group("rg2")] == ["st3", "web1"]
    assert len(list(arm.resources.list())) == 3


def test_generic_get_and_delete_need_a_supported_api_version(
    fake: FakeAzure, arm: ResourceManagementClient
) -> None:
    fake.add_resource_group("rg")
    resource_id = fake.add_resource("rg", STORAGE, "st1", tags={"a": "b"})
    versions = arm.providers.get("Microsoft.Storage")["resourceTypes"][0]["apiVersions"]
    assert "2025-01-01" in versions

    assert arm.resources.get_by_id(resource_id, api_version="2025-01-01").tags == {"a": "b"}
    assert arm.resources.check_existence_by_id(resource_id, api_version="2025-01-01") is True
    with pytest.raises(HttpResponseError) as unsupported:
        arm.resources.begin_delete_by_id(resource_id, api_version="2099-01-01")
    assert unsupported.value.error is not None
    assert unsupported.value.error.code == "NoRegisteredProviderFound"

    arm.resources.begin_delete_by_id(resource_id, api_version="2025-01-01").result()
    assert fake.resources() == []
    assert arm.resources.check_existence_by_id(resource_id, api_version="2025-01-01") is False
    with pytest.raises(ResourceNotFoundError) as missing:
        arm.resources.begin_delete_by_id(resource_id, api_version="2025-01-01")
    assert missing.value.error is not None and missing.value.error.code == "ResourceNotFound"


def test_providers_list_types_and_api_versions(arm: ResourceManagementClient) -> None:
    provider = arm.providers.get("microsoft.app")
    assert provider.namespace == "Microsoft.App"
    assert provider.registration_state == "Registered"
    types = {t["resourceType"]: t["apiVersions"] for t in provider["resourceTypes"]}
    assert "2026-07-01" in types["jobs"]
    assert "managedEnvironments" in types
    with pytest.raises(ResourceNotFoundError):
        arm.providers.get("Microsoft.Nope")


def test_locks_forbid_deletes_at_under_and_above_the_scope(
    fake: FakeAzure, arm: ResourceManagementClient
) -> None:
    group_id = fake.add_resource_group("locked")
    resource_id = fake.add_resource("locked", STORAGE, "st1")
    fake.lock(group_id)
    with pytest.raises(ResourceExistsError) as under_lock:
        arm.resources.begin_delete_by_id(resource_id, api_version="2025-01-01")
    assert under_lock.value.error is not None and under_lock.value.error.code == "ScopeLocked"
    assert f"locked: '{group_id}'" in str(under_lock.value)
    fake.unlock(group_id)

    fake.lock(resource_id)
    with pytest.raises(ResourceExistsError):
        arm.resource_groups.begin_delete("locked")
    fake.unlock(resource_id)
    arm.resource_groups.begin_delete("locked").result()


# -- role assignments --------------------------------------------------------------------------


def _role(fake: FakeAzure) -> str:
    return (
        f"/subscriptions/{fake.subscription_id}/providers/Microsoft.Authorization/"
        f"roleDefinitions/{CONTRIBUTOR}"
    )


def _assign(
    fake: FakeAzure,
    authorization: AuthorizationManagementClient,
    scope: str,
    principal: str,
    name: str | None = None,
) -> Any:
    return authorization.role_assignments.create(
        scope,
        name or str(uuid.uuid4()),
        {
            "properties": {
                "roleDefinitionId": _role(fake),
                "principalId": principal,
                "principalType": "ServicePrincipal",
            }
        },
    )


def test_role_assignment_lifecycle(
    fake: FakeAzure, authorization: AuthorizationManagementClient, graph: Graph
) -> None:
    fake.add_resource_group("rg")
    sp = graph.create_service_principal(graph.create_application("hm-a")["appId"])
    scope = f"/subscriptions/{fake.subscription_id}/resourcegroups/RG"
    name = str(uuid.uuid4())

    created = _assign(fake, authorization, scope, sp["id"], name)
    canonical_scope = f"/subscriptions/{fake.subscription_id}/resourceGroups/rg"
    assert (
        created.id == f"{canonical_scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    )
    assert (created.scope, created.principal_id) == (canonical_scope, sp["id"])
    assert created.role_definition_id == _role(fake)
    assert _assign(fake, authorization, scope, sp["id"], name).id == created.id  # idempotent
    with pytest.raises(ResourceExistsError) as duplicate:
        _assign(fake, authorization, scope, sp["id"])
    assert duplicate.value.error is not None
    assert duplicate.value.error.code == "RoleAssignmentExists"

    assert authorization.role_assignments.get(scope, name).principal_id == sp["id"]
    assert authorization.role_assignments.get_by_id(created.id).name == name
    deleted = authorization.role_assignments.delete(scope, name)
    assert deleted is not None and deleted.id == created.id
    assert authorization.role_assignments.delete(scope, name) is None
    with pytest.raises(ResourceNotFoundError):
        authorization.role_assignments.get(scope, name)
    assert [(r.op, r.status) for r in fake.requests if "role_assignments" in r.op][-3:] == [
        ("arm.role_assignments.delete", 200),
        ("arm.role_assignments.delete", 204),
        ("arm.role_assignments.get", 404),
    ]


def test_role_assignment_needs_an_existing_principal_and_scope(
    fake: FakeAzure, authorization: AuthorizationManagementClient, graph: Graph
) -> None:
    fake.add_resource_group("rg")
    app = graph.create_application("hm-a")
    scope = f"/subscriptions/{fake.subscription_id}/resourceGroups/rg"
    with pytest.raises(HttpResponseError) as not_a_principal:
        _assign(fake, authorization, scope, app["appId"])  # the appId is not the SP's id
    assert not_a_principal.value.status_code == 400
    assert not_a_principal.value.error is not None
    assert not_a_principal.value.error.code == "PrincipalNotFound"
    assert f"does not exist in the directory {fake.tenant_id}" in str(not_a_principal.value)

    sp = graph.create_service_principal(app["appId"])
    with pytest.raises(ResourceNotFoundError) as no_group:
        _assign(fake, authorization, scope.replace("/rg", "/gone"), sp["id"])
    assert no_group.value.error is not None
    assert no_group.value.error.code == "ResourceGroupNotFound"


def test_role_assignment_lists(
    fake: FakeAzure, authorization: AuthorizationManagementClient, graph: Graph
) -> None:
    fake.add_resource_group("rg")
    resource = fake.add_resource("rg", STORAGE, "st1")
    first = graph.create_service_principal(graph.create_application("hm-a")["appId"])["id"]
    second = graph.create_service_principal(graph.create_application("hm-b")["appId"])["id"]
    subscription = f"/subscriptions/{fake.subscription_id}"
    group = f"{subscription}/resourceGroups/rg"
    at_subscription = _assign(fake, authorization, subscription, first).id
    at_group = _assign(fake, authorization, group, first).id
    at_resource = _assign(fake, authorization, resource, second).id

    def ids(assignments: Any) -> set[str]:
        return {a.id for a in assignments}

    everything = {at_subscription, at_group, at_resource}
    assert ids(authorization.role_assignments.list_for_subscription()) == everything
    mine = authorization.role_assignments.list_for_subscription(filter=f"principalId eq '{first}'")
    assert ids(mine) == {at_subscription, at_group}
    at_scope = authorization.role_assignments.list_for_scope(group, filter="atScope()")
    assert ids(at_scope) == {at_subscription, at_group}
    assert ids(authorization.role_assignments.list_for_scope(group)) == everything


def test_role_assignments_outlive_their_principal(
    fake: FakeAzure, authorization: AuthorizationManagementClient, graph: Graph
) -> None:
    app = graph.create_application("hm-a")
    sp = graph.create_service_principal(app["appId"])
    subscription = f"/subscriptions/{fake.subscription_id}"
    _assign(fake, authorization, subscription, sp["id"])
    assert graph.send("DELETE", f"/applications/{app['id']}").status_code == 204
    assert fake.service_principals() == []
    assert [a["properties"]["principalId"] for a in fake.role_assignments()] == [sp["id"]]
