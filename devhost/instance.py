"""An orchestration instance that is not finished, as the engine holds it in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Live:
    """An instance that is not finished, as the engine holds it in memory."""

    instance_id: str
    name: str
    execution_id: str
    input: str | None
    created_time: datetime
    parent_id: str | None = None
    parent_task_id: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    # history[i] serialized as every later replay sends it (see replay.played_json).
    history_json: list[str] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    inbox_messages: list[str] = field(default_factory=list)
    completed_tasks: set[int] = field(default_factory=set)
    timers: dict[int, Any] = field(default_factory=dict)
    status: str = "Pending"
    custom_status: str | None = None
    episode_scheduled: bool = False
    suspended: bool = False
    terminate_reason: str | None = None
    # What the Instances row last got, so unchanged episodes skip rewriting it.
    row_custom_status: str | None = None
    row_written_at: float = 0.0
    last_write: asyncio.Task[None] | None = None
    # A start's Instances row, until it is stored (before any of the instance's history).
    row_unwritten: dict[str, Any] | None = None
    # An episode (or control request) was recorded: the row may follow its history.
    recorded: bool = False
    # Recorded but not yet handed to storage: (execution id, position, events, messages).
    unwritten: list[tuple[str, int, list[dict[str, Any]], list[str]]] = field(default_factory=list)
    # Set each time the writer takes what is unwritten.
    taken: asyncio.Event = field(default_factory=asyncio.Event)
    activities_running: int = 0
    last_replay_seconds: float = 0.0
    # Raised events and control requests accepted but still being stored (see
    # Engine.send_message); `arrival` is set each time one of them is handed over.
    messages_arriving: int = 0
    arrival: asyncio.Event = field(default_factory=asyncio.Event)
