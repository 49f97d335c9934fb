"""The agent's live mode: real Azure CLI commands (a fake `az` here), and the agent image.

Every live agent below runs as `python -m agent` from exactly the files agent/Dockerfile
copies into the image (see `image_root`), with a fake `az` first on its PATH and its events
going to an Azurite queue.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from agent.azure_cli import TIMED_OUT, AzureCli, cli_environment
from agent.contract import Contract, ContractError
from agent.live_actions import command_group, resource_type, with_tags
from agent.operate_plan import OperatePlan
from agent.scrub import Scrubber
from haymaker.catalog import load_catalog
from haymaker.events import EventReceiver, EventSender, create_events_queue, delete_events_queue
from haymaker.naming import iso_utc, name_prefix, resource_group_name, tags_for
from tests.haymaker import agent_image, fake_az

ROOT = agent_image.ROOT
CANARY = "Canary~Secret.Value_0123456789-abcdef"
TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SUBSCRIPTION = "33333333-3333-3333-3333-333333333333"
LOCATION = "westeurope"
SECRET_REF = "https://hm-kv.vault.azure.net/secrets/haymaker-0a1b2c3d-a00/0123456789abcdef"
# Runs `python -m agent` without the editable install's import hook, so that only the
# staged image files (the working directory) provide `agent` and `haymaker`.
BOOT = (
    "import runpy, sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path "
    "if '__editable__' not in getattr(f, '__module__', '')]; "
    "runpy.run_module('agent', run_name='__main__', alter_sys=True)"
)
SCENARIO: dict[str, Any] = {
    "id": "web-live-site",
    "title": "A site with its documents",
    "area": "web-apps",
    "description": "Inline test scenario in the catalog's shape.",
    "duration_hint": None,
    "resources": [],
    "deploy": [
        {
            # No --tags: the agent adds them (storage accounts take tags).
            "name": "Create the storage account",
            "command": "az storage account create --name {prefix}sa "
            "--resource-group {resource_group} --location {location} --sku Standard_LRS",
            "creates": {"kind": "storage_account", "name": "{prefix}sa"},
        },
        {
            "name": "Create the site",
            "command": "az webapp create --name {prefix}-site --resource-group {resource_group} "
            "--plan {prefix}-plan --tags {tags}",
            "creates": {"kind": "web_app", "name": "{prefix}-site"},
        },
        {
            # A child resource without tags of its own: left as it is.
            "name": "Create the documents container",
            "command": "az storage container create --name docs --account-name {prefix}sa "
            "--auth-mode login",
            "creates": {"kind": "blob_container", "name": "docs"},
        },
    ],
    "operate": [
        {
            "name": "Upload a document",
            "command": "az storage blob upload --account-name {prefix}sa --container-name docs "
            "--name {run_id}-{agent_id}.txt --data 'hello from {agent_id}' --auth-mode login",
            "uses": {"kind": "blob_container", "name": "docs"},
        },
        {
            "name": "Check the site",
            "command": "az webapp show --name {prefix}-site --resource-group {resource_group} "
            "--query '{{state: state}}'",
            "uses": {"kind": "web_app", "name": "{prefix}-site"},
        },
    ],
    "cleanup": [
        {
            "name": "Delete the site",
            "command": "az webapp delete --name {prefix}-site --resource-group {resource_group}",
            "deletes": {"kind": "web_app", "name": "{prefix}-site"},
        }
    ],
}


# --- running a live agent ---------------------------------------------------------------


@dataclass
class LiveRun:
    run_id: str
    code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    tmp: Path

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]

    def argvs(self) -> list[list[str]]:
        return [call["argv"] for call in self.calls]

    def ran(self, command: str) -> bool:
        return any(command in " ".join(argv) for argv in self.argvs())

    def fill(
        self,
        template: str,
        scenario: Mapping[str, Any] = SCENARIO,
        values: Mapping[str, str] | None = None,
    ) -> str:
        filled = placeholders(self.run_id, str(scenario["id"]))
        return template.format(**{**filled, **(values or {})})


def placeholders(run_id: str, scenario_id: str) -> dict[str, str]:
    tags = tags_for(run_id, "a00", scenario_id)
    return {
        "resource_group": resource_group_name(run_id, "a00", scenario_id),
        "prefix": name_prefix(run_id, "a00"),
        "location": LOCATION,
        "tags": " ".join(f"{key}={value}" for key, value in tags.items()),
        "run_id": run_id,
        "agent_id": "a00",
        "subscription_id": SUBSCRIPTION,
        "password": "Hm7!" + "x" * 24,  # the agent makes its own (agent/passwords.py)
        # An operate action's own (agent.lifecycle fills them per action).
        "round": "1",
        "stamp": "20261126t113000",
        "n": "1",
    }


def live_env(run_id: str, scenario: Mapping[str, Any], seconds: float) -> dict[str, str]:
    """The contract the azure provider hands a live agent (events by connection string)."""
    scenario_id = str(scenario["id"])
    return {
        "HAYMAKER_AGENT_MODE": "live",
        "HAYMAKER_RUN_ID": run_id,
        "HAYMAKER_AGENT_ID": "a00",
        "HAYMAKER_SCENARIO": json.dumps(dict(scenario)),
        "HAYMAKER_DEADLINE": iso_utc(datetime.now(UTC) + timedelta(seconds=seconds)),
        "HAYMAKER_RESOURCE_GROUP": resource_group_name(run_id, "a00", scenario_id),
        "HAYMAKER_TAGS": json.dumps(tags_for(run_id, "a00", scenario_id)),
        "HAYMAKER_EVENTS_QUEUE": "q",
        "HAYMAKER_SECRET_REF": SECRET_REF,
        "HAYMAKER_LOCATION": LOCATION,
        "HAYMAKER_AGENT_MAX_WALL_SECONDS": "30",
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT,
        "AZURE_CLIENT_SECRET": CANARY,
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
    }


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of the agent image, laid out as under its WORKDIR."""
    return agent_image.stage(tmp_path_factory.mktemp("image"))


