"""The local provider end to end: real agent processes acting on Azurite, real teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from haymaker.events import EventReceiver, create_events_queue, delete_events_queue
from haymaker.naming import iso_utc, resource_group_name, run_short, secret_name, tags_for
from haymaker.providers import create_provider
from haymaker.providers.base import Orphan
from haymaker.providers.local import PROJECT_ROOT, LocalProvider
from haymaker.providers.local_cloud import TAG_INDEX_TABLE, LocalCloud
from haymaker.records import RunRecords
from haymaker.secret_store import LocalSecretStore
from haymaker.settings import SettingsError
from tests.app.helpers import stored_objects_of

T = TypeVar("T")
SCENARIO: dict[str, Any] = {
    "id": "storage-roundtrip",
    "title": "A storage account with a container, a table and a queue",
    "area": "analytics",
    "description": "Inline test scenario.",
    "resources": [],
    "deploy": [
        {
            "name": "Create the container",
            "command": "az storage container create --name {prefix}logs --account-name {prefix}sa",
            "creates": {"kind": "blob_container", "name": "{prefix}logs"},
        },
        {
            "name": "Create the table",
            "command": "az storage table create --name {prefix}orders --account-name {prefix}sa",
            "creates": {"kind": "storage_table", "name": "{prefix}orders", "local_kind": "table"},
        },
        {
            "name": "Create the queue",
            "command": "az storage queue create --name {prefix}work --account-name {prefix}sa",
            "creates": {"kind": "queue", "name": "{prefix}work"},
        },
    ],
    "operate": [
        {
            "name": "Upload a report",
            "command": "az storage blob upload --container-name {prefix}logs --name r.json",
            "uses": {"kind": "blob_container", "name": "{prefix}logs"},
        },
        {
            "name": "Enqueue work",
            "command": "az storage message put --queue-name {prefix}work --content hi",
            "uses": {"kind": "queue", "name": "{prefix}work"},
        },
    ],
    "cleanup": [
        {
            "name": "Delete the queue",
            "command": "az storage queue delete --name {prefix}work --account-name {prefix}sa",
            "deletes": {"kind": "queue", "name": "{prefix}work"},
        }
    ],
}


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Run:
    """One run with one agent on a fresh provider, cleaned up whatever the test did."""

    def __init__(self, connection: str, state_dir: Path, run_id: str, **agent_settings: str):
        self.connection = connection
        self.state_dir = state_dir
        self.run_id = run_id
        self.agent = "a00"
        self.tags = tags_for(run_id, self.agent, SCENARIO["id"])
        self.queue = create_events_queue(connection, run_id)
        self.provider = LocalProvider(
            connection,
            state_dir,
            agent_settings={
                "HAYMAKER_AGENT_MAX_WALL_SECONDS": "60",
                # Think times of 0.5-1.5 s: the first heartbeat comes within seconds.
                "HAYMAKER_AGENT_TIME_SCALE": "30",
                **agent_settings,
            },
        )
        self.receiver = EventReceiver(connection, self.queue)
        self.events: list[dict[str, Any]] = []

    def provision(self) -> dict[str, Any]:
        expires = iso_utc(datetime.now(UTC) + timedelta(hours=1))
        identity = self.provider.create_identity(self.run_id, self.agent, SCENARIO["id"], expires)
        scope = resource_group_name(self.run_id, self.agent, SCENARIO["id"])
        self.provider.grant_roles(self.run_id, self.agent, scope)
        return dict(identity)

    def launch(self, seconds: float) -> dict[str, Any]:
        deadline = iso_utc(datetime.now(UTC) + timedelta(seconds=seconds))
        return dict(
            self.provider.launch_agent(
                self.run_id,
                self.agent,
                SCENARIO,
                deadline,
                secret_name(self.run_id, self.agent),
                self.queue,
                self.tags,
            )
        )

    def drain(self) -> list[dict[str, Any]]:
        batch = self.receiver.receive()
        self.receiver.acknowledge(batch)
        self.events += batch
        return self.events

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def wait_for_event(self, event_type: str, timeout: float = 30.0) -> dict[str, Any]:
        wait_for(lambda: event_type in [e["type"] for e in self.drain()], timeout, event_type)
        return next(event for event in self.events if event["type"] == event_type)

    def wait_until_exited(self) -> dict[str, Any]:
        def exited() -> dict[str, Any] | None:
            status = dict(self.provider.agent_status(self.run_id, self.agent))
            return status if status["state"] != "running" else None

        return wait_for(exited, what="the agent to exit")

    def close(self) -> None:
        self.provider.stop_agent(self.run_id, self.agent)
        self.provider.delete_tagged_resources(self.run_id, self.agent)
        self.provider.delete_identity(self.run_id, self.agent)
        delete_events_queue(self.connection, self.run_id)


@pytest.fixture
def make_run(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def make(**agent_settings: str) -> Run:
        run = Run(
            storage_connection_string,
            tmp_path / "state",
            f"run-{unique_name}-{len(runs)}",
            **agent_settings,
        )
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.close()


def storage_objects_of(connection: str, run_id: str) -> list[str]:
    """Everything in the account that is tagged for, or named after, the run."""
    short = run_short(run_id)
    blobs = BlobServiceClient.from_connection_string(connection)
    queues = QueueServiceClient.from_connection_string(connection)
    tables = TableServiceClient.from_connection_string(connection)
    found = [
        f"container {c.name}"
        for c in blobs.list_containers(include_metadata=True)
        if short in c.name or run_id in (c.metadata or {}).values()
    ]
    found += [
        f"queue {q.name}"
        for q in queues.list_queues(include_metadata=True)
        if short in q.name
        and not q.name.startswith("haymaker-events-")
        or run_id in (q.metadata or {}).get("azurehaymaker_run", "")
    ]
    found += [f"table {t.name}" for t in tables.list_tables() if short in t.name]
    index = tables.get_table_client(TAG_INDEX_TABLE)
    found += [
        f"tag index {row['RowKey']}"
        for row in index.query_entities("azurehaymaker_run eq @r", parameters={"r": run_id})
    ]
    return found


def test_full_lifecycle_leaves_nothing_behind(
    make_run: Callable[..., Run], storage_connection_string: str
) -> None:
    run = make_run()
    identity = run.provision()
    secret = LocalSecretStore(run.state_dir).get(identity["secret_ref"])
    assert secret and secret not in json.dumps(identity)
    assert (run.state_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    again = run.provision()
    assert again == identity  # idempotent: same principal, same secret reference
    assert LocalSecretStore(run.state_dir).get(identity["secret_ref"]) == secret

    # An hour away (two minutes of operating at 30x): still operating when looked at.
    launch = run.launch(seconds=3600)
    wait_for(
        lambda: len(run.provider.list_tagged_resources(run.run_id, run.agent)) == 3,
        what="the agent's three resources",
    )
    run.wait_for_event("heartbeat")
    assert run.types()[:2] == ["started", "phase"]
    assert run.types().count("resource_created") == 3
    assert run.provider.agent_status(run.run_id, run.agent) == {"state": "running"}

    listed = run.provider.list_tagged_resources(run.run_id, run.agent)
    kinds = sorted(r["kind"] for r in listed)
    assert kinds == ["blob_container", "queue", "table"]
    assert all(
        r["tags"]
        == {
            "azurehaymaker-managed": "true",
            "azurehaymaker-run": run.run_id,
            "azurehaymaker-agent": run.agent,
            "azurehaymaker-scenario": SCENARIO["id"],
        }
        for r in listed
    ), listed
    # The same three, listed straight from the storage account.
    stored = stored_objects_of(storage_connection_string, run.run_id)
    assert sorted((o["kind"], o["name"]) for o in stored if o["kind"] in kinds) == sorted(
        (r["kind"], r["name"]) for r in listed
    )

    stopped = run.provider.stop_agent(run.run_id, run.agent)
    assert stopped == {"was_running": True, "state": "failed"}
    removal = run.provider.delete_tagged_resources(run.run_id, run.agent)
    assert sorted(item["kind"] for item in removal["removed"]) == kinds
    assert removal["failed"] == []
    assert run.provider.delete_identity(run.run_id, run.agent) == {
        "roles_removed": 1,
        "secret_deleted": True,
        "identity_deleted": True,
    }
    assert run.provider.verify_clean(run.run_id, run.agent) == {"clean": True, "left": []}
    assert storage_objects_of(storage_connection_string, run.run_id) == []

    # The secret never left the secret store: not in events, records or the agent's log.
    records = RunRecords(storage_connection_string, "S" + run_short(run.run_id))
    records.append_events(run.run_id, run.events)
    stored, _ = records.list_events(run.run_id, limit=1000)
    assert len(stored) == len(run.events)
    assert secret not in json.dumps(run.events) + json.dumps(stored)
    log_text = Path(launch["log"]).read_text()
    assert "loaded credential" in log_text and secret not in log_text
    assert "$ az storage container create --name hm" in log_text
    TableServiceClient.from_connection_string(storage_connection_string).delete_table(
        "S" + run_short(run.run_id) + "Events"
    )


def test_launching_twice_starts_one_process_even_from_a_restarted_host(
    make_run: Callable[..., Run],
) -> None:
    # The agent must still run when looked at below (the fixture stops it): an hour to its
    # deadline and a 10-minute wall cap. (Two minutes at time scale 30 were 4 s of real
    # time, which a loaded machine spent before the restarted host's check.)
    run = make_run(HAYMAKER_AGENT_MAX_WALL_SECONDS="600")
    run.provision()
    delete_events_queue(run.connection, run.run_id)
    with pytest.raises(LookupError, match="events queue"):
        run.launch(seconds=3600)
    create_events_queue(run.connection, run.run_id)
    first = run.launch(seconds=3600)
    second = run.launch(seconds=3600)
    assert (second["pid"], second["already_launched"]) == (first["pid"], True)

    # A host that restarted has no child handle: it must recognize the process by its pid file.
    assert _relaunch_from_another_host(run) == {"pid": first["pid"], "already_launched": True}
    assert _agent_processes(run.run_id) == [first["pid"]]


def test_an_agent_that_ran_to_its_end_is_not_launched_again(
    make_run: Callable[..., Run],
) -> None:
    """The host may crash after the agent was launched and before the launch was recorded
    in the orchestration's history; the agent may even finish meanwhile. The re-run launch
    must not run its scenario a second time (CI once saw a second agent started so)."""
    # Ten minutes to its deadline at 3000x: the agent deploys, cleans up and ends at once.
    run = make_run(HAYMAKER_AGENT_TIME_SCALE="3000")
    run.provision()
    first = run.launch(seconds=600)
    assert run.wait_until_exited() == {"state": "succeeded", "exit_code": 0}
    # Its exit file comes first; its process is gone a moment later.
    wait_for(lambda: not _agent_processes(run.run_id), what="the agent's process to end")

    again = run.launch(seconds=600)
    assert (again["pid"], again["already_launched"]) == (first["pid"], True)
    assert _relaunch_from_another_host(run) == {"pid": first["pid"], "already_launched": True}
    assert _agent_processes(run.run_id) == []
    assert run.provider.agent_status(run.run_id, run.agent) == {
        "state": "succeeded",
        "exit_code": 0,
    }
    run.wait_for_event("finished")
    assert run.types().count("started") == 1, run.types()


def _relaunch_from_another_host(run: Run) -> dict[str, Any]:
    """Launch the run's agent from a new process: a host with no child handles."""
    restarted = subprocess.run(
        [sys.executable, "-c", _RELAUNCH, str(run.state_dir), run.connection, run.run_id]
        + [json.dumps(SCENARIO)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(restarted.stdout))


_RELAUNCH = textwrap.dedent(
    """
    import json, sys
    from haymaker.events import events_queue_name
    from haymaker.naming import iso_utc, secret_name, tags_for
    from haymaker.providers.local import LocalProvider
    state, connection, run_id, scenario_json = sys.argv[1:]
    SCENARIO = json.loads(scenario_json)
    provider = LocalProvider(connection, state)
    launch = provider.launch_agent(
        run_id, "a00", SCENARIO, "2099-01-01T00:00:00Z", secret_name(run_id, "a00"),
        events_queue_name(run_id), tags_for(run_id, "a00", SCENARIO["id"]),
    )
    print(json.dumps({"pid": launch["pid"], "already_launched": launch["already_launched"]}))
    """
)


def _agent_processes(run_id: str) -> list[int]:
    """Agent programs of the run: the processes whose output goes to a log of the run's
    agents (`<state>/agents/<run short>-<agent>.log`), however they were started (a local
    agent starts no process of its own; the launcher they are forked from writes no log)."""
    pids = []
    for output in Path("/proc").glob("[0-9]*/fd/1"):
        try:
            target = Path(os.readlink(output))
        except OSError:
            continue  # it ended meanwhile
        if target.parent.name == "agents" and target.name.startswith(f"{run_short(run_id)}-"):
            pids.append(int(output.parent.parent.name))
    return pids


def test_failing_agent_reports_failed_and_teardown_removes_what_it_left(
    make_run: Callable[..., Run],
) -> None:
    run = make_run(HAYMAKER_AGENT_FAIL_AT="deploy")
    run.provision()
    first = run.launch(seconds=120)
    assert run.wait_until_exited() == {"state": "failed", "exit_code": 1}
    # Launched again (a re-run activity), a failed agent is not started over: it stays failed.
    wait_for(lambda: not _agent_processes(run.run_id), what="the agent's process to end")
    assert run.launch(seconds=120)["pid"] == first["pid"]
    assert run.provider.agent_status(run.run_id, run.agent) == {"state": "failed", "exit_code": 1}
    failed = run.wait_for_event("failed")
    assert failed["phase"] == "deploy" and "FAIL_AT" in failed["error"]
    left = run.provider.list_tagged_resources(run.run_id, run.agent)
    assert [item["kind"] for item in left] == ["blob_container"]  # failed after the first step
    assert not run.provider.verify_clean(run.run_id, run.agent)["clean"]
    # Teardown's order: the agent first. Its exit file says it ended, but its process may
    # still be on its way out (interpreter shutdown), and that would count as left.
    run.provider.stop_agent(run.run_id, run.agent)
    assert run.provider.delete_tagged_resources(run.run_id, run.agent)["failed"] == []
    run.provider.delete_identity(run.run_id, run.agent)
    verification = run.provider.verify_clean(run.run_id, run.agent)
    assert verification["clean"], verification["left"]


def test_roles_are_granted_on_the_agents_resource_group_only(make_run: Callable[..., Run]) -> None:
    run = make_run()
    run.provision()
    group = resource_group_name(run.run_id, run.agent, SCENARIO["id"])
    grant = run.provider.grant_roles(
        run.run_id, run.agent, f"/subscriptions/s1/resourceGroups/{group}"
    )
    assert grant["role"] == "Contributor"
    for scope in (
        "/subscriptions/s1",
        "/",
        "someone-elses-group",
        f"/subscriptions/s1/resourceGroups/{group}/x/y",
    ):
        with pytest.raises(ValueError):
            run.provider.grant_roles(run.run_id, run.agent, scope)


def test_sweep_finds_and_removes_leftovers_of_inactive_runs(make_run: Callable[..., Run]) -> None:
    run = make_run()
    run.provision()
    LocalCloud(run.connection).create("queue", f"hm-{run_short(run.run_id)}-a00-stray", run.tags)

    assert not [o for o in run.provider.list_orphans({run.run_id}) if o["run"] == run.run_id]
    mine = [
        orphan
        for orphan in run.provider.list_orphans(set())
        if orphan["run"] in (run.run_id, run_short(run.run_id))
    ]
    assert sorted(o["kind"] for o in mine) == ["identity", "queue", "role_assignment", "secret"]
    outsider: Orphan = {"kind": "queue", "name": run.queue, "run": run.run_id}  # untagged: refused
    result = run.provider.delete_orphans([*mine, outsider])
    assert len(result["removed"]) == 4
    assert [item["name"] for item in result["failed"]] == [run.queue]
    assert run.provider.verify_clean(run.run_id, run.agent) == {"clean": True, "left": []}


def test_health_check_and_factory(storage_connection_string: str, tmp_path: Path) -> None:
    provider = create_provider(
        {"AzureWebJobsStorage": storage_connection_string, "HAYMAKER_STATE_DIR": str(tmp_path)}
    )
    health = provider.check(deep=True)
    assert health["ok"] and health["provider"] == "local"
    assert [check["name"] for check in health["checks"]] == [
        "state_dir",
        "agent_program",
        "storage",
    ]
    with pytest.raises(SettingsError, match="HAYMAKER_AZURE_SUBSCRIPTION_ID: is required"):
        create_provider(
            {"HAYMAKER_PROVIDER": "azure", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
        )
    with pytest.raises(ValueError, match="AzureWebJobsStorage"):
        create_provider({})
    with pytest.raises(ValueError, match="HAYMAKER_PROVIDER"):
        create_provider({"HAYMAKER_PROVIDER": "gcp"})


def test_launch_fault_switch_fails_the_named_agents_only(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    """The HAYMAKER_LOCAL_FAIL_LAUNCH test hook: launch fails after provisioning worked."""
    provider = create_provider(
        {
            "AzureWebJobsStorage": storage_connection_string,
            "HAYMAKER_STATE_DIR": str(tmp_path),
            "HAYMAKER_LOCAL_FAIL_LAUNCH": "a00, a03",
        }
    )
    run_id = f"run-{unique_name}"
    queue = create_events_queue(storage_connection_string, run_id)
    try:
        expires = iso_utc(datetime.now(UTC) + timedelta(hours=1))
        identity = provider.create_identity(run_id, "a00", SCENARIO["id"], expires)
        with pytest.raises(RuntimeError, match="HAYMAKER_LOCAL_FAIL_LAUNCH"):
            provider.launch_agent(
                run_id,
                "a00",
                SCENARIO,
                expires,
                identity["secret_ref"],
                queue,
                tags_for(run_id, "a00", SCENARIO["id"]),
            )
        assert provider.agent_status(run_id, "a00") == {"state": "missing"}
        assert provider.delete_identity(run_id, "a00")["secret_deleted"] is True
        assert provider.verify_clean(run_id, "a00") == {"clean": True, "left": []}
    finally:
        delete_events_queue(storage_connection_string, run_id)
    with pytest.raises(ValueError, match="agent id"):
        create_provider(
            {
                "AzureWebJobsStorage": storage_connection_string,
                "HAYMAKER_LOCAL_FAIL_LAUNCH": "agent-2",
            }
        )
