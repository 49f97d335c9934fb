"""End-to-end helpers: the real app on devhost (virtual clock) on Azurite, over HTTP.

Each host runs the app in place (app dir = the repo root) on the storage its test hands
it (for most, the session's private Azurite: see tests/conftest.py), with its own task hub
(deleted when the host stops), its own local-provider state folder and log under a
temporary folder, the timer triggers disabled (the virtual clock would otherwise reach
their schedules and start extra runs), and the agents' time compressed so an 8-hour run
takes seconds. Runs are independent by run id,
so one host serves every test of a module that needs no special app settings.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from devhost.testing import HostHandle, running_host
from haymaker.events import events_queue_exists, events_queue_name
from haymaker.local_run import FINISHED, SCHEDULED_FUNCTIONS
from haymaker.naming import run_short
from haymaker.providers.local import LocalProvider

APP_DIR = Path(__file__).resolve().parents[2]
ORCHESTRATION_FINISHED = ("Completed", "Failed", "Terminated")
# Test hooks an outer environment might set: blanked unless a test asks for them.
HOOKS = (
    "HAYMAKER_AGENT_FAIL_AT",
    "HAYMAKER_AGENT_SILENT",
    "HAYMAKER_LOCAL_FAIL_LAUNCH",
    "HAYMAKER_LOCAL_CRASH_IN_TEARDOWN",
)
# Agents follow the host's virtual clock, as in `./dev run`: they wait on it between
# operate rounds (as its participants), clean up before the deadline and finish. The
# wall-time cap is only a net: an agent it stops is reported cut short, and fails a test.
AGENT_WALL_SECONDS = "600"
# An agent whose test host is gone (killed and not restarted) gives up after this long.
AGENT_HOST_PATIENCE = "60"
# Scenario time runs this much faster than real time, as in `./dev run` (haymaker/local_run.py):
# it scales the think time between an operate round's actions (rounds follow the host's
# clock), real pauses of 5-15 ms during which the clock cannot jump (at 300, 50-150 ms).
AGENT_TIME_SCALE = "3000"
IDLE_SETTLE = "0.3"
# How often a GET is tried while the API answers 503 for storage too slow to answer.
UNAVAILABLE_RETRIES = 5

T = TypeVar("T")


def host_env(state_dir: Path, *, port: int | None = None, **overrides: str) -> dict[str, str]:
    """The app settings of a test host; `overrides` add test hooks or change defaults. With
    the host's `port`, agents follow its clock (else they keep their own time).

    Everything the app reads is given here, so a local.settings.json (gitignored, absent
    in CI, possibly edited by hand) changes nothing: environment variables win.
    """
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "HAYMAKER_PROVIDER": "local",
        "HAYMAKER_LOCAL_STATE_DIR": str(state_dir),
        "HAYMAKER_RUN_SIZE": "small",
        # Two polls: agents follow the host's clock to their cleanup moment, and every
        # poll costs real time. (`./dev run` and the replay recording run eight hours.)
        "HAYMAKER_RUN_DURATION": "PT1H",
        "HAYMAKER_POLL_INTERVAL": "PT30M",
        "HAYMAKER_MAX_PARALLEL_AGENTS": "50",
        "HAYMAKER_AGENT_TIME_SCALE": AGENT_TIME_SCALE,
        "HAYMAKER_AGENT_MAX_WALL_SECONDS": AGENT_WALL_SECONDS,
        "HAYMAKER_AGENT_HOST_PATIENCE": AGENT_HOST_PATIENCE,
        "HAYMAKER_AGENT_CLOCK_URL": f"http://127.0.0.1:{port}/admin/host/clock" if port else "",
        **{hook: "" for hook in HOOKS},
        **{f"AzureWebJobs.{name}.Disabled": "true" for name in SCHEDULED_FUNCTIONS},
    }
    env.update(overrides)
    return env


def new_hub() -> str:
    """A unique task hub (like the `unique_name` fixture, for module-scoped hosts)."""
    return "t" + uuid.uuid4().hex[:12]


def wait_until(
    probe: Callable[[], T | None],
    timeout: float,
    message: str | Callable[[], str],
    interval: float = 0.1,
) -> T:
    """Call `probe` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {text}")
        time.sleep(interval)


