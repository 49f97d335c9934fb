"""What a run's events cost storage: agents on the host's clock send them at the monitors'
polls, a few queue messages an agent, not one (and the receiver's delete) per event."""

from __future__ import annotations

from pathlib import Path

from haymaker.events import events_queue_name
from tests.app.helpers import app_host
from tests.storage_proxy import running_proxy


def test_a_run_started_over_the_api_sends_its_events_at_the_polls(
    storage_connection_string: str, tmp_path: Path
) -> None:
    """As `haymaker up` then `haymaker run start` does (not only `./dev run`): the run's poll
    interval reaches its agents, which hold deploy's, each operate round's and cleanup's
    events until the wait that passes a poll."""
    with running_proxy() as proxy:  # in front of the session's Azurite
        storage = proxy.connection_string
        with app_host(tmp_path, storage, AzureWebJobsStorage=storage) as app:
            run_id = app.start_run({"count": 2, "duration": "PT30M", "poll_interval": "PT10M"})
            run = app.wait_for_run(run_id)
            events = app.events(run_id)
    assert run["status"] == "completed", run
    assert {e["type"] for e in events} >= {"started", "command", "heartbeat", "finished"}
    path = f"/devstoreaccount1/{events_queue_name(run_id)}/messages"
    messages = proxy.sent["POST", path]
    # Sent as they happened, they took a message for every two events (56 for 115); now 16.
    assert 0 < messages <= len(events) / 3, f"{messages} messages for {len(events)} events"
