"""Key Vault through the real SecretClient (challenge auth, soft-delete, paging)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from tests.fakeazure import FakeAzure


def test_first_request_is_challenged_then_authorized(fake: FakeAzure, vault: SecretClient) -> None:
    secret = vault.set_secret(
        "hm-run-1", "CANARY-value", content_type="text/plain", tags={"a": "b"}
    )
    assert secret.value == "CANARY-value"
    assert secret.id == f"{fake.url}/secrets/hm-run-1/{secret.properties.version}"
    assert [(r.op, r.status) for r in fake.requests] == [
        ("keyvault.secrets.put", 401),  # the body-less challenge request
        ("msi.token", 200),
        ("keyvault.secrets.put", 200),
    ]
    assert fake.requests[-1].query["api-version"]
    assert "CANARY-value" not in str(fake.requests)


def test_set_get_versions(fake: FakeAzure, vault: SecretClient) -> None:
    first = vault.set_secret("hm-a", "one")
    second = vault.set_secret("hm-a", "two")
    assert first.properties.version != second.properties.version
    assert vault.get_secret("hm-a").value == "two"
    assert vault.get_secret("hm-a", first.properties.version).value == "one"
    properties = vault.get_secret("hm-a").properties
    assert properties.recovery_level == "Recoverable+Purgeable"
    assert properties.created_on is not None
    with pytest.raises(ResourceNotFoundError) as missing:
        vault.get_secret("hm-none")
    assert missing.value.error is not None and missing.value.error.code == "SecretNotFound"
    assert [s["value"] for s in fake.secrets()] == ["two"]
    assert len(fake.snapshot()["secrets"]["hm-a"]) == 2


def test_list_pages_without_values(fake: FakeAzure, vault: SecretClient) -> None:
    fake.page_size = 2
    for index in range(5):
        vault.set_secret(f"hm-{index}", f"v{index}", tags={"index": str(index)})
    listed = list(vault.list_properties_of_secrets())
    assert [p.name for p in listed] == [f"hm-{i}" for i in range(5)]
    assert listed[3].tags == {"index": "3"}
    assert [r.status for r in fake.requests if r.op == "keyvault.secrets.list"] == [200] * 3


def test_soft_delete_blocks_the_name_until_purged(fake: FakeAzure, vault: SecretClient) -> None:
    vault.set_secret("hm-a", "value")
    poller = vault.begin_delete_secret("hm-a")
    poller.wait()
    deleted = poller.result()
    assert deleted.recovery_id == f"{fake.url}/deletedsecrets/hm-a"
    assert deleted.scheduled_purge_date is not None
    assert vault.get_deleted_secret("hm-a").name == "hm-a"
    assert [s.name for s in vault.list_deleted_secrets()] == ["hm-a"]
    with pytest.raises(ResourceNotFoundError):
        vault.get_secret("hm-a")
    with pytest.raises(ResourceExistsError) as conflict:
        vault.set_secret("hm-a", "again")
    assert "deleted but recoverable state" in str(conflict.value)

    vault.purge_deleted_secret("hm-a")
    assert fake.deleted_secrets() == []
    with pytest.raises(ResourceNotFoundError):
        vault.get_deleted_secret("hm-a")
    assert vault.set_secret("hm-a", "again").value == "again"
    with pytest.raises(ResourceNotFoundError):
        vault.begin_delete_secret("hm-none")
