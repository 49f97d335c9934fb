"""Agent events from the run's queue into the run's records (events, and resource rows)."""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from haymaker.events import EventReceiver, QueueStorage, events_queue_name
from haymaker.service import services

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

# How many message batches one poll drains at most, so a poll stays short.
MAX_BATCHES_PER_POLL = 20
# Events that tell an agent's counts so far (COUNTS), and the counts.
PROGRESS_EVENTS = ("heartbeat", "finished", "failed")
COUNTS = ("rounds", "commands", "commands_failed")

# One drain of a run's queue at a time in this process. The agents of a run share its
# queue and their monitors poll together (under the virtual clock, in the same instant):
# one poll's drain records what every other would, and parallel drains would only split
# the messages between them, each paying for its own receives and batch writes.
# (A lock per run seen, kept: a few hundred bytes a run.)
_draining: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


@functools.lru_cache(maxsize=64)
def _run_queue(storage: QueueStorage, name: str) -> QueueClient:
    """One client per run queue and process, reused by every poll (SDK clients are
    thread-safe): a new client per poll paid for its pipeline and a new connection."""
    if isinstance(storage, str):
        # Imported at the first poll, not with the app: a sixth of the app's import, which
        # every cold start (and the doctor's probe of the app) would pay.
        from azure.storage.queue import QueueClient

        return QueueClient.from_connection_string(storage, name)
    return storage.queue(name)


def record_new_events(
    run_id: str, max_batches: int = MAX_BATCHES_PER_POLL, wait: bool = False
) -> int:
    """Record the run's waiting events (every agent's: they share a queue); returns how many.

    While another drain of the run runs in this process, returns 0 at once, unless `wait`
    (after an agent stopped, and at finalize, what it sent must be recorded before going
    on): that drain records the events. Records dedupe by event id, so a message delivered
    twice is harmless; messages are deleted only once recorded.
    """
    lock = _draining[run_id]
    if not lock.acquire(blocking=wait):
        return 0
    try:
        return _drain(run_id, max_batches)
    finally:
        lock.release()


def _drain(run_id: str, max_batches: int) -> int:
    svc = services()
    name = events_queue_name(run_id)
    receiver = EventReceiver(_run_queue(svc.settings.storage, name), name)
    recorded = 0
    for _ in range(max_batches):
        events = receiver.receive()
        if not events:
            break
        svc.records.append_events(run_id, events)
        for event in events:
            _record_resource_event(event)
        _record_progress(run_id, events)
        receiver.acknowledge(events)
        recorded += len(events)
    return recorded


def _record_resource_event(event: dict[str, Any]) -> None:
    kind = {"resource_created": "created", "resource_deleted": "removed"}.get(event.get("type", ""))
    if kind is None:
        return
    services().records.record_resource(
        event["run_id"],
        event["agent_id"],
        str(event.get("local_kind") or event.get("kind")),
        str(event.get("local_name") or event.get("name")),
        kind,
    )


def _record_progress(run_id: str, events: list[dict[str, Any]]) -> None:
    """What each agent has done so far, on its row: its operate rounds, commands and failed
    commands, as its heartbeat after each round and its last event (`finished` or
    `failed`) count them. The counts only grow, so the row keeps the highest told,
    whatever order the queue delivers the messages in (a heartbeat delivered again after
    the agent's last word changes nothing). An agent that finished early says why: its
    poll reads that to name the outcome."""
    told: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("type") not in PROGRESS_EVENTS:
            continue
        fields = told.setdefault(str(event["agent_id"]), {})
        for name in COUNTS:
            value = event.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                fields[name] = max(value, fields.get(name, value))
        if event.get("type") == "finished" and event.get("cut_short"):
            fields["cut_short"] = str(event["cut_short"])
    told = {agent_id: fields for agent_id, fields in told.items() if fields}
    if not told:
        return
    records = services().records
    stored = {agent["agent_id"]: agent for agent in records.list_agents(run_id)}
    for agent_id, fields in told.items():
        row = stored.get(agent_id, {})
        fresh = {
            name: value
            for name, value in fields.items()
            if name not in COUNTS or not isinstance(row.get(name), int) or value > row[name]
        }
        if fresh:
            records.upsert_agent(run_id, agent_id, **fresh)


def cut_short_reason(run_id: str, agent_id: str) -> str | None:
    """Why the agent's scenario was cut short, as its `finished` event said (None: it wasn't)."""
    for agent in services().records.list_agents(run_id):
        if agent.get("agent_id") == agent_id:
            return agent.get("cut_short") or None
    return None
