"""A catalog scenario acted out by the agent's lifecycle on the local cloud (Azurite).

The agent runs in-process here (the process wrapper is tested in test_agent.py), with
its real local actions and its real event sender: its operate rounds follow the agent's
own seeded plan, the same for the same run and agent, another for another agent, and a
resource used round after round stays the same size. That every catalog scenario
deploys, operates and cleans up locally is the 50-agent run's to show
(tests/app/test_runs.py::test_fifty_agent_run_completes_and_leaves_nothing): each of its
agents acts out a different one, through the host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import (
    AccountSasPermissions,
    BlobServiceClient,
    ResourceTypes,
    generate_account_sas,
)
from azure.storage.queue import QueueServiceClient

from agent.actions import Step
from agent.contract import Contract
from agent.lifecycle import Lifecycle
from agent.local_actions import LocalActions
from agent.operate_plan import OperatePlan
from agent.reporting import open_sender
from agent.scrub import Scrubber
from devhost import azurite
from haymaker.catalog import load_catalog
from haymaker.events import EventReceiver, create_events_queue
from haymaker.naming import iso_utc, resource_group_name, tags_for
from haymaker.providers.local_cloud import LocalCloud
from haymaker.secret_store import LocalSecretStore

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog(ROOT / "scenarios")


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Azurite of this module's own: its agents' objects live for minutes, and a sweep
    run by another test session on a shared Azurite would take them for orphans."""
    process = azurite.start_on_free_ports(tmp_path_factory.mktemp("azurite-scenarios"), ROOT)
    try:
        yield process.connection_string()
    finally:
        process.stop()


def act_out(
    storage: str,
    state_dir: Path,
    run_id: str,
    queue: str,
    scenario_id: str,
    agent_id: str,
    **settings: str,
) -> list[dict[str, Any]]:
    """Run one agent's whole lifecycle (`settings` add to or replace its environment's);
    its events, oldest first."""
    secret_ref = f"secret-{agent_id}"
    LocalSecretStore(state_dir).put(secret_ref, "not-a-real-secret")
    env = {
        "HAYMAKER_RUN_ID": run_id,
        "HAYMAKER_AGENT_ID": agent_id,
        "HAYMAKER_SCENARIO": json.dumps(CATALOG.get(scenario_id).to_dict()),
        # A short operate window: at least one round, then cleanup.
        "HAYMAKER_DEADLINE": iso_utc(datetime.now(UTC) + timedelta(seconds=1)),
        "HAYMAKER_RESOURCE_GROUP": resource_group_name(run_id, agent_id, scenario_id),
        "HAYMAKER_TAGS": json.dumps(tags_for(run_id, agent_id, scenario_id)),
        "HAYMAKER_EVENTS_QUEUE": queue,
        "HAYMAKER_SECRET_REF": secret_ref,
        "HAYMAKER_STATE_DIR": str(state_dir),
        "AzureWebJobsStorage": storage,
        **settings,
    }
    contract = Contract.from_env(env)
    scrubber = Scrubber.for_contract(contract)
    lifecycle = Lifecycle(
        contract, LocalActions(contract, scrubber), open_sender(contract), scrubber
    )
    assert lifecycle.run() == 0
    receiver = EventReceiver(storage, queue)
    events: list[dict[str, Any]] = []
    while batch := receiver.receive():
        receiver.acknowledge(batch)
        events += batch
    mine = [event for event in events if event["agent_id"] == agent_id]
    return sorted(mine, key=lambda event: event["seq"])


def operate_steps(events: list[dict[str, Any]]) -> list[str]:
    return [e["step"] for e in events if e["type"] == "command" and e["phase"] == "operate"]


