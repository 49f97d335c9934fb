"""Run records round-trip through Azure Tables (Azurite) and page the way users read them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from haymaker.records import MAX_PROPERTY_CHARS, InvalidContinuation, RunRecords

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


@pytest.fixture
def records(storage_connection_string: str, unique_name: str):
    prefix = "R" + unique_name
    yield RunRecords(storage_connection_string, prefix)
    service = TableServiceClient.from_connection_string(storage_connection_string)
    for table in ("Runs", "Agents", "Resources", "Events", "Reports"):
        service.delete_table(prefix + table)


def test_create_run_is_idempotent_and_round_trips(records: RunRecords) -> None:
    request = {"size": "small", "duration": "PT8H"}
    assert records.create_run("run-1", request, ["s1", "s2"], T0) is True
    assert records.create_run("run-1", {"size": "large"}, ["x"], T0 + timedelta(hours=1)) is False
    run = records.get_run("run-1")
    assert run is not None
    assert run["run_id"] == "run-1"
    assert run["status"] == "pending"
    assert run["request"] == request
    assert run["scenario_ids"] == ["s1", "s2"]
    assert run["created_at"] == "2026-11-26T06:00:00.000Z"
    assert records.get_run("run-missing") is None


def test_update_run_merges_fields_and_checks_status(records: RunRecords) -> None:
    records.create_run("run-1", {}, ["s1"], T0)
    records.update_run("run-1", status="running", agents_done=0)
    records.update_run(
        "run-1", status="completed", agents_done=1, finished_at=T0 + timedelta(hours=8)
    )
    run = records.get_run("run-1")
    assert run is not None
    assert (run["status"], run["agents_done"]) == ("completed", 1)
    assert run["finished_at"] == "2026-11-26T14:00:00.000Z"
    assert run["request"] == {}
    with pytest.raises(ValueError, match="status"):
        records.update_run("run-1", status="exploded")
    with pytest.raises(LookupError):
        records.update_run("run-missing", status="running")


def test_a_run_recorded_again_after_its_rows_were_removed_is_read_afresh(
    records: RunRecords, storage_connection_string: str, unique_name: str
) -> None:
    """A process remembers where each run's record is; when the rows go away under it (a
    test or an operator emptied the table) and the run is recorded again, reads and
    updates find the new record, not a stale one."""
    records.create_run("run-1", {"size": "small"}, ["s1"], T0)
    assert records.get_run("run-1") is not None
    runs = TableServiceClient.from_connection_string(storage_connection_string).get_table_client(
        "R" + unique_name + "Runs"
    )
    for row in list(runs.list_entities()):
        runs.delete_entity(row["PartitionKey"], row["RowKey"])
    assert records.get_run("run-1") is None
    with pytest.raises(LookupError):
        records.update_run("run-1", status="running")
    records.create_run("run-1", {"size": "large"}, ["s2"], T0 + timedelta(hours=1))
    records.update_run("run-1", status="running")
    run = records.get_run("run-1")
    assert run is not None
    assert (run["request"], run["status"]) == ({"size": "large"}, "running")


def test_list_runs_newest_first_with_filters_and_paging(records: RunRecords) -> None:
    for hour in range(5):
        records.create_run(f"run-{hour}", {}, [], T0 + timedelta(hours=hour))
    records.update_run("run-3", status="failed")

    first, token = records.list_runs(limit=2)
    assert [run["run_id"] for run in first] == ["run-4", "run-3"]
    seen = [run["run_id"] for run in first]
    while token:
        page, token = records.list_runs(limit=2, continuation=token)
        seen += [run["run_id"] for run in page]
    assert seen == ["run-4", "run-3", "run-2", "run-1", "run-0"]

    failed, _ = records.list_runs(status="failed")
    assert [run["run_id"] for run in failed] == ["run-3"]
    window, _ = records.list_runs(
        created_from=T0 + timedelta(hours=1), created_to=T0 + timedelta(hours=3)
    )
    assert [run["run_id"] for run in window] == ["run-2", "run-1"]
    with pytest.raises(ValueError, match="continuation"):
        records.list_runs(continuation="not-a-token")


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        _token([1, 2]),
        _token({"x": "y"}),  # well-formed JSON, but not the next keys: KeyError in the SDK
        _token({"PartitionKey": 5, "RowKey": "a"}),
        _token({"PartitionKey": "cnVucw==", "RowKey": "line\nbreak"}),  # a header injection
        _token({"PartitionKey": "cnVucw==", "RowKey": "A" * 5000}),
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),
    ],
)
def test_a_continuation_this_service_never_issued_is_refused(
    records: RunRecords, token: str
) -> None:
    records.create_run("run-1", {}, [], T0)
    with pytest.raises(InvalidContinuation):
        records.list_runs(continuation=token)
    with pytest.raises(InvalidContinuation):
        records.list_events("run-1", continuation=token)


def test_agents_resources_and_report(records: RunRecords) -> None:
    records.upsert_agent("run-1", "a01", scenario="s1", phase="provisioning")
    records.upsert_agent("run-1", "a00", scenario="s0", phase="monitoring", status="running")
    records.upsert_agent("run-1", "a01", phase="failed", error="boom", left_behind=["q1"])
    agents = records.list_agents("run-1")
    assert [agent["agent_id"] for agent in agents] == ["a00", "a01"]
    assert agents[1]["scenario"] == "s1" and agents[1]["phase"] == "failed"
    assert agents[1]["left_behind"] == ["q1"]
    with pytest.raises(ValueError, match="phase"):
        records.upsert_agent("run-1", "a00", phase="dancing")

    records.record_resource("run-1", "a00", "queue", "hm-x-a00-work", "created")
    records.record_resource("run-1", "a00", "queue", "hm-x-a00-work", "created")
    records.record_resource("run-1", "a00", "queue", "hm-x-a00-work", "removed")
    records.record_resource("run-1", "a01", "virtual_machine", "/subscriptions/x/vm?#", "left")
    resources = records.list_resources("run-1")
    assert len(resources) == 2
    work = next(r for r in resources if r["agent_id"] == "a00")
    assert work["action"] == "removed" and "created_at" in work and "removed_at" in work
    assert [r["name"] for r in records.list_resources("run-1", "a01")] == ["/subscriptions/x/vm?#"]
    # A late `created` (another agent's poll recording an old event) never undoes a removal.
    records.record_resource("run-1", "a02", "queue", "hm-x-a02-work", "removed")
    records.record_resource("run-1", "a02", "queue", "hm-x-a02-work", "created")
    [late] = records.list_resources("run-1", "a02")
    assert late["action"] == "removed" and "created_at" in late and "removed_at" in late

    assert records.get_report("run-1") is None
    report = {"counts": {"created": 3}, "notes": ["x" * 1000] * 100}  # ~100 KB: split
    records.save_report("run-1", report)
    assert records.get_report("run-1") == report


def _event(i: int, agent: str = "a00", **extra: object) -> dict[str, object]:
    ts = (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    return {
        "id": f"e{i}",
        "type": "heartbeat",
        "run_id": "run-1",
        "agent_id": agent,
        "ts": ts,
        "seq": i,
        **extra,
    }


def paged_event_ids(records: RunRecords, run_id: str) -> list[str]:
    """Every event id of the run, read 3 a page through the continuation tokens."""
    page, token = records.list_events(run_id, limit=3)
    seen = [event["id"] for event in page]
    while token:
        page, token = records.list_events(run_id, limit=3, continuation=token)
        seen += [event["id"] for event in page]
    return seen


def test_events_page_in_time_order_and_dedupe_by_id(records: RunRecords) -> None:
    events = [_event(i, "a00" if i % 2 else "a01") for i in range(7)]
    assert records.append_events("run-1", list(reversed(events))) == 7
    assert records.append_events("run-1", events[:3] + events[:1]) == 3  # redelivered

    seen = paged_event_ids(records, "run-1")
    assert seen == [f"e{i}" for i in range(7)]

    only_a00, _ = records.list_events("run-1", agent_id="a00")
    assert [event["id"] for event in only_a00] == ["e1", "e3", "e5"]


def test_huge_event_messages_are_truncated_with_a_marker(records: RunRecords) -> None:
    huge = _event(1, type="error", message="m" * 200_000)
    records.append_events("run-1", [huge])
    (stored,), _ = records.list_events("run-1")
    assert stored["id"] == "e1" and stored["type"] == "error"
    assert len(stored["message"]) < MAX_PROPERTY_CHARS
    assert "truncated" in stored["message"]


def test_a_runs_events_go_to_partitions_of_one_span_each_and_read_as_one(
    storage_connection_string: str, unique_name: str
) -> None:
    """Each write of an event costs Azurite a scan of its partition: a run's events in one
    partition made a 30-agent `./dev run` cost O(events²). Partitions of one span of event
    time each bound that, and the run's events still page as one list in time order."""
    prefix = "R" + unique_name
    records = RunRecords(storage_connection_string, prefix, events_partition_seconds=2)
    service = TableServiceClient.from_connection_string(storage_connection_string)
    try:
        events = [_event(i, "a00" if i % 2 else "a01") for i in range(7)]  # 1 s apart
        assert records.append_events("run-1", list(reversed(events))) == 7
        assert records.append_events("run-1", events[2:5]) == 3  # redelivered: same rows
        # A run whose id starts with this one's, and a run recorded before partitions
        # (its events in the partition `run_id`, without a `run_id` column).
        records.append_events("run-10", [{**_event(3), "id": "other", "run_id": "run-10"}])
        table = service.get_table_client(prefix + "Events")
        table.create_entity(
            {
                "PartitionKey": "run-1",
                "RowKey": "2026-11-26T05:59:59.000Z|a00|0000000000|old",
                "agent_id": "a00",
                "type": "heartbeat",
                "body": json.dumps({**_event(0), "id": "old", "ts": "2026-11-26T05:59:59.000Z"}),
            }
        )

        rows = list(table.query_entities("PartitionKey ge 'run-1|' and PartitionKey lt 'run-1}'"))
        assert len(rows) == 7
        by_partition: dict[str, list[str]] = {}
        for row in rows:
            by_partition.setdefault(row["PartitionKey"], []).append(row["event_id"])
        assert by_partition == {
            "run-1|2026-11-26T06:00:00": ["e0", "e1"],
            "run-1|2026-11-26T06:00:02": ["e2", "e3"],
            "run-1|2026-11-26T06:00:04": ["e4", "e5"],
            "run-1|2026-11-26T06:00:06": ["e6"],
        }

        seen = paged_event_ids(records, "run-1")
        assert seen == ["old", *(f"e{i}" for i in range(7))]
        only_a00, _ = records.list_events("run-1", agent_id="a00")
        assert [event["id"] for event in only_a00] == ["old", "e1", "e3", "e5"]
        since, _ = records.list_events("run-1", since=T0 + timedelta(seconds=5))
        assert [event["id"] for event in since] == ["e5", "e6"]
        assert [event["id"] for event in records.list_events("run-10")[0]] == ["other"]

        written = {
            event["id"]: event["run_id"]
            for event in records.rows_since("Events", T0 - timedelta(days=1))
        }
        assert written == {
            **{f"e{i}": "run-1" for i in range(7)},
            "old": "run-1",
            "other": "run-10",
        }
    finally:
        for name in ("Runs", "Agents", "Resources", "Events", "Reports"):
            service.delete_table(prefix + name)
