"""The store's signed table requests (table_rest.py) store what the SDK would: rows written
one way read back the same the other way, failures are the SDK's exceptions, and a batch
that fails stores none of its rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError, ServiceRequestError
from azure.data.tables import TableServiceClient

from devhost.store import SdkTableRows, Store
from devhost.table_rest import TableRest, table_endpoint

pytestmark = pytest.mark.slow

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFq8=="


def run(body: Callable[[Store], Coroutine[Any, Any, None]], connection: str, hub: str) -> None:
    async def main() -> None:
        store = Store(connection, hub)
        await store.open()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_key_connection_string_gets_signed_requests_and_a_sas_one_the_sdk() -> None:
    assert table_endpoint(
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
        "EndpointSuffix=core.windows.net"
    ) == ("https://acct.table.core.windows.net", "acct", __import__("base64").b64decode(KEY))
    sas = "TableEndpoint=https://acct.table.core.windows.net/;SharedAccessSignature=sv=x&sig=y"
    assert table_endpoint(sas) is None
    assert TableRest.for_connection(sas) is None


@pytest.mark.parametrize("through", ["signed requests", "the SDK's clients"])
def test_rows_written_by_signed_requests_read_back_through_the_sdk(
    storage_connection_string: str, unique_name: str, through: str
) -> None:
    """The same rows, whether the store writes them by signed requests (an account key) or
    through the SDK's clients (a SAS connection string)."""
    created = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    instance = "it's a test-ü"  # a quote, a space and non-ASCII in the key

    async def body(store: Store) -> None:
        assert isinstance(store._rows, TableRest)  # Azurite's key: signed requests
        if through == "the SDK's clients":
            await store._rows.close()
            store._rows = SdkTableRows(
                (store.instances, store.history, store.messages, store.starts)
            )
        fields = {
            "Name": "hello",
            "Input": '["Lima"]',
            "CreatedTime": created,
            "RuntimeStatus": "Pending",
            "ExecutionId": "e1",
            "ParentTaskId": 7,
        }
        assert await store.create_instance(instance, fields) is None
        await store.update_instance(instance, {"RuntimeStatus": "Completed", "Output": '"x"'})
        # The insert is the existence check: an unfinished instance (here Running) holds it.
        await store.update_instance(instance, {"RuntimeStatus": "Running"})
        assert await store.create_instance(instance, {**fields, "ExecutionId": "e2"}) == "Running"
        events = [
            {"EventType": 12, "EventId": -1, "Timestamp": "2026-01-02T03:04:05.000000Z"},
            {"EventType": 0, "EventId": -1, "Timestamp": "2026-01-02T03:04:05.000000Z"},
            {"EventType": 4, "EventId": 0, "Timestamp": "2026-01-02T03:04:06Z", "Name": "a"},
        ]
        await store.append_history(instance, "e1", 0, events)  # one batch of three
        await store.append_history(instance, "e1", 3, [{**events[0], "EventId": -1}])
        assert [e["EventType"] for e in await store.load_history(instance)] == [12, 0, 4, 12]
        # Rows already there (a repeated write, an earlier execution's) are replaced.
        await store.append_history(instance, "e1", 2, events[1:])
        await store.append_history(instance, "e1", 3, [{**events[2], "Name": "b"}])
        assert [e["EventType"] for e in await store.load_history(instance)] == [12, 0, 0, 4]
        # Messages: added and consumed ones deleted in one write, which may be repeated.
        added = [(f"m{i}", {"kind": "event", "name": "tick", "input": str(i)}) for i in range(3)]
        await store.write_messages(instance, added, [])
        await store.write_messages(instance, [("m3", {"kind": "terminate"})], ["m0", "m1"])
        await store.write_messages(instance, [("m3", {"kind": "terminate"})], ["m0", "m1"])
        await store.write_messages(instance, [("m3", {"kind": "terminate"})], [])
        await store.write_messages(instance, [], ["m2"])
        await store.write_messages(instance, [], ["m2", "m0"])
        assert [m async for m in store.list_messages(instance)] == [
            {"RowKey": "m3", "kind": "terminate"}
        ]
        # Start log entries are forgotten in one batch, also when some are gone already.
        await store.log_starts([{"InstanceId": f"i{n}", "ExecutionId": f"x{n}"} for n in range(3)])
        await store.forget_starts(["x0", "x1"])
        await store.forget_starts(["x0", "x1", "x2"])
        assert await store.list_starts() == []

    run(body, storage_connection_string, unique_name)

    service = TableServiceClient.from_connection_string(storage_connection_string)
    row = service.get_table_client(f"{unique_name}Instances").get_entity(instance, "")
    assert row["CreatedTime"] == created
    assert row["ParentTaskId"] == 7
    assert (row["RuntimeStatus"], row["Output"], row["Name"]) == ("Running", '"x"', "hello")
    history = list(service.get_table_client(f"{unique_name}History").list_entities())
    assert [h["RowKey"] for h in history] == [f"{p:016X}" for p in range(4)]
    assert history[3]["Name"] == "b" and history[3]["ExecutionId"] == "e1"


def test_failures_are_the_sdk_exceptions_and_a_failed_batch_stores_nothing(
    storage_connection_string: str, unique_name: str
) -> None:
    async def body(store: Store) -> None:
        rest = store._rows
        assert isinstance(rest, TableRest)
        table = f"{unique_name}History"
        await rest.insert(table, {"PartitionKey": "p", "RowKey": "taken"})
        with pytest.raises(ResourceExistsError):
            await rest.insert(table, {"PartitionKey": "p", "RowKey": "taken"})
        with pytest.raises(ResourceNotFoundError):
            await rest.get(table, "p", "missing")
        with pytest.raises(ResourceNotFoundError):
            await rest.delete(table, "p", "missing")
        # A batch whose one operation fails (a delete of a missing row) stores none of it.
        operations = [("upsert", {"PartitionKey": "p", "RowKey": f"r{i}"}) for i in range(3)]
        with pytest.raises(ResourceNotFoundError):
            await rest.transaction(
                table, [*operations, ("delete", {"PartitionKey": "p", "RowKey": "missing"})]
            )
        rows = [r["RowKey"] async for r in store.history.list_entities()]
        assert rows == ["taken"]
        # And one whose insert finds its row taken.
        with pytest.raises(ResourceExistsError):
            await rest.transaction(
                table, [*operations, ("create", {"PartitionKey": "p", "RowKey": "taken"})]
            )
        rows = [r["RowKey"] async for r in store.history.list_entities()]
        assert rows == ["taken"]
        await rest.transaction(table, operations)
        assert (await rest.get(table, "p", "r2"))["RowKey"] == "r2"
        await rest.transaction(table, [("create", {"PartitionKey": "p", "RowKey": "new"})])
        assert (await rest.get(table, "p", "new"))["RowKey"] == "new"

    run(body, storage_connection_string, unique_name)


def test_storage_that_does_not_answer_is_a_storage_error() -> None:
    async def main() -> None:
        rest = TableRest("http://127.0.0.1:9/devstoreaccount1", "devstoreaccount1", b"key")
        try:
            with pytest.raises(ServiceRequestError):
                await rest.get("t", "p", "r")
        finally:
            await rest.close()

    asyncio.run(main())