def test_an_agent_replays_its_sequence_and_two_agents_differ(storage: str, tmp_path: Path) -> None:
    """Same run and agent: the same operate sequence; another agent of the same scenario
    in the same run: a different one. (A fixed run id: the outcome must not be luck.)"""
    run_id = "run-20261126-113000-replay"
    queue = create_events_queue(storage, run_id)
    scenario_id = "security-key-rotation"

    def ran(agent_id: str) -> list[str]:
        """The operate steps the agent ran, checked against its plan's draw."""
        events = act_out(storage, tmp_path, run_id, queue, scenario_id, agent_id)
        steps = operate_steps(events)
        plan = OperatePlan(CATALOG.get(scenario_id).to_dict()["operate"], run_id, agent_id)
        rounds = [event["type"] for event in events].count("heartbeat")
        assert steps == [a.step["name"] for _ in range(rounds) for a in plan.next_round()]
        return steps

    first, again, other = ran("a90"), ran("a90"), ran("a91")
    common = min(len(first), len(again), len(other))
    assert common >= 3  # at least a round each
    assert first[:common] == again[:common]
    assert first[:common] != other[:common]


def test_evidence_is_filed_under_a_new_name_each_time_and_cleanup_can_delete_it(
    storage: str, tmp_path: Path
) -> None:
    """The evidence container has a time-based retention policy: Azure refuses to overwrite
    a blob under it, and to delete the container while the policy protects one. Each upload
    is a new blob named for its round's time, and cleanup aborts the (unlocked) policy
    before it deletes the container."""
    run_id = "run-20261126-113000-evidence"
    queue = create_events_queue(storage, run_id)
    scenario_id = "security-storage-hardening"
    filing = "File a piece of evidence"
    steps = CATALOG.get(scenario_id).to_dict()["operate"]

    def files_early(agent_id: str) -> bool:
        plan = OperatePlan(steps, run_id, agent_id)
        rounds = [[a.step["name"] for a in plan.next_round()] for _ in range(3)]
        return sum(filing in names for names in rounds) >= 2

    # An agent whose seeded plan files evidence in two of its first three rounds; an hour
    # of scenario time in 3 real seconds gives it those (and more).
    agent_id = next(f"a{index:02d}" for index in range(100) if files_early(f"a{index:02d}"))
    deadline = iso_utc(datetime.now(UTC) + timedelta(hours=1))
    events = act_out(
        storage,
        tmp_path,
        run_id,
        queue,
        scenario_id,
        agent_id,
        HAYMAKER_DEADLINE=deadline,
        HAYMAKER_AGENT_TIME_SCALE="1200",
    )
    commands = [e for e in events if e["type"] == "command"]
    filed = [e["command"] for e in commands if e["step"] == filing]
    assert len(filed) >= 2
    assert len(set(filed)) == len(filed)
    assert not any("--overwrite" in command for command in filed)
    name = re.compile(rf"--name cases/\d{{8}}t\d{{6}}-{agent_id}\.txt ")
    assert all(name.search(command) for command in filed), filed
    cleanup = [e["command"].split(" --")[0] for e in commands if e["phase"] == "cleanup"]
    policy = cleanup.index("az storage container immutability-policy delete")
    assert policy < cleanup.index("az storage container-rm delete")


