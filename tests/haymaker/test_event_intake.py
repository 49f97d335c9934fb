"""The monitors' event intake: a run's queue drained into its records, each event once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from activities.event_intake import record_new_events
from haymaker.events import (
    EventSender,
    create_events_queue,
    delete_events_queue,
    events_queue_name,
)
from haymaker.service import services


@pytest.fixture
def run_id(storage_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    services.cache_clear()
    run = f"run-20261201-120000-{uuid.uuid4().hex[:6]}"
    services().records.create_run(run, {"count": 3}, ["s1", "s2", "s3"], datetime.now(UTC))
    create_events_queue(storage_connection_string, run)
    yield run
    delete_events_queue(storage_connection_string, run)
    services.cache_clear()


def test_monitors_polling_together_record_every_event_once(
    run_id: str, storage_connection_string: str
) -> None:
    """Three agents' rounds wait in the shared queue; their three monitors poll at once (as
    under the virtual clock), then a teardown drains what is left: every event is in the
    run's records once, and the queue is empty."""
    sent = []
    for agent in ("a00", "a01", "a02"):
        sender = EventSender(storage_connection_string, events_queue_name(run_id))
        for round_ in range(12):
            events = [
                sender.stamp({"type": "heartbeat", "run_id": run_id, "agent_id": agent})
                for _ in range(round_ % 3 + 1)
            ]
            assert sender.deliver_many(events) == len(events)
            sent += events
    counts: list[int] = []
    start = threading.Barrier(3)

    def poll() -> None:
        start.wait()
        counts.append(record_new_events(run_id))

    polls = [threading.Thread(target=poll) for _ in range(3)]
    for thread in polls:
        thread.start()
    for thread in polls:
        thread.join()
    counts.append(record_new_events(run_id, wait=True))
    assert sum(counts) == len(sent)
    recorded = services().records.list_events(run_id, limit=1000)[0]
    assert sorted(e["id"] for e in recorded) == sorted(e["id"] for e in sent)
    assert record_new_events(run_id, wait=True) == 0


def test_an_agents_row_shows_its_rounds_and_commands_as_they_grow(
    run_id: str, storage_connection_string: str
) -> None:
    """`run agents` shows what an agent has done while it works (its heartbeats count its
    rounds and commands), then what its last event told; a heartbeat the queue delivers
    again after that last word takes nothing back."""
    records = services().records
    for agent in ("a00", "a01"):
        records.upsert_agent(run_id, agent, phase="monitoring")
    sender = EventSender(storage_connection_string, events_queue_name(run_id))

    def deliver(agent: str, kind: str, rounds: int, commands: int, **more: str) -> None:
        event = {"type": kind, "run_id": run_id, "agent_id": agent, **more}
        assert sender.deliver_many(
            [sender.stamp({**event, "rounds": rounds, "commands": commands})]
        )
        record_new_events(run_id, wait=True)

    def counts() -> dict[str, tuple[int | None, int | None]]:
        return {
            a["agent_id"]: (a.get("rounds"), a.get("commands")) for a in records.list_agents(run_id)
        }

    assert counts() == {"a00": (None, None), "a01": (None, None)}
    deliver("a00", "heartbeat", 1, 5)
    deliver("a00", "heartbeat", 2, 9)
    assert counts() == {"a00": (2, 9), "a01": (None, None)}
    deliver("a00", "finished", 2, 14, cut_short="the scenario's resource quota ran out")
    deliver("a01", "failed", 0, 3, error="deploy failed")
    deliver("a00", "heartbeat", 1, 5)  # late, delivered again
    assert counts() == {"a00": (2, 14), "a01": (0, 3)}
    assert records.list_agents(run_id)[0]["cut_short"] == "the scenario's resource quota ran out"
