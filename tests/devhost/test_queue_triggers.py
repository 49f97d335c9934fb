"""Queue triggers on Azurite: base64 messages handed over as func.QueueMessage, retried on
failure and moved to `<queue>-poison` after 5 dequeues; unserved triggers refused."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from devhost.testing import HostHandle
from tests.devhost.helpers import app_host, copy_app, new_hub, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def queue_name(unique_name: str) -> str:
    return f"orders-{unique_name}"


@pytest.fixture
def host(storage_connection_string: str, tmp_path: Path, queue_name: str) -> Iterator[HostHandle]:
    with app_host("queue_app", tmp_path, hub=new_hub(), env={"ORDERS_QUEUE": queue_name}) as handle:
        yield handle


def queue(connection: str, name: str) -> QueueClient:
    return QueueClient.from_connection_string(
        connection,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def seen(host: HostHandle) -> list[dict[str, Any]]:
    path = host.app_dir / ".devhost" / "seen.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_message_is_handed_over_decoded_with_its_fields_and_deleted(
    host: HostHandle, storage_connection_string: str, queue_name: str
) -> None:
    orders = queue(storage_connection_string, queue_name)
    orders.create_queue()
    sent = orders.send_message('{"order": 7, "item": "hay"}')

    # The SDK retries a send that timed out, so under load the queue may hold a copy too.
    [record] = wait_until(
        lambda: [r for r in seen(host) if r["id"] == sent.id],
        timeout=60,
        message="the order to be taken",
    )

    assert record["id"] == sent.id
    assert json.loads(record["body"]) == {"order": 7, "item": "hay"}
    assert record["dequeue_count"] == 1
    assert record["has_pop_receipt"] is True
    assert datetime.fromisoformat(record["insertion_time"]) < datetime.fromisoformat(
        record["expiration_time"]
    )
    wait_until(
        lambda: orders.get_queue_properties().approximate_message_count == 0,
        timeout=30,
        message="the message to be deleted after success",
    )
    assert "Executed 'Functions.take_order' (Succeeded" in host.log()


def test_a_failing_message_is_retried_then_moved_to_the_poison_queue(
    host: HostHandle, storage_connection_string: str, queue_name: str
) -> None:
    orders = queue(storage_connection_string, queue_name)
    orders.create_queue()
    orders.send_message("poison pill")
    poison = queue(storage_connection_string, f"{queue_name}-poison")

    def poisoned() -> list[str]:
        try:
            return [m.content for m in poison.peek_messages(max_messages=32)]
        except Exception:
            return []

    moved = wait_until(poisoned, timeout=90, message="the message in the poison queue")
    # Moved means sent to the poison queue, then deleted from its own.
    wait_until(
        lambda: orders.get_queue_properties().approximate_message_count == 0,
        timeout=30,
        message="the poisoned message to leave its queue",
    )
    tries: dict[str, list[int]] = {}
    for record in seen(host):
        tries.setdefault(record["id"], []).append(record["dequeue_count"])

    assert set(moved) == {"poison pill"}
    assert sorted(tries.values()) == [[1, 2, 3, 4, 5]] * len(moved)
    assert "has reached MaxDequeueCount of 5" in host.log()


def test_a_trigger_devhost_does_not_serve_fails_indexing_with_one_line(
    tmp_path: Path,
) -> None:
    app = copy_app("queue_app", tmp_path)
    (app / "function_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        '@app.blob_trigger(arg_name="b", path="in/{name}", connection="AzureWebJobsStorage")\n'
        "def on_blob(b: func.InputStream) -> None:\n"
        "    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "start", str(app)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Found the following functions" not in result.stdout
    first = result.stderr.splitlines()[0]
    assert first == (
        "devhost does not serve the trigger of on_blob (blobTrigger); it serves "
        "httpTrigger, timerTrigger, queueTrigger, orchestrationTrigger, activityTrigger"
    )