@dataclass
class App:
    """A running HayMaker host and the ways a test talks to it and inspects what it did."""

    host: HostHandle
    state_dir: Path
    connection: str
    hub: str
    runs: list[str] = field(default_factory=list)

    # --- HTTP -------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET, retried as a client honouring Retry-After does while the API answers 503
        because storage was too slow (a machine loaded by many test runs)."""
        for _ in range(UNAVAILABLE_RETRIES):
            response = self.get_once(path, **params)
            if not transiently_unavailable(response):
                break
            time.sleep(min(float(response.headers.get("Retry-After", 1)), 2.0))
        return response

    def get_once(self, path: str, **params: Any) -> requests.Response:
        params.setdefault("code", self.host.function_key)
        return requests.get(f"{self.host.api}/{path}", params=params, timeout=30)

    def post(
        self, path: str, body: Any = None, data: bytes | str | None = None, **params: Any
    ) -> requests.Response:
        params.setdefault("code", self.host.function_key)
        if body is not None:
            data = json.dumps(body)
        return requests.post(
            f"{self.host.api}/{path}",
            params=params,
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )

    def start_run(self, body: dict[str, Any]) -> str:
        """POST /api/runs; asserts the 202 and its status URLs; returns the run id."""
        response = self.post("runs", body)
        assert response.status_code == 202, response.text
        answer = response.json()
        run_id = str(answer["run_id"])
        assert answer["id"] == run_id
        assert response.headers["Location"] == answer["statusQueryGetUri"]
        self.runs.append(run_id)
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"runs/{run_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for_run(self, run_id: str, timeout: float = 300.0) -> dict[str, Any]:
        """Wait until the run has finished; return GET /api/runs/{id}'s answer then.

        Finished means both: the run record's status (written by the last activity) and
        the run orchestration's runtime status (which completes just after it). The wait
        watches the orchestration (the management API: one storage read a look) and reads
        the run when it is done: GET /api/runs/{id} reads every agent's record too, and
        four times a second through a 50-agent run that cost seconds of CPU.
        """
        last: dict[str, Any] = {}

        def finished() -> dict[str, Any] | None:
            response = self.instance_status(run_id)
            running = response.status_code != 200 or (
                response.json().get("runtimeStatus") not in ORCHESTRATION_FINISHED
            )
            if running:
                return None
            last.update(self.run(run_id))
            done = (last.get("orchestration") or {}).get("runtime_status")
            return (
                dict(last)
                if done in ORCHESTRATION_FINISHED and last.get("status") in FINISHED
                else None
            )

        def message() -> str:
            with suppress(Exception):
                last.update(self.run(run_id))
            return f"run {run_id} to finish; last: {_summary(last)}\n{self.log_tail()}"

        return wait_until(finished, timeout, message, interval=0.25)

    def wait_for_phase(
        self, run_id: str, phase: str, agents: int, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Wait until `agents` agents of the run are in `phase`; return the run."""
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            last.update(self.run(run_id))
            return dict(last) if last.get("phases", {}).get(phase, 0) >= agents else None

        return wait_until(
            reached,
            timeout,
            lambda: f"{agents} agent(s) of {run_id} {phase}; last: {_summary(last)}",
            interval=0.05,
        )

    def report(self, run_id: str) -> dict[str, Any]:
        response = self.get(f"runs/{run_id}/report")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def events(self, run_id: str, agent: str | None = None) -> list[dict[str, Any]]:
        """Every recorded event of the run (or one agent), following continuation tokens."""
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if agent:
                params["agent"] = agent
            if token:
                params["continuation"] = token
            response = self.get(f"runs/{run_id}/events", **params)
            assert response.status_code == 200, response.text
            page = response.json()
            events.extend(page["events"])
            token = page["continuation"]
            if not token:
                return events

    # --- the host's virtual clock ------------------------------------------------------

    @contextmanager
    def hold_clock(self, name: str = "test-driver") -> Iterator[None]:
        """Hold the virtual clock to real time while the block runs: the test joins it as
        a busy participant (devhost/participants.py), so no jump happens meanwhile, and a
        run stays in the state the test watches (agents between operate rounds wait for
        the clock) for as long as the test needs, however loaded the machine, instead of
        the test's run being long enough in scenario time to be caught in it. Leaving lets
        the clock jump again."""
        url = f"{self.host.base_url}/admin/host/clock/participants/{name}"
        joined = requests.put(url, json={"lease_seconds": 900}, timeout=30)
        assert joined.status_code == 200, joined.text
        try:
            yield
        finally:
            left = requests.delete(url, timeout=30)
            assert left.status_code == 204, left.text

    # --- Durable management API -------------------------------------------------------

    def instances(self, **params: Any) -> list[dict[str, Any]]:
        """Every orchestration instance in the hub (the management API, system key)."""
        params.setdefault("code", self.host.system_key)
        found: list[dict[str, Any]] = []
        headers: dict[str, str] = {}
        while True:
            response = requests.get(
                f"{self.host.management}/instances", params=params, headers=headers, timeout=30
            )
            assert response.status_code == 200, response.text
            found.extend(response.json())
            token = response.headers.get("x-ms-continuation-token")
            if not token:
                return found
            headers = {"x-ms-continuation-token": token}

    def wait_for_instance(self, instance_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll an orchestration's status until it has finished; return the status."""

        def finished() -> dict[str, Any] | None:
            status = dict(self.instance_status(instance_id).json())
            return status if status.get("runtimeStatus") in ORCHESTRATION_FINISHED else None

        return wait_until(finished, timeout, f"instance {instance_id} to finish", interval=0.2)

    def instance_status(self, instance_id: str, history: bool = False) -> requests.Response:
        params = {"code": self.host.system_key}
        if history:
            params.update(showHistory="true", showHistoryOutput="true", showInput="true")
        return requests.get(
            f"{self.host.management}/instances/{instance_id}", params=params, timeout=30
        )

    # --- what the local provider holds ------------------------------------------------

    def provider(self) -> LocalProvider:
        """A provider on the same storage and state folder as the app's."""
        return LocalProvider(self.connection, self.state_dir)

    def leftovers(self, run_id: str) -> list[dict[str, str]]:
        """Anything of the run still there: tagged storage objects (via the provider's
        list_tagged_resources, and listed directly, see `stored_objects_of`), identities,
        role assignments, secrets, agent processes, and the run's events queue."""
        provider = self.provider()
        left = [
            {"kind": item["kind"], "name": item["name"]}
            for item in provider.list_tagged_resources(run_id)
        ]
        left += [item for item in stored_objects_of(self.connection, run_id) if item not in left]
        short = run_short(run_id)
        for orphan in provider.list_orphans(set()):
            if orphan["kind"] in ("blob_container", "table", "queue"):
                continue  # already covered, by tag, above
            if orphan["run"] in (run_id, short):
                left.append({"kind": orphan["kind"], "name": orphan["name"]})
        if events_queue_exists(self.connection, events_queue_name(run_id)):
            left.append({"kind": "events_queue", "name": events_queue_name(run_id)})
        return left

    def agent_log(self, run_id: str, agent_id: str) -> Path:
        return self.state_dir / "agents" / f"{run_short(run_id)}-{agent_id}.log"

    def log_tail(self, lines: int = 40) -> str:
        return "host log tail:\n" + "\n".join(self.host.log().splitlines()[-lines:])

    # --- cleanup ------------------------------------------------------------------------

    def finish_runs(self, timeout: float = 60.0) -> None:
        """Let runs a test left behind end (canceling those still running); then remove
        anything of them still there (agent processes first), so a failed test leaks
        nothing into later ones."""
        for run_id in self.runs:
            with suppress(Exception):
                if self.run(run_id).get("status") not in FINISHED:
                    self.post(f"runs/{run_id}/cancel")
                self.wait_for_run(run_id, timeout)
        provider = self.provider()
        mine = {run for run_id in self.runs for run in (run_id, run_short(run_id))}
        orphans = [o for o in provider.list_orphans(set()) if o["run"] in mine]
        if orphans:
            provider.delete_orphans(orphans)


def stored_objects_of(connection: str, run_id: str) -> list[dict[str, str]]:
    """The run's objects in the storage account, listed with the storage SDK rather than
    the provider under test: containers and queues named for the run (`hm-<run short>-`),
    tables named for it (`hm<run short>`), and its rows in the tables' tag index. Listed by
    name prefix on the server: a long-used Azurite holds thousands of tables."""
    short = run_short(run_id)
    blobs = BlobServiceClient.from_connection_string(connection)
    found = [
        {"kind": "blob_container", "name": container.name}
        for container in blobs.list_containers(name_starts_with=f"hm-{short}-")
    ]
    queues = QueueServiceClient.from_connection_string(connection)
    found += [
        {"kind": "queue", "name": queue.name}
        for queue in queues.list_queues(name_starts_with=f"hm-{short}-")
    ]
    tables = TableServiceClient.from_connection_string(connection)
    named = tables.query_tables(
        "TableName ge @first and TableName lt @after",
        parameters={"first": f"hm{short}", "after": f"hm{short}~"},
    )
    found += [{"kind": "table", "name": table.name} for table in named]
    with suppress(ResourceNotFoundError):
        index = tables.get_table_client("HayMakerLocalTags")
        rows = index.query_entities("azurehaymaker_run eq @run", parameters={"run": run_id})
        found += [{"kind": "table tag index row", "name": row["RowKey"]} for row in rows]
    return found


def transiently_unavailable(response: requests.Response) -> bool:
    """A 503 of the API for storage (or the Durable host) too slow: retry after a while."""
    if response.status_code != 503 or "Retry-After" not in response.headers:
        return False
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return str(code).endswith("_unavailable")


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {key: run.get(key) for key in ("status", "phases", "orchestration")}


@contextmanager
def app_host(
    folder: Path,
    connection: str,
    hub: str | None = None,
    idle_settle: str = IDLE_SETTLE,
    host_args: tuple[str, ...] = (),
    **settings: str,
) -> Iterator[App]:
    """Run the app on devhost (virtual clock) on the storage `connection` names, with
    `settings` over the test defaults; `host_args` go to devhost's command line."""
    state_dir = folder / "state"
    hub = hub or new_hub()
    try:
        with running_host(
            APP_DIR,
            clock="virtual",
            hub=hub,
            env=lambda port: host_env(
                state_dir, port=port, **{"AzureWebJobsStorage": connection, **settings}
            ),
            extra_args=["--idle-settle", idle_settle, *host_args],
            log_path=folder / "host.log",
        ) as host:
            app = App(host=host, state_dir=state_dir, connection=connection, hub=hub)
            try:
                yield app
            finally:
                app.finish_runs()
    finally:
        drop_task_hub(connection, hub)


def drop_task_hub(connection: str, hub: str) -> None:
    """Delete a test host's task hub: its tables and its large-message container.

    Left behind, every test's histories pile up in the shared Azurite, which rewrites its
    whole table database every few seconds: at ~500 hubs (126 MB) a one-blob upload took
    5 s, and agents with a 40 s ceiling timed out for every session on the machine.
    """
    tables = TableServiceClient.from_connection_string(connection)
    for suffix in ("Instances", "History", "Messages", "Starts"):
        tables.delete_table(hub + suffix)  # no error if it does not exist
    with suppress(ResourceNotFoundError):
        blobs = BlobServiceClient.from_connection_string(connection)
        blobs.delete_container(f"{hub.lower()}-largemessages")


class SecretWatcher:
    """Reads the local secret store over and over, keeping every client secret it saw."""

    def __init__(self, state_dir: Path, interval: float = 0.02) -> None:
        self._path = state_dir / "secrets.json"
        self._interval = interval
        self._stop = threading.Event()
        self.values: dict[str, str] = {}
        self.started_at = datetime.now(UTC)
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.read()
            self._stop.wait(self._interval)

    def read(self) -> None:
        # The store replaces the file atomically (write + rename): never half a file.
        with suppress(FileNotFoundError, ValueError):
            for name, value in json.loads(self._path.read_text(encoding="utf-8")).items():
                self.values[name] = value

    def __enter__(self) -> SecretWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.read()


RECORD_TABLES = ("Runs", "Agents", "Resources", "Events", "Reports")


def leaks(secrets: list[str], places: dict[str, str]) -> list[str]:
    """Where any of `secrets` shows up in `places` (see stored_texts), by number, never
    quoting the secret itself."""
    return [
        f"secret #{index} in {place}"
        for index, value in enumerate(secrets)
        for place, text in places.items()
        if value in text
    ]


def stored_texts(app: App, connection: str, since: datetime) -> dict[str, str]:
    """Everything a secret could leak into, as text by place: the task hub's tables and
    large-message blobs, run records written since `since` (events: every row of the app's
    runs), each instance's status with history, the runs API's answers, the host log and
    the agents' logs. Used by the canary tests, which search it for client secrets."""
    places: dict[str, str] = {}
    tables = TableServiceClient.from_connection_string(connection)
    for suffix in ("Instances", "History", "Messages", "Starts"):
        rows = list(tables.get_table_client(app.hub + suffix).list_entities())
        places[f"{app.hub}{suffix} table"] = json.dumps(rows, default=str)
    assert '"EventType"' in places[f"{app.hub}History table"]
    blobs = BlobServiceClient.from_connection_string(connection)
    container = blobs.get_container_client(f"{app.hub.lower()}-largemessages")
    if container.exists():
        for blob in container.list_blobs():
            places[f"blob {blob.name}"] = container.download_blob(blob.name).readall().decode()
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    existing = {table.name for table in tables.list_tables()}
    for name in RECORD_TABLES:
        if "HayMaker" + name not in existing:
            continue  # never written (no agent of the azure tests' fake sends events)
        table = tables.get_table_client("HayMaker" + name)
        if name == "Events":
            rows = [
                row
                for run in app.runs
                # A run's events are in partitions `<run id>|<second>` (haymaker/records.py).
                for row in table.query_entities(
                    "PartitionKey ge @run and PartitionKey lt @end",
                    parameters={"run": run, "end": run + "}"},
                )
            ]
        else:
            rows = list(table.query_entities(f"Timestamp ge datetime'{stamp}'"))
        places[f"HayMaker{name} table"] = json.dumps(rows, default=str)
    instance_ids = [instance["instanceId"] for instance in app.instances()]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = pool.map(lambda i: app.instance_status(i, history=True), instance_ids)
        for instance_id, response in zip(instance_ids, statuses, strict=True):
            assert response.status_code == 200, response.text
            assert "historyEvents" in response.json()
            places[f"status of {instance_id}"] = response.text
    for run in app.runs:
        places[f"GET /api/runs/{run}"] = app.get(f"runs/{run}").text
        places[f"GET /api/runs/{run}/report"] = app.get(f"runs/{run}/report").text
        places[f"GET /api/runs/{run}/resources"] = app.get(f"runs/{run}/resources").text
    places["host log"] = app.host.log()
    for log in sorted((app.state_dir / "agents").glob("*.log")):
        places[f"agent log {log.name}"] = log.read_text(errors="replace")
    return places
