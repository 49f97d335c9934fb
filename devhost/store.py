"""Durable state in Azure Storage, laid out as the Durable Task Framework lays it out.

- `<Hub>Instances`: one row per orchestration instance (PartitionKey = instance id).
- `<Hub>History`: one row per history event (PartitionKey = instance id, RowKey = the
  event's position in its execution as 16 hex digits).
- `<Hub>Messages`: messages from outside that cannot be derived again from history
  (raised events, terminate/suspend/resume requests), kept until an episode has
  written them into history. DTFx keeps these in control queues; a table lets one
  episode consume and delete many in a single batch.
- `<Hub>Starts`: starts accepted but whose Instances row may not be stored yet, one
  partition, so many go in one transaction (see start_log.py).
- blob container `<hub>-largemessages`: values too large for a table property.

Activity completions, timer firings and sub-orchestration results are not stored as
messages: after a crash they are derived again from history (activities run again, as
they may in Azure: at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from .blob_rest import Blobs, blobs_for
from .replay import iso, parse_iso
from .shared_key import proxy_configured
from .table_rest import TableRest

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient, TableServiceClient

BATCH_LIMIT = 100
# Up to this many rows, concurrent single requests cost less CPU than one batch when the
# SDK builds it (its multipart body is costly); measured crossover: about five rows.
SINGLE_WRITE_LIMIT = 5
# A table string property holds 64 KiB of UTF-16: 32K characters. Larger values go to blobs.
MAX_INLINE_CHARS = 30_000
# What one transaction carries at most (4 MiB of UTF-8, with room for the envelope).
TRANSACTION_CHARS = 1_000_000
LARGE_FIELDS = ("Input", "Result", "Output", "CustomStatus", "Details", "Reason")
# History event fields kept in table columns (IsPlayed is derived when replaying).
EVENT_FIELDS = (
    "EventType",
    "EventId",
    "Timestamp",
    "Name",
    "Input",
    "Result",
    "TaskScheduledId",
    "TimerId",
    "FireAt",
    "Reason",
    "Details",
    "Version",
    "InstanceId",
    "RetryOf",
    "OrchestrationStatus",
    "MessageId",
    "ParentInstanceId",
)
# Timestamp is the table service's own column; DTFx keeps the event's time beside it.
TIMESTAMP_COLUMN = "_Timestamp"
# A storage service that stops answering fails a call within about two minutes, not the
# SDK defaults' many minutes (300 s to connect and per read, 10 retries); not much sooner,
# since an emulator on a loaded machine takes seconds to answer. The engine retries writes
# on top, and the HTTP API answers 503 sooner (storage_deadline).
TIMEOUTS: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 30, "retry_total": 3}
ACTIVE_STATUSES = ("Pending", "Running", "Suspended", "ContinuedAsNew")
# Where the Functions host keeps its timer triggers' status (devhost also its clock's).
TIMER_STATUS_CONTAINER = "azure-webjobs-hosts"
STARTS_PARTITION = "starts"
TERMINAL_STATUSES = ("Completed", "Failed", "Terminated", "Canceled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_message_id() -> str:
    """Time-ordered, so a restarted host applies stored messages in arrival order."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def row_key(position: int) -> str:
    return f"{position:016X}"


