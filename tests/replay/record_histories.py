"""Record the histories the replay gate replays: one run, one agent, one sweep instance.

    python tests/replay/record_histories.py [--out tests/replay/histories]

Runs a real small HayMaker run on devhost (virtual clock, Azurite, the local provider),
then a sweep with something to remove, and writes each chosen instance's history exactly
as devhost stores it in the `<Hub>History` table, with the instance's name, input and
parent from the `<Hub>Instances` row. Record again only on purpose: the files are the
contract that code changes must keep (see test_replay_gate.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from azure.core.exceptions import ResourceNotFoundError  # noqa: E402
from azure.data.tables.aio import TableServiceClient  # noqa: E402
from azure.storage.blob.aio import BlobServiceClient  # noqa: E402

from devhost import azurite  # noqa: E402
from devhost.replay import EventType  # noqa: E402
from devhost.replay_check import RecordedHistory  # noqa: E402
from devhost.store import Store  # noqa: E402
from devhost.testing import HostHandle, running_host  # noqa: E402
from haymaker.providers.local import LocalProvider  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "histories"
TIMERS = ("window_americas", "window_asia", "window_middle_east", "window_europe", "hourly_sweep")
# A run that ended long ago left an identity and its secret: the sweep has work to do.
ORPHAN_RUN_ID = "run-20200101-000000-0rphan"
ORPHAN_AGENT_ID = "a01"
IDLE_SETTLE = os.environ.get("RECORD_IDLE_SETTLE", "0.05")


def wait_for(probe: Any, timeout: float, what: str, interval: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def run_and_sweep(host: HostHandle, state_dir: Path, connection: str) -> tuple[str, str]:
    """Start a small run, wait for it to complete, then sweep; their instance ids."""
    code = {"code": host.function_key}
    response = requests.post(f"{host.api}/runs", params=code, json={"size": "small"}, timeout=30)
    response.raise_for_status()
    run_id = str(response.json()["run_id"])
    print(f"run {run_id} started", flush=True)

    def run_done() -> dict[str, Any] | None:
        body = requests.get(f"{host.api}/runs/{run_id}", params=code, timeout=30).json()
        if body.get("status") in ("failed", "canceled"):
            raise SystemExit(f"run {run_id} ended {body['status']}: {json.dumps(body)[:2000]}")
        return body if body.get("status") == "completed" else None

    wait_for(run_done, 900, f"run {run_id} to complete")
    print(f"run {run_id} completed", flush=True)

    provider = LocalProvider(connection, state_dir)
    provider.create_identity(
        ORPHAN_RUN_ID, ORPHAN_AGENT_ID, "compute-linux-vm", "2020-01-01T08:00:00Z"
    )
    response = requests.post(f"{host.api}/sweeps", params=code, timeout=30)
    response.raise_for_status()
    sweep_id = str(response.json()["id"])

    def sweep_done() -> dict[str, Any] | None:
        body: dict[str, Any] = requests.get(
            f"{host.management}/instances/{sweep_id}",
            params={"code": host.system_key},
            timeout=30,
        ).json()
        if body.get("runtimeStatus") in ("Failed", "Terminated"):
            raise SystemExit(f"sweep {sweep_id} ended {body['runtimeStatus']}: {body}")
        return body if body.get("runtimeStatus") == "Completed" else None

    sweep = wait_for(sweep_done, 60, f"sweep {sweep_id} to complete")
    print(f"sweep {sweep_id} completed: {sweep.get('output')}", flush=True)
    return run_id, sweep_id


async def load(connection: str, hub: str, instance_id: str) -> RecordedHistory:
    store = Store(connection, hub)
    try:
        row = await store.get_instance(instance_id)
        if row is None:
            raise SystemExit(f"no instance {instance_id!r} in hub {hub}")
        history = await store.load_history(instance_id)
    finally:
        await store.close()
    return RecordedHistory(
        name=str(row["Name"]),
        instance_id=instance_id,
        input=row.get("Input"),
        parent_instance_id=row.get("ParentInstanceId"),
        history=history,
    )


async def drop_hub(connection: str, hub: str) -> None:
    """Delete the task hub's tables and containers: the recording is all that is kept."""
    async with TableServiceClient.from_connection_string(connection) as tables:
        for suffix in ("Instances", "History", "Messages", "Starts"):
            await tables.delete_table(f"{hub}{suffix}")
    async with BlobServiceClient.from_connection_string(connection) as blobs:
        for container in ("largemessages", "leases"):
            with contextlib.suppress(ResourceNotFoundError):
                await blobs.delete_container(f"{hub.lower()}-{container}")


