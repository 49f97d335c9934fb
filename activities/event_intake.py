"""Agent events from the run's queue into the run's records (events, and resource rows)."""

from __future__ import annotations

from typing import Any

from haymaker.events import EventReceiver, events_queue_name
from haymaker.service import services

# How many message batches one poll drains at most, so a poll stays short.
MAX_BATCHES_PER_POLL = 20


def record_new_events(run_id: str, max_batches: int = MAX_BATCHES_PER_POLL) -> int:
    """Record the run's waiting events (every agent's: they share a queue); returns how many.

    Records dedupe by event id, so a message delivered twice is harmless; messages are
    deleted only once recorded.
    """
    svc = services()
    receiver = EventReceiver(svc.settings.storage, events_queue_name(run_id))
    recorded = 0
    for _ in range(max_batches):
        events = receiver.receive()
        if not events:
            break
        svc.records.append_events(run_id, events)
        for event in events:
            _record_resource_event(event)
            _record_cut_short(event)
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


def _record_cut_short(event: dict[str, Any]) -> None:
    """An agent that finished early says why; its poll reads that to name the outcome."""
    if event.get("type") == "finished" and event.get("cut_short"):
        services().records.upsert_agent(
            event["run_id"], event["agent_id"], cut_short=str(event["cut_short"])
        )


def cut_short_reason(run_id: str, agent_id: str) -> str | None:
    """Why the agent's scenario was cut short, as its `finished` event said (None: it wasn't)."""
    for agent in services().records.list_agents(run_id):
        if agent.get("agent_id") == agent_id:
            return agent.get("cut_short") or None
    return None
