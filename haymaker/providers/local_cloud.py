"""The local provider's "cloud": blob containers, tables and queues in one storage account.

Agents materialize what their scenarios create as these objects, tagged like Azure
resources, so teardown and sweeps can find them by tag exactly as they would in Azure.

Two storage quirks shape this module:
- Metadata names must be C# identifiers, so a tag `azurehaymaker-run` is stored as the
  metadata key `azurehaymaker_run` (and read back the other way).
- Tables have no metadata at all, so their tags live in an index table, `HayMakerLocalTags`
  (one row per tagged table). The index row is written before the table is created and
  removed after it is deleted: a crash in between leaves an index row pointing at nothing,
  which teardown still finds and removes, never an untagged table no one can find.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from haymaker.naming import LOCAL_KINDS, TAG_MANAGED
from haymaker.providers.local_uses import SdkUses, SignedUses, Uses

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

TAG_INDEX_TABLE = "HayMakerLocalTags"
_INDEX_PARTITION = "table"
_TAG_PREFIX = "azurehaymaker"


def tags_to_metadata(tags: Mapping[str, str]) -> dict[str, str]:
    """Storage metadata for `tags` (dashes become underscores; names must be identifiers)."""
    return {key.replace("-", "_"): value for key, value in tags.items()}


def metadata_to_tags(metadata: Mapping[str, Any]) -> dict[str, str]:
    """The HayMaker tags found in storage metadata or an index row; anything else is ignored."""
    return {
        key.replace("_", "-"): str(value)
        for key, value in metadata.items()
        if key.lower().startswith(_TAG_PREFIX + "_")
    }


def _matches(tags: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    if tags.get(TAG_MANAGED) != "true":
        return False
    return all(tags.get(key) == value for key, value in wanted.items())


class LocalCloud:
    """Create, delete and find tagged containers, tables and queues in a storage account.

    Creating, deleting and using go as signed requests where the connection string allows
    (haymaker.providers.local_uses): an agent then imports no storage SDK. Listing and the
    SDK path build the SDKs' clients when first needed.
    """

    def __init__(
        self, connection_string: str, client_options: Mapping[str, Any] | None = None
    ) -> None:
        """`client_options` go to every SDK client (the agent turns the SDKs' retries off)."""
        self._options = dict(client_options or {})
        self._connection_string = connection_string
        self._clients: tuple[BlobServiceClient, QueueServiceClient, TableServiceClient] | None = (
            None
        )
        self._index_ready = False
        self._resource_uses: Uses | None = None
        # The message each keyed use of a queue left: (queue, key) -> (id, pop receipt).
        self._last_messages: dict[tuple[str, str], tuple[str, str]] = {}

    def _sdk(self) -> tuple[BlobServiceClient, QueueServiceClient, TableServiceClient]:
        if self._clients is None:
            from azure.data.tables import TableServiceClient
            from azure.storage.blob import BlobServiceClient
            from azure.storage.queue import QueueServiceClient

            text, options = self._connection_string, self._options
            self._clients = (
                BlobServiceClient.from_connection_string(text, **options),
                QueueServiceClient.from_connection_string(text, **options),
                TableServiceClient.from_connection_string(text, **options),
            )
        return self._clients

    def _uses(self) -> Uses:
        if self._resource_uses is None:
            signed = SignedUses.for_connection(self._connection_string)
            if signed is not None:
                self._resource_uses = signed
            else:
                blobs, queues, tables = self._sdk()
                self._resource_uses = SdkUses(blobs, tables, queues)
        return self._resource_uses

    def _index_uses(self) -> Uses:
        uses = self._uses()
        if not self._index_ready:
            uses.create_table(TAG_INDEX_TABLE)
            self._index_ready = True
        return uses

    def create(self, kind: str, name: str, tags: Mapping[str, str]) -> bool:
        """Create the object with `tags` (re-tagging one that exists); True when it is new."""
        metadata = tags_to_metadata(tags)
        if kind == "blob_container":
            return self._uses().create_container(name, metadata)
        if kind == "queue":
            return self._uses().create_queue(name, metadata)
        if kind == "table":
            entity = {"PartitionKey": _INDEX_PARTITION, "RowKey": name, **metadata}
            self._index_uses().upsert_entity(TAG_INDEX_TABLE, entity)
            return self._uses().create_table(name)
        raise ValueError(f"unknown local resource kind {kind!r}; expected one of {LOCAL_KINDS}")

    def delete(self, kind: str, name: str) -> bool:
        """Delete the object; False when it was already gone (which counts as success)."""
        if kind == "blob_container":
            return self._uses().delete_container(name)
        if kind == "queue":
            return self._uses().delete_queue(name)
        if kind == "table":
            # The index row goes last (see the module's docstring).
            existed = self._uses().delete_table(name)
            self._uses().delete_entity(TAG_INDEX_TABLE, _INDEX_PARTITION, name)
            return existed
        raise ValueError(f"unknown local resource kind {kind!r}")

    def act(
        self, kind: str, name: str, activity: Mapping[str, str], key: str | None = None
    ) -> None:
        """What using the resource looks like: upload a blob, upsert an entity, send a message.

        With a `key` (the agent's: one per step), a use replaces the last one of that key:
        the blob, the entity, and the message (updated in place): what a scenario leaves
        stays the same size however many rounds it runs. Azurite finds a blob among every
        one in the account, and sorts all of the account's queue messages again at each
        receive, delete or update of any queue, while a message that expired is only
        dropped when its own queue is read: messages that piled up (a new one per use, each
        round of every agent) made the whole run's storage calls slower as it went on,
        O(agents²) in all. Without a key every use leaves a new blob, entity and message.
        """
        stamp = key or uuid.uuid4().hex
        body = json.dumps(dict(activity))
        if kind == "blob_container":
            self._uses().put_blob(name, f"activity/{stamp}.json", body.encode())
        elif kind == "table":
            self._uses().upsert_entity(
                name, {"PartitionKey": "activity", "RowKey": stamp, **activity}
            )
        elif kind == "queue":
            self._use_queue(name, body, key)
        else:
            raise ValueError(f"unknown local resource kind {kind!r}; expected one of {LOCAL_KINDS}")

    def _use_queue(self, name: str, body: str, key: str | None) -> None:
        uses = self._uses()
        if key is None:
            uses.put_message(name, body)
            return
        last = self._last_messages.get((name, key))
        if last is not None:
            try:
                receipt = uses.update_message(name, last[0], last[1], body)
            except ResourceNotFoundError:
                pass  # gone (its queue was made anew): send a new one
            except HttpResponseError as error:
                if error.status_code != 400:  # 400: the receipt is no longer its
                    raise
            else:
                self._last_messages[(name, key)] = (last[0], receipt)
                return
        self._last_messages[(name, key)] = uses.put_message(name, body)

    def list_tagged(self, wanted: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every HayMaker-managed object whose tags include all of `wanted`, by kind and name."""
        blobs, queues, tables = self._sdk()
        found: list[dict[str, Any]] = []
        for container in blobs.list_containers(include_metadata=True):
            tags = metadata_to_tags(container.metadata or {})
            if _matches(tags, wanted):
                found.append({"kind": "blob_container", "name": container.name, "tags": tags})
        self._index_uses()  # the index table exists before it is queried
        for row in tables.get_table_client(TAG_INDEX_TABLE).query_entities(
            "PartitionKey eq @pk", parameters={"pk": _INDEX_PARTITION}
        ):
            tags = metadata_to_tags(row)
            if _matches(tags, wanted):
                found.append({"kind": "table", "name": row["RowKey"], "tags": tags})
        for queue in queues.list_queues(include_metadata=True):
            tags = metadata_to_tags(queue.metadata or {})
            if _matches(tags, wanted):
                found.append({"kind": "queue", "name": queue.name, "tags": tags})
        return found

    def ping(self) -> None:
        """Touch each storage service once; raises what the SDK raises when one is unreachable."""
        blobs, queues, tables = self._sdk()
        next(iter(blobs.list_containers(results_per_page=1)), None)
        next(iter(queues.list_queues(results_per_page=1)), None)
        next(iter(tables.list_tables(results_per_page=1)), None)
