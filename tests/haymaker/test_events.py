"""Agent events travel through a real queue (Azurite): validated out, tolerant in, at-least-once."""

from __future__ import annotations

import base64
import json

import pytest
from azure.storage.queue import QueueClient

from haymaker.events import (
    EventReceiver,
    EventSender,
    create_events_queue,
    delete_events_queue,
    events_queue_name,
    list_events_queues,
)
from tests.app.helpers import wait_until

BASE = {"run_id": "run-1", "agent_id": "a00"}


@pytest.fixture
def queue(storage_connection_string: str, unique_name: str):
    run_id = f"run-{unique_name}"
    name = create_events_queue(storage_connection_string, run_id)
    assert name == events_queue_name(run_id)
    yield name
    delete_events_queue(storage_connection_string, run_id)


def test_send_stamps_and_receive_returns_events_in_order(
    storage_connection_string: str, queue: str
) -> None:
    sender = EventSender(storage_connection_string, queue)
    sent = [
        sender.send({**BASE, "type": "started", "scenario_id": "s1"}),
        sender.send({**BASE, "type": "phase", "phase": "deploy"}),
        sender.send(
            {
                **BASE,
                "type": "command",
                "step": "x",
                "command": "az x",
                "exit_code": 0,
                "duration_s": 0.1,
            }
        ),
    ]
    assert all(event["id"] and event["ts"] for event in sent)
    assert len({event["id"] for event in sent}) == 3

    receiver = EventReceiver(storage_connection_string, queue)
    received = receiver.receive()
    assert [event["id"] for event in received] == [event["id"] for event in sent]
    assert receiver.acknowledge(received) == 3
    assert receiver.receive() == []


def test_unacknowledged_events_are_redelivered(storage_connection_string: str, queue: str) -> None:
    sender = EventSender(storage_connection_string, queue)
    event = sender.send({**BASE, "type": "heartbeat"})
    first = EventReceiver(storage_connection_string, queue, visibility_timeout=1)
    assert [e["id"] for e in first.receive()] == [event["id"]]
    # The "crash": never acknowledged. After the visibility timeout it comes back.
    second = EventReceiver(storage_connection_string, queue)
    redelivered = wait_until(second.receive, timeout=60, message="the event to come back")
    assert [e["id"] for e in redelivered] == [event["id"]]
    second.acknowledge(redelivered)


def test_malformed_messages_are_counted_skipped_and_removed(
    storage_connection_string: str, queue: str
) -> None:
    raw = QueueClient.from_connection_string(storage_connection_string, queue)
    raw.send_message("not json at all")
    raw.send_message(
        json.dumps({**BASE, "type": "teleported", "id": "x", "ts": "2026-01-01T00:00:00Z"})
    )
    raw.send_message(json.dumps(["a", "list"]))
    good = {**BASE, "type": "finished", "id": "ok1", "ts": "2026-01-01T00:00:00Z"}
    raw.send_message(base64.b64encode(json.dumps(good).encode()).decode())  # Functions style

    receiver = EventReceiver(storage_connection_string, queue)
    received = receiver.receive()
    assert [event["id"] for event in received] == ["ok1"]
    assert receiver.malformed == 3
    receiver.acknowledge(received)
    assert receiver.receive() == [] and receiver.malformed == 3


def test_invalid_outgoing_events_are_refused(storage_connection_string: str, queue: str) -> None:
    sender = EventSender(storage_connection_string, queue)
    with pytest.raises(ValueError, match="unknown event type"):
        sender.send({**BASE, "type": "party"})
    with pytest.raises(ValueError, match="phase"):
        sender.send({**BASE, "type": "phase", "phase": "lunch"})
    with pytest.raises(ValueError, match="exit_code"):
        sender.send({**BASE, "type": "command", "step": "s", "command": "az", "duration_s": 1})
    with pytest.raises(ValueError, match="agent_id"):
        sender.send({"run_id": "run-1", "type": "heartbeat"})


def test_receiving_from_a_missing_queue_is_empty(
    storage_connection_string: str, unique_name: str
) -> None:
    assert EventReceiver(storage_connection_string, f"missing-{unique_name}").receive() == []


def test_event_queues_are_listed_with_their_run(storage_connection_string: str, queue: str) -> None:
    assert list_events_queues(storage_connection_string)[queue].startswith("run-")


def test_a_batch_message_is_deleted_once_every_event_in_it_is_acknowledged(
    storage_connection_string: str, queue: str
) -> None:
    sender = EventSender(storage_connection_string, queue)
    stamped = [sender.stamp({**BASE, "type": "heartbeat", "rounds": n}) for n in range(3)]
    assert sender.deliver_many(stamped) == 3  # one message
    client = QueueClient.from_connection_string(storage_connection_string, queue)
    assert client.get_queue_properties().approximate_message_count == 1

    receiver = EventReceiver(storage_connection_string, queue, visibility_timeout=1)
    received = receiver.receive()
    assert [event["rounds"] for event in received] == [0, 1, 2]
    # Two of three recorded: the message stays, and comes back with all three.
    assert receiver.acknowledge(received[:2]) == 0
    again = wait_until(receiver.receive, timeout=60, message="the batch to come back")
    assert [event["id"] for event in again] == [event["id"] for event in stamped]
    assert receiver.acknowledge(again) == 1
    assert receiver.receive() == []


def test_a_batch_larger_than_a_message_goes_as_several(
    storage_connection_string: str, queue: str
) -> None:
    sender = EventSender(storage_connection_string, queue)
    big = "x" * 9_000
    stamped = [sender.stamp({**BASE, "type": "error", "message": big}) for _ in range(5)]
    sent = 0
    while sent < len(stamped):
        sent += sender.deliver_many(stamped[sent:])
    client = QueueClient.from_connection_string(storage_connection_string, queue)
    assert client.get_queue_properties().approximate_message_count == 2
    receiver = EventReceiver(storage_connection_string, queue)
    received = receiver.receive()
    assert sorted(event["id"] for event in received) == sorted(e["id"] for e in stamped)
    assert all(event["message"] == big for event in received)


def test_deleting_the_queue_again_or_a_missing_one_succeeds(
    storage_connection_string: str, unique_name: str
) -> None:
    """finalize_run deletes the queue; a retried finalize (or a second host's) must not fail."""
    run_id = f"run-{unique_name}"
    name = create_events_queue(storage_connection_string, run_id)
    delete_events_queue(storage_connection_string, run_id)
    assert name not in list_events_queues(storage_connection_string)
    delete_events_queue(storage_connection_string, run_id)
    delete_events_queue(storage_connection_string, f"run-never-{unique_name}")