def run_agent(
    env: Mapping[str, str],
    work: Path,
    image_root: Path,
    timeout: float = 90,
    stop_when: Callable[[list[dict[str, Any]]], bool] | None = None,
    then: Callable[[subprocess.Popen[str]], None] = subprocess.Popen.terminate,
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run the staged agent with a fake `az` (logging to work/az.jsonl) first on its PATH.

    `stop_when(calls so far)` true: `then(process)`, by default SIGTERM, as when its job
    is stopped.
    """
    bin_dir = work / "bin"
    fake_az.install(bin_dir)
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    log = work / "az.jsonl"

    def calls() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    full = {
        "PATH": fake_az.path_with(bin_dir),
        "HOME": str(work / "home"),
        "TMPDIR": str(work / "tmp"),
        "FAKE_AZ_LOG": str(log),
        "FAKE_AZ_RULES": str(work / "rules.json"),
        "FAKE_AZ_LEFTOVERS": str(work / "leftovers.txt"),
        **env,
    }
    with subprocess.Popen(
        [sys.executable, "-c", BOOT],
        cwd=image_root,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        if stop_when is not None:
            deadline = time.monotonic() + timeout
            while process.poll() is None and not stop_when(calls()):
                assert time.monotonic() < deadline, "the agent never got where it is stopped"
                time.sleep(0.05)
            then(process)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done, calls()


class StandingClock:
    """A host clock for the agent to follow (HAYMAKER_AGENT_CLOCK_URL) that stands still
    until the test moves it, so operate rounds end on a condition, not on how many fit in
    some seconds of real time on a busy machine."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        clock = self

        class Answer(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"now": iso_utc(clock.now)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the agent asks many times."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/admin/host/clock"

    def move_past(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def standing_clock() -> Iterator[StandingClock]:
    clock = StandingClock()
    yield clock
    clock.close()


# With a standing clock the wall cap is the only bound on operating left: the default 30 s
# ran out after one round while a busy Azurite took seconds a call. Below run_agent's 90 s.
SLOW_MACHINE_WALL_CAP = "80"


def calls_of(calls: list[dict[str, Any]], command: str) -> int:
    """How many fake `az` calls so far had `command` in their command line."""
    return sum(command in " ".join(call["argv"]) for call in calls)


@pytest.fixture
def run_live(
    storage_connection_string: str, tmp_path: Path, unique_name: str, image_root: Path
) -> Iterator[Callable[..., LiveRun]]:
    run_ids: list[str] = []

    def run(
        scenario: Mapping[str, Any] = SCENARIO,
        seconds: float = 2.0,
        rules: Sequence[Mapping[str, Any]] = (),
        leftovers: Callable[[str], Sequence[str]] = lambda run_id: (),
        stop_when: Callable[[list[dict[str, Any]]], bool] | None = None,
        then: Callable[[subprocess.Popen[str]], None] = subprocess.Popen.terminate,
        clock: StandingClock | None = None,
        **overrides: str,
    ) -> LiveRun:
        run_id = f"run-{unique_name}-{len(run_ids)}"
        run_ids.append(run_id)
        queue = create_events_queue(storage_connection_string, run_id)
        work = tmp_path / run_id
        work.mkdir()
        (work / "rules.json").write_text(json.dumps(list(rules)))
        (work / "leftovers.txt").write_text("".join(f"{item}\n" for item in leftovers(run_id)))
        env = live_env(run_id, scenario, seconds)
        env.update(HAYMAKER_EVENTS_QUEUE=queue, AzureWebJobsStorage=storage_connection_string)
        if clock is not None:
            env["HAYMAKER_AGENT_CLOCK_URL"] = clock.url
        env.update(overrides)
        done, calls = run_agent(env, work, image_root, stop_when=stop_when, then=then)
        receiver = EventReceiver(storage_connection_string, queue)
        events: list[dict[str, Any]] = []
        while batch := receiver.receive():
            receiver.acknowledge(batch)
            events += batch
        events.sort(key=lambda event: event["seq"])
        return LiveRun(
            run_id, done.returncode, done.stdout, done.stderr, events, calls, work / "tmp"
        )

    yield run
    for run_id in run_ids:
        delete_events_queue(storage_connection_string, run_id)


def arm_id(run_id: str, provider: str, name: str) -> str:
    group = resource_group_name(run_id, "a00", SCENARIO["id"])
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{provider}/{name}"


def assert_secret_never_left(run: LiveRun) -> None:
    assert CANARY not in run.stdout and CANARY not in run.stderr
    assert CANARY not in json.dumps(run.events)
    assert all(CANARY not in " ".join(argv) for argv in run.argvs())
    assert not any(call["secret_in_env"] or call["storage_in_env"] for call in run.calls)


def assert_signed_in_privately_and_out(run: LiveRun) -> None:
    """az login, then account set, every call in one private config dir, gone afterwards."""
    login, account = run.argvs()[:2]
    assert login[:3] == ["az", "login", "--service-principal"]
    assert login[login.index("--username") + 1] == CLIENT
    assert login[login.index("--tenant") + 1] == TENANT
    assert "--password=@-" in login and run.calls[0]["password"] == CANARY  # via stdin
    assert account == ["az", "account", "set", "--subscription", SUBSCRIPTION]
    assert run.argvs()[-1] == ["az", "logout"]
    config_dirs = {call["config_dir"] for call in run.calls}
    assert len(config_dirs) == 1
    config_dir = Path(config_dirs.pop())
    assert config_dir.parent == run.tmp and not config_dir.exists()
    assert list(run.tmp.iterdir()) == []


# --- the lifecycle in live mode -----------------------------------------------------------


def test_live_agent_signs_in_runs_every_step_tags_creates_and_cleans_up(
    run_live: Callable[..., LiveRun],
) -> None:
    def leftovers(run_id: str) -> list[str]:
        prefix = name_prefix(run_id, "a00")
        return [
            # Created by the agent, deleted by no cleanup step.
            arm_id(run_id, "Microsoft.Storage/storageAccounts", f"{prefix}sa"),
            # Made along with something else (as `az vm create` makes a NIC).
            arm_id(run_id, "Microsoft.Network/networkInterfaces", f"{prefix}-nic"),
        ]

    run = run_live(leftovers=leftovers)
    assert run.code == 0, run.stderr
    assert_signed_in_privately_and_out(run)
    assert_secret_never_left(run)
    prefix, ids = name_prefix(run.run_id, "a00"), leftovers(run.run_id)

    # Every step, in order, placeholders filled; the untagged storage account got tags.
    tags = [
        "azurehaymaker-managed=true",
        f"azurehaymaker-run={run.run_id}",
        "azurehaymaker-agent=a00",
        f"azurehaymaker-scenario={SCENARIO['id']}",
    ]
    argvs = run.argvs()[2:-1]
    deploy = [shlex.split(run.fill(step["command"])) for step in SCENARIO["deploy"]]
    deploy[0] += ["--tags", *tags]
    assert argvs[:3] == deploy
    rounds = len(run.of_type("heartbeat"))
    plan = OperatePlan(SCENARIO["operate"], run.run_id, "a00")
    operate = [
        shlex.split(run.fill(action.step["command"]))
        for _ in range(rounds)
        for action in plan.next_round()
    ]
    assert rounds >= 1 and argvs[3 : 3 + len(operate)] == operate
    upload = next(argv for argv in operate if "upload" in argv)
    assert upload[upload.index("--data") + 1] == "hello from a00"
    assert next(argv for argv in operate if "show" in argv)[-1] == "{state: state}"
    cleanup = argvs[3 + len(operate) :]
    assert cleanup[0] == shlex.split(run.fill(SCENARIO["cleanup"][0]["command"]))
    group = resource_group_name(run.run_id, "a00", SCENARIO["id"])
    assert cleanup[1] == [
        "az", "resource", "list", "--resource-group", group,
        "--tag", "azurehaymaker-agent=a00", "--query", "[].id", "--output", "tsv",
    ]  # fmt: skip
    assert cleanup[2:] == [["az", "resource", "delete", "--ids", item] for item in ids]

    # Everything the agent creates carries the four tags; child resources are left alone.
    for argv in argvs:
        group_verb = command_group(argv)
        if group_verb is None or group_verb[1] != "create":
            continue
        if group_verb[0] == "storage container":
            assert "--tags" not in argv
        else:
            start = argv.index("--tags") + 1
            assert argv[start : start + 4] == tags

    # The events: the same sequence and fields as in local mode.
    types = run.types()
    assert types[0] == "started" and types[-1] == "finished"
    assert [event["phase"] for event in run.of_type("phase")] == ["deploy", "operate", "cleanup"]
    commands = run.of_type("command")
    assert len(commands) == len(argvs)
    assert all(event["exit_code"] == 0 and event["duration_s"] >= 0 for event in commands)
    assert commands[0]["command"] == shlex.join(deploy[0])
    assert commands[0]["step"] == "Create the storage account"
    created = {(e["kind"], e["name"]) for e in run.of_type("resource_created")}
    assert created == {
        ("storage_account", f"{prefix}sa"),
        ("web_app", f"{prefix}-site"),
        ("blob_container", "docs"),
    }
    deleted = [
        (e["kind"], e["name"], e.get("resource_id")) for e in run.of_type("resource_deleted")
    ]
    assert deleted == [
        ("web_app", f"{prefix}-site", None),  # by its cleanup step
        ("storage_account", f"{prefix}sa", ids[0]),  # a leftover the agent had created
        ("Microsoft.Network/networkInterfaces", f"{prefix}-nic", ids[1]),
    ]


def test_failing_deploy_step_fails_the_agent_after_cleaning_up(
    run_live: Callable[..., LiveRun],
) -> None:
    rules = [
        {
            "match": "storage container create",
            "exit_code": 3,
            "stderr": "ERROR: (AuthorizationFailure) This request is not authorized.\n",
        }
    ]
    run = run_live(rules=rules)
    assert run.code == 1
    failed = run.events[-1]
    assert failed["type"] == "failed" and failed["phase"] == "deploy"
    assert "'Create the documents container' exited with 3" in failed["error"]
    assert "AuthorizationFailure" in failed["error"]
    assert "finished" not in run.types() and "heartbeat" not in run.types()
    assert [event["phase"] for event in run.of_type("phase")] == ["deploy", "cleanup"]
    # Cleanup still ran: the site it had created went, then the tagged leftovers.
    assert run.ran("az webapp delete") and run.ran("az resource list")
    assert not run.ran("storage blob upload")
    assert [e["kind"] for e in run.of_type("resource_deleted")] == ["web_app"]
    assert_signed_in_privately_and_out(run)
    assert_secret_never_left(run)


def test_failing_operate_step_is_reported_and_the_agent_carries_on(
    run_live: Callable[..., LiveRun], standing_clock: StandingClock
) -> None:
    rules = [
        {
            "match": "storage blob upload",
            "exit_code": 1,
            "stderr": "ERROR: The specified container does not exist.\n",
        }
    ]
    # The clock stands until a second round has begun its last step, then passes the
    # deadline: at least two rounds, then cleanup, whatever the machine's load.
    run = run_live(
        rules=rules,
        seconds=3600,
        HAYMAKER_AGENT_TIME_SCALE="1200",  # pauses between rounds of 0.25 s
        clock=standing_clock,
        stop_when=lambda calls: calls_of(calls, "webapp show") >= 2,
        then=lambda _: standing_clock.move_past(3600),
        HAYMAKER_AGENT_MAX_WALL_SECONDS=SLOW_MACHINE_WALL_CAP,
    )
    assert run.code == 0, run.stderr
    assert run.types()[-1] == "finished"
    errors = run.of_type("error")
    # Every round with actions (an idle round has none) uploads and fails once.
    plan = OperatePlan(SCENARIO["operate"], run.run_id, "a00")
    heartbeats = len(run.of_type("heartbeat"))
    rounds = sum(bool(plan.next_round()) for _ in range(heartbeats))
    assert rounds >= 2 and len(errors) == rounds
    assert all(e["phase"] == "operate" and e["step"] == "Upload a document" for e in errors)
    assert "exited with 1: ERROR: The specified container does not exist." in errors[0]["message"]
    failing = [e for e in run.of_type("command") if e["step"] == "Upload a document"]
    assert [e["exit_code"] for e in failing] == [1] * rounds
    checks = [e for e in run.of_type("command") if e["step"] == "Check the site"]
    assert len(checks) == rounds and all(e["exit_code"] == 0 for e in checks)
    # Its last word counts them: every round (idle ones too, as its heartbeats do), every
    # command, and a failed command a round with actions (the report's figures).
    [finished] = run.of_type("finished")
    commands = run.of_type("command")
    assert (finished["rounds"], finished["commands"]) == (heartbeats, len(commands))
    assert finished["commands_failed"] == sum(1 for e in commands if e["exit_code"]) == rounds


def test_operate_rounds_that_fail_entirely_fail_the_agent(
    run_live: Callable[..., LiveRun], standing_clock: StandingClock
) -> None:
    rules = [
        {"match": "storage blob upload", "exit_code": 1, "stderr": "ERROR: forbidden\n"},
        {"match": "webapp show", "exit_code": 1, "stderr": "ERROR: forbidden\n"},
    ]
    # The clock never reaches the deadline: only the failed rounds can end operating.
    run = run_live(
        rules=rules,
        seconds=3600,
        HAYMAKER_AGENT_TIME_SCALE="600",
        clock=standing_clock,
        HAYMAKER_AGENT_MAX_WALL_SECONDS=SLOW_MACHINE_WALL_CAP,
    )
    assert run.code == 1
    failed = run.events[-1]
    assert failed["type"] == "failed" and failed["phase"] == "operate"
    assert "3 operate rounds in a row failed entirely" in failed["error"]
    # Idle rounds the plan draws between them neither break nor add to the failing run.
    plan, rounds, with_actions = OperatePlan(SCENARIO["operate"], run.run_id, "a00"), 0, 0
    while with_actions < 3:
        rounds, with_actions = rounds + 1, with_actions + bool(plan.next_round())
    assert len(run.of_type("heartbeat")) == rounds and len(run.of_type("error")) == 6
    assert run.ran("az webapp delete") and run.ran("az resource list")
    assert_signed_in_privately_and_out(run)


def test_failing_cleanup_step_still_attempts_the_rest_then_fails(
    run_live: Callable[..., LiveRun],
) -> None:
    rules = [{"match": "webapp delete", "exit_code": 1, "stderr": "ERROR: conflict\n"}]
    run = run_live(rules=rules)
    assert run.code == 1
    failed = run.events[-1]
    assert failed["type"] == "failed" and failed["phase"] == "cleanup"
    assert (
        "cleanup failed: step 'Delete the site' exited with 1: ERROR: conflict" in (failed["error"])
    )
    assert [(e["phase"], e["step"]) for e in run.of_type("error")] == [
        ("cleanup", "Delete the site")
    ]
    assert run.ran("az resource list")  # attempted after the failing step
    assert "finished" not in run.types()
    assert_signed_in_privately_and_out(run)


def test_the_client_secret_never_leaves_the_agent(run_live: Callable[..., LiveRun]) -> None:
    """Even when az echoes it: in output, and in the error that fails the agent."""
    rules = [
        {"match": "account set", "stdout": f"using {CANARY}\n", "stderr": f"debug {CANARY}\n"},
        {"match": "webapp create", "exit_code": 1, "stderr": f"ERROR: secret {CANARY} rejected\n"},
    ]
    run = run_live(rules=rules)
    assert run.code == 1
    assert_secret_never_left(run)
    assert "ERROR: secret *** rejected" in run.events[-1]["error"]
    assert "using ***" in run.stdout and "debug ***" in run.stderr


def test_a_failed_sign_in_fails_the_agent_before_anything_runs(
    run_live: Callable[..., LiveRun],
) -> None:
    rules = [
        {
            "match": "az login",
            "exit_code": 1,
            "stderr": "AADSTS7000215: Invalid client secret provided.\n",
        }
    ]
    run = run_live(rules=rules, HAYMAKER_AGENT_TIME_SCALE="1000")  # retry waits shrink too
    assert run.code == 1
    assert [argv[:2] for argv in run.argvs()] == [["az", "login"]] * 4  # tried, then gave up
    assert run.types() == ["failed"]
    failed = run.events[0]
    assert failed["phase"] == "start"
    assert "az login failed with exit code 1: AADSTS7000215" in failed["error"]
    assert list(run.tmp.iterdir()) == []  # the private config dir is gone
    assert_secret_never_left(run)


def test_a_stopped_agent_signs_out_and_removes_its_config_dir(
    run_live: Callable[..., LiveRun],
) -> None:
    def operating(calls: list[dict[str, Any]]) -> bool:
        return any("upload" in call["argv"] for call in calls)

    run = run_live(seconds=3600, HAYMAKER_AGENT_TIME_SCALE="60", stop_when=operating)
    assert run.code == 143  # 128 + SIGTERM, after unwinding
    assert "failed" not in run.types() and "finished" not in run.types()
    assert_signed_in_privately_and_out(run)
    assert_secret_never_left(run)


def one_scenario_per_area() -> list[str]:
    """A scenario of each area: each live run costs a fake `az` process per command, and
    every scenario already runs locally (test_scenarios_local.py) and every command
    through the real CLI's parser (test_azcli_check.py)."""
    first: dict[str, str] = {}
    for scenario in load_catalog(ROOT / "scenarios").scenarios():
        first.setdefault(scenario.area, scenario.id)
    return sorted(first.values())


@pytest.mark.parametrize("scenario_id", one_scenario_per_area())
def test_a_catalog_scenario_of_each_area_runs_live(
    run_live: Callable[..., LiveRun], scenario_id: str
) -> None:
    scenario = load_catalog(ROOT / "scenarios").get(scenario_id).to_dict()
    run = run_live(scenario=scenario, seconds=1.0)
    assert run.code == 0, run.stderr
    assert run.types()[-1] == "finished"
    tags = tags_for(run.run_id, "a00", scenario_id)

    def commands(steps: list[Mapping[str, Any]]) -> list[str]:
        return [with_tags(run.fill(step["command"], scenario), tags) for step in steps]

    # Operate replays the agent's own plan: the same draw for the same run and agent, each
    # action with its round, its n, and a stamp (the clock's time: any, to the second).
    plan = OperatePlan(scenario["operate"], run.run_id, "a00")
    operate = [
        with_tags(run.fill(action.step["command"], scenario, values), tags)
        for number in range(1, len(run.of_type("heartbeat")) + 1)
        for action in plan.next_round()
        for values in [{"round": str(number), "stamp": "STAMP", "n": str(action.n)}]
    ]
    ran = [event["command"] for event in run.of_type("command")]
    stamped = [re.sub(r"\b\d{8}t\d{6}\b", "STAMP", command) for command in ran]
    assert stamped[:-1] == commands(scenario["deploy"]) + operate + commands(scenario["cleanup"])
    assert ran[-1].startswith("az resource list")
    assert [shlex.split(command) for command in ran] == run.argvs()[2:-1]
    assert_secret_never_left(run)


# --- the contract -------------------------------------------------------------------------


def test_a_missing_live_variable_exits_2_naming_it(tmp_path: Path, image_root: Path) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        env = live_env("run-1", SCENARIO, 60)
        env["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"
        del env[name]
        done, calls = run_agent(env, tmp_path / name, image_root)
        assert done.returncode == 2 and name in done.stderr and calls == []
        assert CANARY not in done.stdout + done.stderr
    # Nowhere to send events: both ways are named.
    done, calls = run_agent(live_env("run-1", SCENARIO, 60), tmp_path / "events", image_root)
    assert done.returncode == 2 and calls == []
    assert "AzureWebJobsStorage" in done.stderr and "HAYMAKER_EVENTS_ACCOUNT_URL" in done.stderr


def test_an_unknown_mode_exits_2_naming_the_variable(tmp_path: Path, image_root: Path) -> None:
    env = live_env("run-1", SCENARIO, 60)
    env.update(HAYMAKER_AGENT_MODE="cloud", AzureWebJobsStorage="UseDevelopmentStorage=true")
    done, calls = run_agent(env, tmp_path, image_root)
    assert done.returncode == 2 and calls == []
    assert "HAYMAKER_AGENT_MODE must be one of local, live, got 'cloud'" in done.stderr


def test_events_by_managed_identity_fail_first_and_clearly_without_one(
    tmp_path: Path, image_root: Path
) -> None:
    """The agent asks for its storage token before anything else: without one it stops
    at once (no az call, no send retried through the queue SDK's backoff) and says why."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    identity = "44444444-4444-4444-4444-444444444444"
    env = live_env("run-1", SCENARIO, 60)
    env.update(
        HAYMAKER_EVENTS_ACCOUNT_URL="https://hmevents.queue.core.windows.net",
        HAYMAKER_EVENTS_IDENTITY_CLIENT_ID=identity,
        # Where Container Apps tells a container to get managed identity tokens.
        IDENTITY_ENDPOINT=f"http://127.0.0.1:{port}/msi/token",
        IDENTITY_HEADER="not-a-real-header",
    )
    done, calls = run_agent(env, tmp_path, image_root, timeout=60)
    assert done.returncode == 1
    message = done.stderr
    # Said by the token check at the start, not by a failed send.
    assert "agent cannot report events" in message
    assert f"managed identity {identity} got no token" in message
    assert "https://hmevents.queue.core.windows.net" in message
    assert calls == []  # it never signed in: nothing happens in Azure that nobody hears of
    assert CANARY not in done.stdout + done.stderr


def _contract_env(**overrides: str) -> dict[str, str]:
    env = live_env("run-1", SCENARIO, 60)
    env.update(overrides)
    return {key: value for key, value in env.items() if value}


def test_live_contract_needs_no_local_state_and_keeps_the_secret_out_of_repr() -> None:
    contract = Contract.from_env(_contract_env(AzureWebJobsStorage="AccountKey=k"))
    assert contract.mode == "live" and contract.state_dir is None
    assert contract.principal is not None and contract.principal.client_id == CLIENT
    assert CANARY not in repr(contract) and "AccountKey" not in repr(contract)
    by_identity = Contract.from_env(
        _contract_env(
            HAYMAKER_EVENTS_ACCOUNT_URL="https://acct.queue.core.windows.net/",
            HAYMAKER_EVENTS_IDENTITY_CLIENT_ID="mi-client",
        )
    )
    assert by_identity.events_account_url == "https://acct.queue.core.windows.net"
    assert by_identity.events_identity_client_id == "mi-client" and by_identity.storage is None
    with pytest.raises(ContractError, match="HAYMAKER_EVENTS_IDENTITY_CLIENT_ID"):
        Contract.from_env(_contract_env(HAYMAKER_EVENTS_ACCOUNT_URL="https://a.queue.x.net"))
    with pytest.raises(ContractError, match="HAYMAKER_EVENTS_ACCOUNT_URL must be"):
        Contract.from_env(
            _contract_env(
                HAYMAKER_EVENTS_ACCOUNT_URL="acct.queue.core.windows.net",
                HAYMAKER_EVENTS_IDENTITY_CLIENT_ID="mi-client",
            )
        )
    # Local mode (the default) still wants its state dir and connection string.
    with pytest.raises(ContractError, match="HAYMAKER_STATE_DIR, AzureWebJobsStorage"):
        Contract.from_env(_contract_env(HAYMAKER_AGENT_MODE=""))


def test_sender_by_account_url_signs_in_with_the_credential() -> None:
    class Credential:
        def __init__(self) -> None:
            self.scopes: list[tuple[str, ...]] = []

        def get_token(
            self,
            *scopes: str,
            claims: str | None = None,
            tenant_id: str | None = None,
            enable_cae: bool = False,
            **kwargs: Any,
        ) -> AccessToken:
            self.scopes.append(scopes)
            # Not an AzureError: the storage client would retry that for a minute.
            raise LookupError("no token here")

    credential = Credential()
    sender = EventSender.from_account_url("https://acct.queue.core.windows.net", "q", credential)
    with pytest.raises(ValueError, match="invalid event"):
        sender.send({"type": "heartbeat"})
    assert credential.scopes == []  # invalid events never get as far as the queue
    event = {"type": "heartbeat", "run_id": "r", "agent_id": "a00"}
    with pytest.raises(LookupError, match="no token here"):
        sender.send(event)
    assert credential.scopes == [("https://storage.azure.com/.default",)]


# --- pieces of live mode ------------------------------------------------------------------


def test_with_tags_adds_tags_only_to_taggable_creates_without_them() -> None:
    tags = {"azurehaymaker-run": "run 1", "azurehaymaker-agent": "a00"}
    added = with_tags("az storage account create --name x", tags)
    assert added == "az storage account create --name x --tags 'azurehaymaker-run=run 1' " + (
        "azurehaymaker-agent=a00"
    )
    assert shlex.split(added)[-2:] == ["azurehaymaker-run=run 1", "azurehaymaker-agent=a00"]
    for unchanged in (
        "az storage account create --name x --tags a=b",
        "az storage account create --name x --tags=a=b",
        "az storage container create --name docs",  # no tags of its own
        "az network vnet peering create --name p",  # `network vnet` takes tags, peerings do not
        "az storage account update --name x",  # not a create
        "echo create",
    ):
        assert with_tags(unchanged, tags) == unchanged
    assert command_group(["az", "network", "vnet", "create", "--name", "v"]) == (
        "network vnet",
        "create",
    )
    assert resource_type(
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    ) == ("Microsoft.Network/virtualNetworks/subnets")


def test_every_catalog_create_is_tagged_or_says_why_not() -> None:
    """What the agent runs for a create: the scenario's --tags, the four tags the agent adds,
    or, for a step that says the CLI cannot tag it, the command unchanged."""
    catalog = load_catalog(ROOT / "scenarios")
    for scenario in catalog.scenarios():
        tags = tags_for("run-1", "a00", scenario.id)
        for steps in scenario.phases().values():
            for step in steps:
                filled = step.command.format(**placeholders("run-1", scenario.id))
                command = with_tags(filled, tags)
                argv = shlex.split(command)
                group_verb = command_group(argv)
                assert group_verb is not None, command
                if group_verb[1] != "create" and step.creates is None:
                    continue
                if step.untagged is not None:
                    assert command == filled and "--tags" not in argv, command
                    continue
                start = argv.index("--tags") + 1
                assert argv[start : start + 4] == [
                    "azurehaymaker-managed=true",
                    "azurehaymaker-run=run-1",
                    "azurehaymaker-agent=a00",
                    f"azurehaymaker-scenario={scenario.id}",
                ], command


def test_azure_cli_times_out_kills_and_scrubs(tmp_path: Path) -> None:
    az = fake_az.install(tmp_path / "bin")
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            [
                {"match": "slow", "sleep": 3600},
                {"match": "chatty", "stdout": "token s3cr3t-value\n", "exit_code": 4},
            ]
        )
    )
    scrubber = Scrubber()
    scrubber.hide("s3cr3t-value")
    env = {"PATH": fake_az.path_with(tmp_path / "bin"), "FAKE_AZ_RULES": str(rules)}
    cli = AzureCli(scrubber, env, executable=str(az))
    try:
        slow = cli.run(["az", "slow"], timeout=0.5)
        assert slow.exit_code == TIMED_OUT and "timed out after" in slow.stderr
        # Stopped, not left sleeping: no `az slow` process is left.
        assert running_commands("slow") == []
        chatty = cli.run(["az", "chatty"], timeout=30)
        assert chatty.exit_code == 4 and chatty.stdout == "token ***\n"
        assert chatty.outcome().error == "token ***"
        missing = AzureCli(scrubber, env, executable=str(tmp_path / "no-az")).run(["az"], 5)
        assert missing.exit_code == 127 and "cannot run" in missing.stderr
    finally:
        cli.close()
    assert not cli.config_dir.exists()


def running_commands(word: str) -> list[str]:
    """Command lines of live fake `az` processes (not zombies) with `word` in them."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # not a process, or gone meanwhile
        words = [part.decode(errors="replace") for part in argv]
        if state != "Z" and str(fake_az.SCRIPT) in words and word in words:
            found.append(" ".join(words))
    return found


def test_az_processes_get_a_private_config_dir_and_no_secrets(tmp_path: Path) -> None:
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        "PATH": f"{venv_bin}:/usr/bin",
        "AZURE_CLIENT_SECRET": CANARY,
        "AzureWebJobsStorage": "AccountKey=k",
        "AZURE_CLIENT_ID": CLIENT,
        "HOME": str(tmp_path),
    }
    child = cli_environment(env, tmp_path / "config")
    assert "AZURE_CLIENT_SECRET" not in child and "AzureWebJobsStorage" not in child
    assert child["AZURE_CONFIG_DIR"] == str(tmp_path / "config")
    assert child["AZURE_CORE_COLLECT_TELEMETRY"] == "false"
    if sys.prefix != sys.base_prefix:  # the agent's venv is kept away from az's Python
        assert child["PATH"] == "/usr/bin"


# --- the image ------------------------------------------------------------------------------


def test_image_is_pinned_runs_the_live_agent_as_a_user_and_copies_what_exists() -> None:
    instructions = agent_image.instructions()
    base = next(i.arguments for i in instructions if i.keyword == "FROM")
    image, _, tag = base.partition(":")
    assert image == "mcr.microsoft.com/azure-cli"
    assert re.match(r"^\d+\.\d+\.\d+", tag) and "latest" not in tag
    entrypoint = [i.arguments for i in instructions if i.keyword == "ENTRYPOINT"]
    assert [json.loads(text) for text in entrypoint] == [["python3", "-m", "agent"]]
    env = " ".join(i.arguments for i in instructions if i.keyword == "ENV")
    assert "HAYMAKER_AGENT_MODE=live" in env.split()
    users = [i.arguments for i in instructions if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    ignored = [line.strip() for line in agent_image.DOCKERIGNORE.read_text().splitlines()]
    kept = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    for copy in agent_image.copies():
        for source in copy.sources:
            assert (ROOT / source).exists(), f"{source} is copied but does not exist"
            parts = Path(source.rstrip("/")).parts
            assert any("/".join(parts[:n]) in kept for n in range(1, len(parts) + 1)), (
                f"{source} is copied but excluded by {agent_image.DOCKERIGNORE.name}"
            )


def test_image_requirements_cover_the_imports_of_what_it_copies(image_root: Path) -> None:
    requirements = [
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0]
        for line in (ROOT / "agent" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    provided = {
        str(file).removesuffix(".py").replace("/", ".")
        for name in requirements
        for file in importlib.metadata.files(name) or ()
        if str(file).endswith(".py")
    }
    local_only = {"agent.local_actions"}  # local mode (the image is live mode only)
    for path in sorted(image_root.rglob("*.py")):
        module = ".".join(path.relative_to(image_root).with_suffix("").parts)
        if module in local_only:
            continue
        for name in _imports(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top in ("agent", "haymaker"):
                where = image_root.joinpath(*name.split("."))
                assert where.with_suffix(".py").exists() or (where / "__init__.py").exists(), (
                    f"{module} imports {name}, which the image does not have"
                )
                continue
            assert any(m == name or m.startswith(f"{name}.") for m in provided), (
                f"{module} imports {name}: no package of agent/requirements.txt provides it"
            )


def test_scenarios_need_no_bicep_terraform_or_extensions_and_the_cli_is_the_checked_one() -> None:
    """The image has neither Bicep, Terraform nor CLI extensions, and its CLI is the version
    every scenario command is parsed with (requirements-azure-cli.txt)."""
    dockerfile = agent_image.DOCKERFILE.read_text()
    commands = [
        step.command
        for scenario in load_catalog(ROOT / "scenarios").scenarios()
        for steps in scenario.phases().values()
        for step in steps
    ]
    if any("bicep" in command or "az deployment" in command for command in commands):
        assert re.search(r"^RUN .*az bicep install --version", dockerfile, re.M)
    if any(command.split()[0] == "terraform" for command in commands):
        assert re.search(r"^RUN .*terraform", dockerfile, re.M)
    assert "az extension add" not in dockerfile
    pinned = re.search(
        r"^azure-cli==(\S+)$", (ROOT / "requirements-azure-cli.txt").read_text(), re.M
    )
    assert pinned is not None
    base = next(i.arguments for i in agent_image.instructions() if i.keyword == "FROM")
    assert base.partition(":")[2].startswith(pinned.group(1) + "-")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names
