"""Local agents create, use and delete their resources, and send their events, as signed
requests for Azurite's account, also when it is named `UseDevelopmentStorage=true` (the
default of `./dev run`): the storage SDKs' pipeline costs an agent 1-2 ms of CPU a use, a
few hundred uses a run, and importing them a third of a second at its start. The signed
requests must do what the SDKs do."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from haymaker.events import EventReceiver, EventSender
from haymaker.providers.local_cloud import LocalCloud
from haymaker.providers.local_uses import SdkUses, SignedQueue, SignedUses, Uses, shared_key

DEV_STORAGE = "UseDevelopmentStorage=true"
KINDS = ("blob_container", "table", "queue")


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


def _signed(connection: str) -> SignedUses:
    uses = SignedUses.for_connection(connection)
    assert uses is not None
    return uses


def _sdk(connection: str) -> Uses:
    return SdkUses(
        BlobServiceClient.from_connection_string(connection),
        TableServiceClient.from_connection_string(connection),
        QueueServiceClient.from_connection_string(connection),
    )


WAYS: dict[str, Callable[[str], Uses]] = {"signed": _signed, "sdk": _sdk}


@pytest.mark.parametrize("way", WAYS)
def test_creates_and_deletes_say_what_was_there(way: str, storage_connection_string: str) -> None:
    """Signed requests and the SDKs alike: True for a new object, False for one that was
    there (its metadata set anew) and for deleting one that is gone."""
    uses = WAYS[way](storage_connection_string)
    blobs = BlobServiceClient.from_connection_string(storage_connection_string)
    queues = QueueServiceClient.from_connection_string(storage_connection_string)
    tables = TableServiceClient.from_connection_string(storage_connection_string)
    name = "made" + uuid.uuid4().hex[:12]
    first, second = {"azurehaymaker_run": "one"}, {"azurehaymaker_run": "two"}

    assert uses.create_container(name, first) is True
    assert uses.create_container(name, second) is False
    assert blobs.get_container_client(name).get_container_properties().metadata == second
    assert (uses.delete_container(name), uses.delete_container(name)) == (True, False)

    assert uses.create_queue(name, first) is True
    assert uses.create_queue(name, first) is False  # the same metadata: 204, not 409
    assert uses.create_queue(name, second) is False
    assert queues.get_queue_client(name).get_queue_properties().metadata == second
    assert (uses.delete_queue(name), uses.delete_queue(name)) == (True, False)

    assert (uses.create_table(name), uses.create_table(name)) == (True, False)
    uses.upsert_entity(name, {"PartitionKey": "p", "RowKey": "it's", "at": "noon"})
    uses.delete_entity(name, "p", "it's")
    uses.delete_entity(name, "p", "it's")  # gone already: no error
    assert list(tables.get_table_client(name).list_entities()) == []
    assert (uses.delete_table(name), uses.delete_table(name)) == (True, False)
    uses.delete_entity(name, "p", "r")  # its table is gone: no error
    assert list(tables.query_tables("TableName eq @n", parameters={"n": name})) == []


def test_events_sent_as_signed_requests_arrive_as_sent(storage_connection_string: str) -> None:
    queue = "events" + uuid.uuid4().hex[:12]
    QueueServiceClient.from_connection_string(storage_connection_string).create_queue(queue)
    sender = EventSender(SignedQueue(_signed(storage_connection_string), queue), queue)
    sent = [
        sender.stamp({"type": "started", "run_id": "r", "agent_id": "a00", "scenario_id": "s"}),
        sender.stamp({"type": "error", "run_id": "r", "agent_id": "a00", "message": "<&'\">"}),
    ]
    sender.deliver(sent[0])
    assert sender.deliver_many(sent[1:]) == 1
    received = EventReceiver(storage_connection_string, queue).receive()
    assert received == sent


def test_a_connection_left_mid_request_is_replaced_not_an_error(
    storage_connection_string: str,
) -> None:
    """A stopped agent (SIGTERM raises SystemExit wherever it is) can be interrupted
    between a request and its answer; its `finally` then sends its held events on the
    same connection, which refused (CannotSendRequest) and made a spurious `error` event."""
    queue = "events" + uuid.uuid4().hex[:12]
    QueueServiceClient.from_connection_string(storage_connection_string).create_queue(queue)
    uses = _signed(storage_connection_string)
    sender = EventSender(SignedQueue(uses, queue), queue)
    first = sender.stamp({"type": "started", "run_id": "r", "agent_id": "a00", "scenario_id": "s"})
    sender.deliver(first)
    uses._connection("queue").request("GET", "/")  # interrupted before its answer was read
    then = sender.stamp({"type": "heartbeat", "run_id": "r", "agent_id": "a00"})
    sender.deliver(then)
    assert EventReceiver(storage_connection_string, queue).receive() == [first, then]


def test_a_local_agent_imports_no_storage_sdk(storage_connection_string: str) -> None:
    """What `python -m agent` imports in local mode, and its event sender and resources at
    work, with the storage SDKs made unimportable."""
    probe = (
        "import sys\n"
        "for name in ('azure.storage', 'azure.data'): sys.modules[name] = None\n"
        "sys.modules['aiohttp'] = None  # as agent/__main__.py marks it\n"
        "import agent.__main__, agent.local_actions\n"
        "from agent.reporting import open_sender\n"
        "from haymaker.providers.local_cloud import LocalCloud\n"
        "connection, queue, name = sys.argv[1:]\n"
        "class Local:\n"
        "    events_account_url, mode = None, 'local'\n"
        "    storage, events_queue = connection, queue\n"
        "sender = open_sender(Local())\n"
        "sender.send({'type': 'heartbeat', 'run_id': 'r', 'agent_id': 'a00'})\n"
        "cloud = LocalCloud(connection)\n"
        "for kind in ('blob_container', 'table', 'queue'):\n"
        "    assert cloud.create(kind, name, {'azurehaymaker-managed': 'true'})\n"
        "    cloud.act(kind, name, {'step': 'read'}, key='read')\n"
        "    assert cloud.delete(kind, name)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('azure.storage.', 'azure.data.'))))\n"
    )
    queue, name = "events" + uuid.uuid4().hex[:12], "probe" + uuid.uuid4().hex[:12]
    QueueServiceClient.from_connection_string(storage_connection_string).create_queue(queue)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe, storage_connection_string, queue, name],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    [event] = EventReceiver(storage_connection_string, queue).receive()
    assert event["type"] == "heartbeat"


def test_one_cloud_serves_many_threads_at_once(storage_connection_string: str) -> None:
    """The host's activities share one provider, hence one LocalCloud, from many threads."""
    cloud = LocalCloud(storage_connection_string)
    names = ["many" + uuid.uuid4().hex[:12] for _ in range(8)]
    start = threading.Barrier(len(names))

    def lifecycle(name: str) -> list[bool]:
        start.wait()
        made = [cloud.create(kind, name, {"azurehaymaker-managed": "true"}) for kind in KINDS]
        return made + [cloud.delete(kind, name) for kind in KINDS]

    with ThreadPoolExecutor(len(names)) as pool:
        outcomes = list(pool.map(lifecycle, names))
    assert outcomes == [[True] * 6] * len(names)
    assert [item for item in cloud.list_tagged({}) if item["name"] in names] == []