@pytest.mark.parametrize("access", ["account key", "SAS"])
def test_a_resource_used_round_after_round_stays_the_same_size(
    storage: str, tmp_path: Path, access: str
) -> None:
    """Azurite finds a blob or a queue message by scanning all of the account's, so uses
    that piled up (a new blob, entity and message each round of every agent) made every
    storage call of a long run slower: each use of a step replaces its last one now (a
    queue's message is updated in place). The same with an account key (signed requests)
    and with a SAS (the SDK's clients)."""
    if access == "SAS":
        storage = _sas_connection_string(storage)
    run_id = f"run-uses-{datetime.now(UTC):%H%M%S%f}"
    env = {
        "HAYMAKER_RUN_ID": run_id,
        "HAYMAKER_AGENT_ID": "a00",
        "HAYMAKER_SCENARIO": json.dumps(CATALOG.get(CATALOG.ids()[0]).to_dict()),
        "HAYMAKER_DEADLINE": iso_utc(datetime.now(UTC) + timedelta(hours=1)),
        "HAYMAKER_RESOURCE_GROUP": "rg-uses",
        "HAYMAKER_TAGS": json.dumps(tags_for(run_id, "a00", CATALOG.ids()[0])),
        "HAYMAKER_EVENTS_QUEUE": "unused",
        "HAYMAKER_SECRET_REF": "unused",
        "HAYMAKER_STATE_DIR": str(tmp_path),
        "AzureWebJobsStorage": storage,
    }
    contract = Contract.from_env(env)
    actions = LocalActions(contract, Scrubber.for_contract(contract))
    cloud = LocalCloud(storage)
    resources = {
        kind: actions.resolve({"kind": kind, "local_kind": kind}, "work")
        for kind in ("blob_container", "table", "queue")
    }
    try:
        for kind, resource in resources.items():
            created = Step("deploy", f"create {kind}", "az ...", "creates", resource)
            assert actions.run(created, 30).exit_code == 0
        for _ in range(3):  # three rounds, two steps using each resource
            for kind, resource in resources.items():
                for name in ("read", "write"):
                    used = Step("operate", f"{name} {kind}", "az ...", "uses", resource)
                    assert actions.run(used, 30).exit_code == 0

        blobs = BlobServiceClient.from_connection_string(storage).get_container_client(
            resources["blob_container"]["local_name"]
        )
        assert len(list(blobs.list_blobs())) == 2
        table = TableServiceClient.from_connection_string(storage).get_table_client(
            resources["table"]["local_name"]
        )
        assert sorted(row["step"] for row in table.list_entities()) == [
            "read table",
            "write table",
        ]
        queue = QueueServiceClient.from_connection_string(storage).get_queue_client(
            resources["queue"]["local_name"]
        )
        messages = list(queue.peek_messages(max_messages=32))
        assert sorted(json.loads(message.content)["step"] for message in messages) == [
            "read queue",
            "write queue",
        ]
    finally:
        for kind, resource in resources.items():
            cloud.delete(kind, resource["local_name"])


def test_a_queue_use_whose_message_is_gone_sends_a_new_one(storage: str) -> None:
    """A use updates the message its step left; when that is gone (someone read and deleted
    it, or the queue was emptied), the use still succeeds and leaves one message."""
    cloud = LocalCloud(storage)
    name = f"uses-gone-{datetime.now(UTC):%H%M%S%f}"
    queue = QueueServiceClient.from_connection_string(storage).get_queue_client(name)
    cloud.create("queue", name, {})
    try:
        cloud.act("queue", name, {"round": "1"}, key="step")
        queue.clear_messages()
        cloud.act("queue", name, {"round": "2"}, key="step")
        cloud.act("queue", name, {"round": "3"}, key="step")
        assert [json.loads(m.content) for m in queue.peek_messages(max_messages=32)] == [
            {"round": "3"}
        ]
    finally:
        cloud.delete("queue", name)


def _sas_connection_string(storage: str) -> str:
    """A connection string to the same account by an account SAS instead of its key."""
    fields = dict(part.split("=", 1) for part in storage.split(";") if "=" in part)
    sas = generate_account_sas(
        fields["AccountName"],
        fields["AccountKey"],
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(
            read=True,
            write=True,
            delete=True,
            list=True,
            add=True,
            create=True,
            update=True,
            process=True,
        ),
        expiry=datetime.now(UTC) + timedelta(hours=1),
        services="bqt",  # blob, queue, table
    )
    endpoints = ";".join(f"{k}={v}" for k, v in fields.items() if k.endswith("Endpoint"))
    return f"{endpoints};SharedAccessSignature={sas}"


def test_a_servers_admin_password_is_made_by_the_agent_and_never_told(
    storage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """{password}: the SQL server's admin login gets a password the agent made (the
    catalog holds none), and neither its events nor its log show it: *** in its place."""
    run_id = "run-20261126-113000-passwd"
    queue = create_events_queue(storage, run_id)
    events = act_out(storage, tmp_path, run_id, queue, "databases-sql-orders-reporting", "a00")
    commands = [e["command"] for e in events if e["type"] == "command"]
    [create] = [command for command in commands if "sql server create" in command]
    assert '--admin-password "***"' in create, create
    printed = capsys.readouterr().out
    assert '--admin-password "***"' in printed
    # Every draw starts so (agent/passwords.py): neither place shows one.
    assert "Hm7!" not in printed and "Hm7!" not in json.dumps(events)