class Store:
    """Async access to one task hub's tables and blobs."""

    def __init__(self, connection_string: str, hub: str):
        self.hub = hub
        settings = {**TIMEOUTS, "use_env_settings": proxy_configured()}
        self._connection_string, self._settings = connection_string, settings
        self.instances_table = f"{hub}Instances"
        self.history_table = f"{hub}History"
        self.messages_table = f"{hub}Messages"
        self.starts_table = f"{hub}Starts"
        # Row operations as plain signed requests where the account key allows and no proxy
        # is configured (table_rest.py), else through the SDK's clients.
        signed = (
            None if settings["use_env_settings"] else TableRest.for_connection(connection_string)
        )
        self._rows: TableRest | SdkTableRows = signed or SdkTableRows(
            (self.instances, self.history, self.messages, self.starts)
        )

    # The SDK's clients are made (and the SDK imported) on first use: the writer process
    # needs them only for queries, which its usual writes never make (with signed
    # requests). Blobs go by signed requests too where the key allows (blob_rest.py).
    @cached_property
    def _tables(self) -> TableServiceClient:
        from azure.data.tables.aio import TableServiceClient

        return TableServiceClient.from_connection_string(self._connection_string, **self._settings)

    @cached_property
    def instances(self) -> TableClient:
        return self._tables.get_table_client(self.instances_table)

    @cached_property
    def history(self) -> TableClient:
        return self._tables.get_table_client(self.history_table)

    @cached_property
    def messages(self) -> TableClient:
        return self._tables.get_table_client(self.messages_table)

    @cached_property
    def starts(self) -> TableClient:
        return self._tables.get_table_client(self.starts_table)

    @cached_property
    def _blobs(self) -> Blobs:
        return blobs_for(
            self._connection_string,
            connect_timeout=TIMEOUTS["connection_timeout"],
            read_timeout=TIMEOUTS["read_timeout"],
            retries=TIMEOUTS["retry_total"],
        )

    @property
    def large_container(self) -> str:
        return f"{self.hub.lower()}-largemessages"

    async def open(self) -> None:
        """Create the hub's tables and containers (idempotent)."""
        for client in (self.instances, self.history, self.messages, self.starts):
            with contextlib.suppress(ResourceExistsError):
                await client.create_table()
        for container in (self.large_container, TIMER_STATUS_CONTAINER):
            with contextlib.suppress(ResourceExistsError):
                await self._blobs.create_container(container)

    async def close(self) -> None:
        await self._rows.close()
        made = self.__dict__
        for name in ("instances", "history", "messages", "starts", "_tables"):
            if name in made:
                await made[name].close()
        if "_blobs" in made:
            await self._blobs.close()

    # -- large values -------------------------------------------------------------

    async def _offload(self, entity: dict[str, Any], key: str) -> dict[str, Any]:
        """Move any oversized string field to a blob, leaving `<Field>BlobName` behind."""
        out = dict(entity)
        for name in LARGE_FIELDS:
            value = out.get(name)
            if isinstance(value, str) and len(value) > MAX_INLINE_CHARS:
                blob_name = f"{key}/{name}/{uuid.uuid4().hex}"
                await self._blobs.upload(self.large_container, blob_name, value.encode())
                out[name] = None
                out[f"{name}BlobName"] = blob_name
        return {k: v for k, v in out.items() if v is not None}

    async def _inflate(self, entity: dict[str, Any]) -> dict[str, Any]:
        out = dict(entity)
        for name in LARGE_FIELDS:
            blob_name = out.pop(f"{name}BlobName", None)
            if blob_name:
                content, _ = await self._blobs.download(self.large_container, blob_name)
                out[name] = content.decode()
        return out

    # -- instances ----------------------------------------------------------------

    async def get_instance(self, instance_id: str) -> dict[str, Any] | None:
        try:
            entity = await self._rows.get(self.instances_table, instance_id, "")
        except ResourceNotFoundError:
            return None
        return await self._inflate(entity)

    async def create_instance(self, instance_id: str, fields: dict[str, Any]) -> str | None:
        """Write a new instance's row, unless an unfinished instance holds the id.

        Returns None once the row is stored, or the status of the unfinished instance that
        holds the id (nothing is written then). A finished instance with that id is
        replaced, and its history deleted first (rows of this execution stay: its first
        history is written before its row). One request for a new id: the insert
        itself is the existence check (409 from the table service when the row exists).
        """
        entity = await self._offload(
            {"PartitionKey": instance_id, "RowKey": "", **fields}, f"{instance_id}/instance"
        )
        try:
            await self._rows.insert(self.instances_table, entity)
            return None
        except ResourceExistsError:
            existing = await self.get_instance(instance_id)
        if existing is not None and existing.get("ExecutionId") == fields.get("ExecutionId"):
            return None  # this very start, stored by an attempt whose answer was lost
        if existing is not None and existing.get("RuntimeStatus") in ACTIVE_STATUSES:
            for name in LARGE_FIELDS:
                if blob_name := entity.get(f"{name}BlobName"):
                    with contextlib.suppress(ResourceNotFoundError):
                        await self._blobs.delete(self.large_container, blob_name)
            return str(existing["RuntimeStatus"])
        # The new execution's first history is written before its row: it stays.
        await self.delete_history(instance_id, keep_execution=fields.get("ExecutionId"))
        await self._rows.upsert(self.instances_table, entity)
        return None

    async def update_instance(self, instance_id: str, fields: dict[str, Any]) -> None:
        """Merge fields into the instance row; None clears nothing (it is skipped)."""
        entity = await self._offload(
            {"PartitionKey": instance_id, "RowKey": "", **fields}, f"{instance_id}/instance"
        )
        await self._rows.upsert(self.instances_table, entity, merge=True)

    async def query_instances(
        self,
        statuses: Iterable[str] | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        prefix: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if statuses:
            names = list(statuses)
            ors = []
            for i, status in enumerate(names):
                params[f"s{i}"] = status
                ors.append(f"RuntimeStatus eq @s{i}")
            # A space before ")" keeps the SDK from reading it as part of the parameter name.
            clauses.append("(" + " or ".join(ors) + " )")
        if created_from is not None:
            params["cf"] = created_from
            clauses.append("CreatedTime ge @cf")
        if created_to is not None:
            params["ct"] = created_to
            clauses.append("CreatedTime le @ct")
        if prefix:
            # PartitionKey range: every id that starts with the prefix.
            params["p0"] = prefix
            params["p1"] = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            clauses.append("PartitionKey ge @p0 and PartitionKey lt @p1")
        if clauses:
            pages = self.instances.query_entities(" and ".join(clauses), parameters=params)
        else:
            pages = self.instances.list_entities()
        async for entity in pages:
            yield await self._inflate(dict(entity))

    async def delete_instance(self, instance_id: str) -> bool:
        existed = await self.get_instance(instance_id) is not None
        await self.delete_history(instance_id)
        pending = [m["RowKey"] async for m in self.list_messages(instance_id)]
        await self.delete_messages(instance_id, pending)
        with contextlib.suppress(ResourceNotFoundError):
            await self.instances.delete_entity(instance_id, "")
        return existed

    # -- history ------------------------------------------------------------------

    async def load_history(self, instance_id: str) -> list[dict[str, Any]]:
        rows = self.history.query_entities("PartitionKey eq @pk", parameters={"pk": instance_id})
        events: list[dict[str, Any]] = []
        async for row in rows:
            entity = await self._inflate(dict(row))
            fields = {k: entity[k] for k in EVENT_FIELDS if entity.get(k) is not None}
            fields["Timestamp"] = entity.get(TIMESTAMP_COLUMN)
            events.append(fields | {"_RowKey": row["RowKey"]})
        events.sort(key=lambda e: e["_RowKey"])
        contiguous = []
        for position, e in enumerate(events):
            # Rows of one episode are written concurrently: a crash can leave a gap. What
            # follows a gap belongs to an unfinished episode and is not history yet.
            if int(e.pop("_RowKey"), 16) != position:
                break
            contiguous.append(e)
        return contiguous

    async def append_history(
        self, instance_id: str, execution_id: str, start: int, events: list[dict[str, Any]]
    ) -> None:
        """Write events at positions start.., all at once.

        Rows of one append go in as few transactions as their size allows (see
        `_submit`). Order does not matter: loading keeps only a gap-free prefix up to an
        episode's end. Rows are inserted, not upserted: the table service then looks each
        up once instead of twice (Azurite scans the instance's partition for each look-up,
        so a long history's rows cost it twice the CPU as upserts). A row that is already
        there (a write repeated after its answer was lost, or the history of an earlier
        execution with the id, deleted only once the new one's row is stored) is replaced
        (see `_transaction`).
        """
        entities = []
        for offset, e in enumerate(events):
            fields = {k: e[k] for k in EVENT_FIELDS if e.get(k) is not None}
            fields[TIMESTAMP_COLUMN] = fields.pop("Timestamp")
            entities.append(
                await self._offload(
                    {
                        "PartitionKey": instance_id,
                        "RowKey": row_key(start + offset),
                        "ExecutionId": execution_id,
                        **fields,
                    },
                    f"{instance_id}/history",
                )
            )
        await self._submit(self.history_table, [("create", e) for e in entities])

    async def delete_history(
        self, instance_id: str, from_position: int = 0, keep_execution: str | None = None
    ) -> int:
        """Delete history rows from a position on (those of `keep_execution` stay)."""
        query = "PartitionKey eq @pk and RowKey ge @rk"
        params = {"pk": instance_id, "rk": row_key(from_position)}
        if keep_execution is not None:
            query += " and ExecutionId ne @ex"
            params["ex"] = keep_execution
        keys = [
            row["RowKey"]
            async for row in self.history.query_entities(
                query, parameters=params, select=["PartitionKey", "RowKey"]
            )
        ]
        await self._submit(
            self.history_table,
            [("delete", {"PartitionKey": instance_id, "RowKey": k}) for k in keys],
        )
        return len(keys)

    # -- messages -----------------------------------------------------------------

    async def _message_entity(
        self, instance_id: str, message_id: str, message: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._offload(
            {"PartitionKey": instance_id, "RowKey": message_id, "Body": json.dumps(message)},
            f"{instance_id}/message",
        )

    async def write_messages(
        self, instance_id: str, added: list[tuple[str, dict[str, Any]]], deleted: list[str]
    ) -> None:
        """Store new messages `(id, message)` of an instance and delete consumed ones, in
        one transaction of its partition (as many as its size needs). Safe to repeat: a
        message already stored is no failure (its id is its own), nor is a delete of a row
        already gone."""
        operations = [
            ("create", await self._message_entity(instance_id, message_id, message))
            for message_id, message in added
        ]
        operations += [("delete", {"PartitionKey": instance_id, "RowKey": m}) for m in deleted]
        await self._submit(self.messages_table, operations)

    async def list_messages(self, instance_id: str) -> AsyncIterator[dict[str, Any]]:
        async for row in self.messages.query_entities(
            "PartitionKey eq @pk", parameters={"pk": instance_id}
        ):
            yield {"RowKey": row["RowKey"], **json.loads(row["Body"])}

    async def list_all_messages(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        async for row in self.messages.list_entities():
            yield row["PartitionKey"], {"RowKey": row["RowKey"], **json.loads(row["Body"])}

    async def delete_messages(self, instance_id: str, message_ids: list[str]) -> None:
        await self._submit(
            self.messages_table,
            [("delete", {"PartitionKey": instance_id, "RowKey": m}) for m in message_ids],
        )

    # -- the start log (start_log.py) --------------------------------------------------

    async def log_starts(self, entries: list[dict[str, Any]]) -> None:
        """Store accepted starts (fields of their instance rows, plus `InstanceId`)."""
        entities = [
            await self._offload(
                {"PartitionKey": STARTS_PARTITION, "RowKey": e["ExecutionId"], **e},
                f"{e['InstanceId']}/start",
            )
            for e in entries
        ]
        chunks = _transactions([("upsert", entity) for entity in entities])
        await asyncio.gather(*(self._submit(self.starts_table, chunk) for chunk in chunks))

    async def forget_starts(self, execution_ids: list[str]) -> None:
        await self._submit(
            self.starts_table,
            [("delete", {"PartitionKey": STARTS_PARTITION, "RowKey": e}) for e in execution_ids],
        )

    async def list_starts(self) -> list[dict[str, Any]]:
        rows = self.starts.query_entities(
            "PartitionKey eq @pk", parameters={"pk": STARTS_PARTITION}
        )
        entries = []
        async for row in rows:
            entry = await self._inflate(dict(row))
            entries.append({k: v for k, v in entry.items() if k not in ("PartitionKey", "RowKey")})
        return entries

    # -- timer trigger status (as the Functions host keeps it, in azure-webjobs-hosts) ----

    async def read_timer_status(self, host_id: str, function: str) -> dict[str, Any] | None:
        content = await self._read_blob(f"timers/{host_id}/{function}/status")
        return None if content is None else dict(json.loads(content))

    async def write_timer_status(self, host_id: str, function: str, status: dict[str, Any]) -> None:
        blob = f"timers/{host_id}/{function}/status"
        await self._blobs.upload(TIMER_STATUS_CONTAINER, blob, json.dumps(status).encode())

    # -- the virtual clock's latest time, so a restart never runs behind it ------------

    async def read_clock(self, host_id: str) -> datetime | None:
        content = await self._read_blob(f"devhost/{host_id}/clock")
        return None if content is None else parse_iso(content.decode())

    async def write_clock(self, host_id: str, moment: datetime) -> None:
        await self._blobs.upload(
            TIMER_STATUS_CONTAINER, f"devhost/{host_id}/clock", iso(moment).encode()
        )

    async def _read_blob(self, name: str) -> bytes | None:
        try:
            content, _ = await self._blobs.download(TIMER_STATUS_CONTAINER, name)
        except ResourceNotFoundError:
            return None
        return content

    # -- helpers ------------------------------------------------------------------

    async def _submit(self, table: str, operations: list[tuple[str, dict[str, Any]]]) -> None:
        """Send operations concurrently: a few as single requests, many as batches of 100.

        Callers never rely on order or atomicity across operations (see load_history).
        Signed requests (table_rest.py) build a batch for next to nothing, and the table
        service takes one batch for far less than its rows one by one: their operations
        go in batches from two rows on.

        Every operation may be a repeat (a write whose answer was lost): "create" inserts,
        and a row already there is replaced; "delete" of a row already gone is done.
        """
        signed = isinstance(self._rows, TableRest)
        limit = 1 if signed else SINGLE_WRITE_LIMIT
        if len(operations) <= limit:
            await asyncio.gather(*(self._single(table, kind, e) for kind, e in operations))
            return
        chunks = _transactions(operations)
        await asyncio.gather(*(self._transaction(table, chunk) for chunk in chunks))

    async def _transaction(self, table: str, operations: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            await self._rows.transaction(table, operations)
            return
        except HttpResponseError as error:
            if error.status_code not in (404, 409):
                raise
        # One row made the whole transaction fail: a "create" of a row that is there (409)
        # or a "delete" of one that is gone (404). Again with the creates as upserts (one
        # transaction: idempotent) and the deletes one by one (one that fails, fails alone).
        upserts = [("upsert", e) for kind, e in operations if kind == "create"]
        singles = [(kind, e) for kind, e in operations if kind != "create"]
        if len(upserts) > 1:
            await self._rows.transaction(table, upserts)
        else:
            singles += upserts
        await asyncio.gather(*(self._single(table, kind, e) for kind, e in singles))

    async def _single(self, table: str, kind: str, entity: dict[str, Any]) -> None:
        if kind == "upsert":
            await self._rows.upsert(table, entity)
            return
        if kind == "create":
            try:
                await self._rows.insert(table, entity)
            except ResourceExistsError:  # a repeat: replaced, as `_transaction` does
                await self._rows.upsert(table, entity)
            return
        with contextlib.suppress(ResourceNotFoundError):
            await self._rows.delete(table, entity["PartitionKey"], entity["RowKey"])


def _transactions(
    operations: list[tuple[str, dict[str, Any]]],
) -> list[list[tuple[str, dict[str, Any]]]]:
    """Operations of one partition in chunks that each fit one transaction: at most
    BATCH_LIMIT rows and 4 MiB (an inline value is at most MAX_INLINE_CHARS)."""
    chunks: list[list[tuple[str, dict[str, Any]]]] = [[]]
    size = 0
    for kind, entity in operations:
        chars = sum(len(v) for v in entity.values() if isinstance(v, str))
        if len(chunks[-1]) == BATCH_LIMIT or size + chars > TRANSACTION_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append((kind, entity))
        size += chars
    return [chunk for chunk in chunks if chunk]


class SdkTableRows:
    """TableRest's row operations through the SDK's table clients, for connection strings
    that signed requests cannot sign (no account key: a SAS)."""

    def __init__(self, clients: Iterable[TableClient]):
        self._clients = {client.table_name: client for client in clients}

    async def close(self) -> None:
        """Nothing of its own to close: the clients are the store's."""

    async def get(self, table: str, partition_key: str, row_key: str) -> dict[str, Any]:
        return dict(await self._clients[table].get_entity(partition_key, row_key))

    async def upsert(self, table: str, entity: dict[str, Any], merge: bool = False) -> None:
        from azure.data.tables import UpdateMode

        mode = UpdateMode.MERGE if merge else UpdateMode.REPLACE
        await self._clients[table].upsert_entity(entity, mode=mode)

    async def insert(self, table: str, entity: dict[str, Any]) -> None:
        await self._clients[table].create_entity(entity)

    async def delete(self, table: str, partition_key: str, row_key: str) -> None:
        await self._clients[table].delete_entity(partition_key, row_key)

    async def transaction(self, table: str, operations: list[tuple[str, dict[str, Any]]]) -> None:
        await self._clients[table].submit_transaction(operations)