def names(recorded: RecordedHistory) -> set[str]:
    return {
        str(e.get("Name")) for e in recorded.history if e["EventType"] == EventType.TaskScheduled
    }


def polls(recorded: RecordedHistory) -> int:
    return sum(
        1
        for e in recorded.history
        if e["EventType"] == EventType.TaskScheduled and e.get("Name") == "poll_agent"
    )


async def collect(connection: str, hub: str, run_id: str, sweep_id: str) -> list[RecordedHistory]:
    run = await load(connection, hub, run_id)
    agent_ids = [
        str(e["InstanceId"])
        for e in run.history
        if e["EventType"] == EventType.SubOrchestrationInstanceCreated
    ]
    agents = [await load(connection, hub, i) for i in agent_ids]
    lifecycle = {
        "provision_identity",
        "launch_agent",
        "poll_agent",
        "stop_agent",
        "verify_teardown",
    }
    complete = [a for a in agents if lifecycle <= names(a)]
    if not complete:
        raise SystemExit("no agent history holds provisioning, monitoring and teardown")
    # The agent that polled most: the longest stretch of monitoring to replay.
    agent = max(complete, key=polls)
    print(f"agent {agent.instance_id}: {polls(agent)} polls", flush=True)
    sweep = await load(connection, hub, sweep_id)
    return [run, agent, sweep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    hub = "replay" + uuid.uuid4().hex[:10]
    # An Azurite of its own: on a shared one the sweep also finds (and removes) what other
    # sessions left there, and the recording would depend on them.
    with tempfile.TemporaryDirectory(prefix="haymaker-record-") as temp:
        temp_dir = Path(temp)
        proc = azurite.start_on_free_ports(temp_dir / "azurite", ROOT)
        connection = proc.connection_string()
        try:
            state_dir = temp_dir / "state"

            def settings(port: int) -> dict[str, str]:
                return {
                    "AzureWebJobsStorage": connection,
                    "HAYMAKER_LOCAL_STATE_DIR": str(state_dir),
                    # Agents follow the host's virtual clock to their cleanup moment before
                    # the run's deadline (as in `./dev run`, without a wall-time cap), so the
                    # agent orchestration monitors for the whole run (32 polls of PT15M in
                    # PT8H).
                    "HAYMAKER_AGENT_CLOCK_URL": f"http://127.0.0.1:{port}/admin/host/clock",
                    "HAYMAKER_AGENT_TIME_SCALE": "2000",
                    **{f"AzureWebJobs.{name}.Disabled": "true" for name in TIMERS},
                }

            with running_host(
                ROOT,
                clock="virtual",
                hub=hub,
                env=settings,
                extra_args=["--idle-settle", IDLE_SETTLE],
                log_path=temp_dir / "host.log",
            ) as host:
                try:
                    run_id, sweep_id = run_and_sweep(host, state_dir, connection)
                except BaseException:
                    print(host.log()[-5000:], file=sys.stderr)
                    raise
            recorded = asyncio.run(collect(connection, hub, run_id, sweep_id))
            asyncio.run(drop_hub(connection, hub))
        finally:
            proc.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    for item in recorded:
        path = args.out / f"{item.name}.json"
        path.write_text(item.to_json())
        print(f"wrote {path} ({path.stat().st_size} bytes, {len(item.history)} events)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
