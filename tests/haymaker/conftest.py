"""Fixtures of the agent and provider tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from haymaker.events import EventReceiver, create_events_queue, delete_events_queue
from haymaker.naming import iso_utc, secret_name, tags_for
from haymaker.providers.local import LocalProvider
from tests.haymaker.agents import SCENARIO, Agent


@pytest.fixture
def agent_storage(storage_connection_string: str) -> str:
    """The storage account agents act on and report to (a module may choose another)."""
    return storage_connection_string


@pytest.fixture
def start_agent(
    agent_storage: str, tmp_path: Path, unique_name: str
) -> Iterator[Callable[..., Agent]]:
    """`start_agent(seconds, provision=True, storage=None, **settings)` launches `python -m
    agent` with SCENARIO, a deadline `seconds` from now, the `HAYMAKER_AGENT_*` `settings`,
    and its storage: `agent_storage`, or `storage` (a relay to it: tests/outage.py)."""
    started: list[Agent] = []

    def start(
        seconds: float, provision: bool = True, storage: str | None = None, **settings: str
    ) -> Agent:
        run_id = f"run-{unique_name}-{len(started)}"
        provider = LocalProvider(
            storage or agent_storage,
            tmp_path / "state",
            location="westeurope",
            agent_settings={"HAYMAKER_AGENT_MAX_WALL_SECONDS": "60", **settings},
        )
        if provision:
            expires = iso_utc(datetime.now(UTC) + timedelta(hours=1))
            provider.create_identity(run_id, "a00", SCENARIO["id"], expires)
        queue = create_events_queue(agent_storage, run_id)
        launch = provider.launch_agent(
            run_id,
            "a00",
            SCENARIO,
            iso_utc(datetime.now(UTC) + timedelta(seconds=seconds)),
            secret_name(run_id, "a00"),
            queue,
            tags_for(run_id, "a00", SCENARIO["id"]),
        )
        agent = Agent(provider, run_id, EventReceiver(agent_storage, queue), Path(launch["log"]))
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.provider.stop_agent(agent.run_id, "a00")
        agent.provider.delete_tagged_resources(agent.run_id, "a00")
        agent.provider.delete_identity(agent.run_id, "a00")
        delete_events_queue(agent_storage, agent.run_id)
