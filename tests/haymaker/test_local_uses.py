"""Local agents' uses of their resources go as signed requests for Azurite's account, also
when it is named `UseDevelopmentStorage=true` (the default of `./dev run`): the storage
SDKs' pipeline costs an agent 1-2 ms of CPU a use, a few hundred uses a run."""

from __future__ import annotations

import base64
import json
import uuid

from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from haymaker.providers.local_cloud import LocalCloud
from haymaker.providers.local_uses import SignedUses, shared_key

DEV_STORAGE = "UseDevelopmentStorage=true"


def test_development_storage_is_the_account_and_endpoints_the_sdks_use() -> None:
    found = shared_key(DEV_STORAGE)
    assert found is not None
    account, key, endpoints = found
    blob = BlobServiceClient.from_connection_string(DEV_STORAGE)
    queue = QueueServiceClient.from_connection_string(DEV_STORAGE)
    table = TableServiceClient.from_connection_string(DEV_STORAGE)
    assert endpoints == {
        "blob": blob.url.rstrip("/"),
        "queue": queue.url.rstrip("/"),
        "table": table.url.rstrip("/"),
    }
    for credential in (blob.credential, queue.credential):
        assert (credential.account_name, base64.b64decode(credential.account_key)) == (account, key)
    assert isinstance(table.credential, AzureNamedKeyCredential)
    named = table.credential.named_key
    assert (named.name, base64.b64decode(named.key)) == (account, key)
    assert isinstance(SignedUses.for_connection(DEV_STORAGE), SignedUses)


def test_uses_through_development_storage_reach_azurite(storage_connection_string: str) -> None:
    """The session's Azurite listens on the default ports that the name stands for."""
    cloud = LocalCloud(DEV_STORAGE)
    name = "uses" + uuid.uuid4().hex[:12]
    blobs = BlobServiceClient.from_connection_string(storage_connection_string)
    tables = TableServiceClient.from_connection_string(storage_connection_string)
    queues = QueueServiceClient.from_connection_string(storage_connection_string)
    for kind in ("blob_container", "table", "queue"):
        cloud.create(kind, name, {})
    try:
        for round_ in ("1", "2"):
            for kind in ("blob_container", "table", "queue"):
                cloud.act(kind, name, {"step": "read", "round": round_}, key="read")
        [blob] = list(blobs.get_container_client(name).list_blobs())
        content = blobs.get_container_client(name).download_blob(blob.name).readall()
        assert json.loads(content) == {"step": "read", "round": "2"}
        [entity] = list(tables.get_table_client(name).list_entities())
        assert (entity["RowKey"], entity["round"]) == ("read", "2")
        [message] = list(queues.get_queue_client(name).peek_messages(max_messages=32))
        assert json.loads(message.content) == {"step": "read", "round": "2"}
    finally:
        for kind in ("blob_container", "table", "queue"):
            cloud.delete(kind, name)
