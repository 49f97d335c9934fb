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
            _record_last_word(event)
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


def _record_last_word(event: dict[str, Any]) -> None:
    """An agent's last event (`finished` or `failed`) says how many operate rounds and
    commands it ran, for the run's report; one that finished early says why, and its poll
    reads that to name the outcome."""
    if event.get("type") not in ("finished", "failed"):
        return
    fields: dict[str, Any] = {
        name: event[name]
        for name in ("rounds", "commands")
        if isinstance(event.get(name), int) and not isinstance(event.get(name), bool)
    }
    if event.get("type") == "finished" and event.get("cut_short"):
        fields["cut_short"] = str(event["cut_short"])
    if fields:
        services().records.upsert_agent(event["run_id"], event["agent_id"], **fields)


def cut_short_reason(run_id: str, agent_id: str) -> str | None:
    """Why the agent's scenario was cut short, as its `finished` event said (None: it wasn't)."""
    for agent in services().records.list_agents(run_id):
        if agent.get("agent_id") == agent_id:
            return agent.get("cut_short") or None
    return None
