"""The haymaker CLI against the real app on devhost (virtual clock) on Azurite.

Each command runs as a user runs it, `python -m haymaker ...` in a child process, so exit
codes, stdout and the one-line stderr are the real ones. The target is given with
`--url` only: for a loopback URL the keys come from the app's .devhost/keys.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.process import HostHandle, free_port
from haymaker.cli.runs import AGENT_COLUMNS
from haymaker.cli.target import UP_FILE
from haymaker.naming import resource_group_name, run_short
from haymaker.providers.local import LocalProvider
from haymaker.records import RunRecords

ROOT = Path(__file__).resolve().parents[2]
Cli = Callable[..., subprocess.CompletedProcess[str]]
SCENARIO = "compute-linux-vm"

pytestmark = pytest.mark.slow


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_run(cli: Cli, host: HostHandle, *options: str) -> str:
    result = cli("run", "start", *options, "--url", host.base_url)
    assert result.returncode == 0, result.stderr
    first, status, plan = result.stdout.splitlines()[:3]
    assert first.startswith("Run run-") and first.endswith(" started")
    assert plan.startswith("plan: ") and "estimated cost $" in plan
    assert status.startswith(f"status: {host.base_url}/runtime/webhooks/durabletask/")
    assert "code=***" in status
    assert host.function_key not in result.stdout and host.system_key not in result.stdout
    return first.split()[1]


FINISHED = ("completed", "cut_short", "failed", "canceled")


def wait_finished(cli: Cli, host: HostHandle, run_id: str, timeout: float = 300) -> dict[str, Any]:
    """The run once it has finished, as `run status --json` shows it. The wait watches the
    run's orchestration (the management API: a CLI process every half second cost more
    CPU than the run it waited for, and the run's own GET reads every agent's record)."""
    deadline = time.monotonic() + timeout
    url = f"{host.management}/instances/{run_id}"
    while True:
        response = requests.get(url, params={"code": host.system_key}, timeout=30)
        state = response.json().get("runtimeStatus") if response.status_code == 200 else None
        if state in ("Completed", "Failed", "Terminated"):
            break
        assert time.monotonic() < deadline, f"run {run_id} still {state} ({response.status_code})"
        time.sleep(0.5)
    run = as_json(cli("run", "status", run_id, "--json", "--url", host.base_url))
    assert run["status"] in FINISHED, run
    return dict(run)


def test_a_run_from_start_to_report(haymaker_cli: Cli, host: HostHandle):
    run_id = start_run(haymaker_cli, host, "--count", "2", "--duration", "PT30M", "--poll", "PT15M")
    run = wait_finished(haymaker_cli, host, run_id)
    assert run["status"] == "completed"
    assert [a["phase"] for a in run["agents"]] == ["done", "done"]

    report = as_json(
        haymaker_cli("run", "report", run_id, "--format", "json", "--url", host.base_url)
    )
    assert (report["run_id"], report["agents"], report["torn_down"]) == (run_id, 2, 2)
    assert report["left_behind"] == 0

    table = haymaker_cli("run", "report", run_id, "--url", host.base_url)
    assert table.returncode == 0, table.stderr
    assert f"Report for run {run_id}: completed" in table.stdout
    assert "Nothing tagged for this run is left." in table.stdout
    markdown = haymaker_cli("run", "report", run_id, "--format", "markdown", "--url", host.base_url)
    assert f"## Report for run {run_id}: completed" in markdown.stdout
    header = "| agent | scenario | outcome | rounds | commands | failed | torn down |"
    assert header in markdown.stdout

    listed = as_json(haymaker_cli("run", "list", "--json", "--url", host.base_url))
    assert run_id in [r["run_id"] for r in listed["runs"]]
    agents = as_json(haymaker_cli("run", "agents", run_id, "--json", "--url", host.base_url))
    assert [a["agent_id"] for a in agents["agents"]] == ["a00", "a01"]
    # The table shows what each agent did, as its last event told (the report's figures).
    told = {
        r["agent_id"]: (r["rounds"], r["commands"], r["commands_failed"])
        for r in report["agent_results"]
    }
    listing = haymaker_cli("run", "agents", run_id, "--url", host.base_url).stdout.splitlines()
    assert listing[1].split() == list(AGENT_COLUMNS)
    shown = {c[0]: (int(c[4]), int(c[5]), int(c[6])) for c in map(str.split, listing[2:])}
    assert shown == told and all(
        rounds >= 1 and commands > rounds and failed == 0
        for rounds, commands, failed in told.values()
    )
    resources = as_json(haymaker_cli("run", "resources", run_id, "--json", "--url", host.base_url))
    assert resources["resources"] and {r["action"] for r in resources["resources"]} == {"removed"}
    logs = haymaker_cli("run", "logs", run_id, "--agent", "a01", "--url", host.base_url)
    assert logs.returncode == 0, logs.stderr
    assert " a01  cleanup  finished" in logs.stdout and " a00 " not in logs.stdout

    # Its id again: the same request names this run (nothing starts), another is refused.
    same = ("--count", "2", "--duration", "PT30M", "--poll", "PT15M", "--run-id", run_id)
    again = haymaker_cli("run", "start", *same, "--url", host.base_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"Run {run_id} exists already (started earlier): nothing new")
    other = haymaker_cli("run", "start", "--count", "3", "--run-id", run_id, "--url", host.base_url)
    assert other.returncode == 1 and f"run {run_id!r} exists already (completed" in other.stderr


def test_start_wait_and_watch_follow_a_run_to_its_end(haymaker_cli: Cli, host: HostHandle):
    result = haymaker_cli(
        "run", "start", "--count", "1", "--duration", "PT30M", "--wait", "--url", host.base_url
    )
    assert result.returncode == 0, result.stderr
    assert "completed" in result.stdout and "Nothing tagged for this run is left." in result.stdout
    run_id = result.stdout.split()[1]
    watched = haymaker_cli("run", "status", run_id, "--watch", "--url", host.base_url)
    assert watched.returncode == 0, watched.stderr
    assert f"Run {run_id}: completed" in watched.stdout
    assert "a00" in watched.stdout and "done" in watched.stdout


def test_cancel_tears_a_run_down_and_a_second_cancel_is_an_error(
    haymaker_cli: Cli, host: HostHandle
):
    run_id = start_run(haymaker_cli, host, "--count", "1", "--duration", "PT8H")
    canceled = haymaker_cli("run", "cancel", run_id, "--url", host.base_url)
    assert canceled.returncode == 0, canceled.stderr
    assert f"Run {run_id}: canceling" in canceled.stdout
    assert wait_finished(haymaker_cli, host, run_id)["status"] == "canceled"
    again = haymaker_cli("run", "cancel", run_id, "--url", host.base_url)
    assert again.returncode == 1
    assert again.stderr == (
        f"haymaker: error: run cancel failed: HTTP 409: run '{run_id}' is already canceled "
        "(field: run_id)\n"
    )


def test_scenarios_list_and_show(haymaker_cli: Cli, host: HostHandle):
    files = sorted(path.stem for path in (ROOT / "scenarios").glob("*.yaml"))
    listed = as_json(haymaker_cli("scenarios", "list", "--json", "--url", host.base_url))
    assert sorted(s["id"] for s in listed["scenarios"]) == files
    table = haymaker_cli("scenarios", "list", "--url", host.base_url)
    assert f"{len(files)} scenarios" in table.stdout and files[0] in table.stdout
    shown = haymaker_cli("scenarios", "show", files[0], "--url", host.base_url)
    assert shown.returncode == 0 and shown.stdout.startswith(files[0])
    assert "per hour while it runs" in shown.stdout
    for heading in ("Resources", "Deploy", "Operate", "Cleanup", "weight"):
        assert heading in shown.stdout, heading
    missing = haymaker_cli("scenarios", "show", "no-such-scenario", "--url", host.base_url)
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1


def test_a_dry_run_prints_the_plan_and_starts_nothing(haymaker_cli: Cli, host: HostHandle):
    before = as_json(haymaker_cli("run", "list", "--json", "--url", host.base_url))
    dry = haymaker_cli("run", "start", "--count", "3", "--dry-run", "--url", host.base_url)
    assert dry.returncode == 0, dry.stderr
    assert "(nothing started): 3 agents for PT8H" in dry.stdout
    assert "estimated cost $" in dry.stdout and "no budget set" in dry.stdout
    plan = as_json(
        haymaker_cli("run", "start", "--count", "3", "--dry-run", "--json", "--url", host.base_url)
    )
    assert plan["agents"] == 3 and len(plan["scenario_ids"]) == 3
    assert as_json(haymaker_cli("run", "list", "--json", "--url", host.base_url)) == before


def test_orch_status_shows_the_expected_functions(haymaker_cli: Cli, host: HostHandle):
    expected = json.loads((ROOT / "expected_functions.json").read_text())
    status = as_json(haymaker_cli("orch", "status", "--json", "--url", host.base_url))
    assert status["ok"] is True and status["host"]["state"] == "Running"
    assert {f["name"]: f["trigger"] for f in status["functions"]} == expected
    assert status["differences"] == []
    table = haymaker_cli("orch", "status", "--url", host.base_url)
    assert f"{len(expected)} functions discovered" in table.stdout
    assert f"Matches expected_functions.json: all {len(expected)} functions discovered." in (
        table.stdout
    )


def test_orch_health(haymaker_cli: Cli, host: HostHandle):
    health = as_json(haymaker_cli("orch", "health", "--deep", "--json", "--url", host.base_url))
    assert health["ok"] is True
    assert {"settings", "storage", "catalog"} <= {c["name"] for c in health["checks"]}


def test_sweep_dry_run_lists_an_orphan_and_leaves_it_then_a_sweep_removes_it(
    haymaker_cli: Cli, host: HostHandle, private_storage_connection_string: str
):
    """What the agent of a finished run left (a host died in its teardown): the identity,
    its role assignment and its secret, in the host's own state folder, where no other
    test's sweep can reach them."""
    state = Path(host.env["HAYMAKER_LOCAL_STATE_DIR"])
    run_id = f"run-20200101-000000-{uuid.uuid4().hex[:6]}"
    storage = private_storage_connection_string
    records = RunRecords(storage)
    records.create_run(run_id, {"count": 1}, [SCENARIO], datetime(2020, 1, 1, tzinfo=UTC))
    records.update_run(run_id, status="completed")
    provider = LocalProvider(storage, state)
    provider.create_identity(run_id, "a00", SCENARIO, "2020-01-01T09:00:00.000Z")
    provider.grant_roles(run_id, "a00", resource_group_name(run_id, "a00", SCENARIO))
    key = f"{run_short(run_id)}-a00"

    def left() -> list[str]:
        """The orphans, read straight from the state folder, not through the provider."""
        files = [f"{folder}/{key}.json" for folder in ("identities", "roles")]
        found = [name for name in files if (state / name).exists()]
        secrets = json.loads((state / "secrets.json").read_text())
        return found + [name for name in secrets if name == f"haymaker-{key}"]

    planted = [f"identities/{key}.json", f"roles/{key}.json", f"haymaker-{key}"]
    assert left() == planted

    dry = as_json(haymaker_cli("sweep", "--dry-run", "--json", "--url", host.base_url))
    assert dry["status"] == "Completed" and dry["dry_run"] is True
    assert dry["removed"] == 0 and dry["found"] == len(dry["orphans"])
    listed = sorted(o["kind"] for o in dry["orphans"] if o["run"] in (run_id, run_short(run_id)))
    assert listed == ["identity", "role_assignment", "secret"], dry["orphans"]
    assert left() == planted, "a dry run removed something"

    swept = as_json(haymaker_cli("sweep", "--json", "--url", host.base_url))
    assert swept["status"] == "Completed" and swept["failed"] == [], swept
    assert swept["removed"] >= 3
    assert left() == []


def test_an_api_error_is_one_line_and_exit_1(haymaker_cli: Cli, host: HostHandle):
    result = haymaker_cli("run", "status", "run-20260101-000000-abcdef", "--url", host.base_url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "haymaker: error: run status failed: HTTP 404: no run with id "
        "'run-20260101-000000-abcdef' (field: run_id)\n"
    )
    bad = haymaker_cli("run", "start", "--scenario", "no-such-scenario", "--url", host.base_url)
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1
    assert "(field: scenarios)" in bad.stderr


def test_a_wrong_key_is_one_line_and_exit_1(haymaker_cli: Cli, host: HostHandle):
    result = haymaker_cli("run", "list", "--url", host.base_url, "--key", "wrong")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    # The host's own message (or the HTTP reason when it sends none), then which key to fix.
    assert result.stderr.startswith("haymaker: error: run list failed: HTTP 401: ")
    assert result.stderr.endswith(
        ": check the function key (--key, HAYMAKER_KEY, or .devhost/keys.json locally)\n"
    )
    assert "None" not in result.stderr and "{" not in result.stderr


def test_a_wrong_master_key_names_the_master_key_option(haymaker_cli: Cli, host: HostHandle):
    result = haymaker_cli("orch", "status", "--url", host.base_url, "--master-key", "wrong")
    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("haymaker: error: orch status failed: HTTP 401: ")
    assert result.stderr.endswith(
        ": check the host's master key (--master-key, HAYMAKER_MASTER_KEY, "
        "or .devhost/keys.json locally)\n"
    )
    assert "{" not in result.stderr and "(--key" not in result.stderr


def test_nothing_listening_is_one_line_and_exit_1(haymaker_cli: Cli):
    url = f"http://127.0.0.1:{free_port()}"
    result = haymaker_cli("run", "list", "--url", url, "--key", "k")
    assert result.returncode == 1
    assert result.stderr.startswith(f"haymaker: error: cannot reach HayMaker at {url} (")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("run", "start", "--size", "huge"),
        ("run", "start", "--count", "two"),
        ("run", "status"),
        ("no-such-command",),
        ("run", "report", "r", "--format", "pdf"),
    ],
)
def test_bad_usage_exits_2(haymaker_cli: Cli, args: tuple[str, ...]):
    result = haymaker_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "haymaker" in result.stderr and "error:" in result.stderr


def test_up_keeps_devhost_running_after_the_cli_exits_and_down_stops_it(
    haymaker_cli: Cli, app_copy: Path, storage_connection_string: str
):
    port = str(free_port())
    hub = "up" + uuid.uuid4().hex[:10]
    # Agents left without their host stop soon (the test's, not a user's 15 minutes).
    up = haymaker_cli(
        "up",
        "--app-dir",
        str(app_copy),
        "--port",
        port,
        "--clock",
        "virtual",
        "--hub",
        hub,
        env={"HAYMAKER_AGENT_HOST_PATIENCE": "5"},
    )
    try:
        assert up.returncode == 0, up.stderr + (app_copy / ".devhost" / "host.log").read_text()
        assert up.stdout.startswith(f"devhost running at http://127.0.0.1:{port} (virtual clock")
        record = json.loads((app_copy / UP_FILE).read_text())
        # The CLI has exited; the host it started still answers, found from the app folder.
        status = as_json(haymaker_cli("orch", "status", "--json", cwd=app_copy))
        assert status["url"] == f"http://127.0.0.1:{port}" and status["ok"] is True
        again = haymaker_cli("up", "--app-dir", str(app_copy), "--port", port)
        assert again.returncode == 0 and "already running" in again.stdout
        as_json_again = haymaker_cli("up", "--app-dir", str(app_copy), "--json")
        assert json.loads(as_json_again.stdout)["pid"] == record["pid"], as_json_again.stderr
        other_hub = haymaker_cli("up", "--app-dir", str(app_copy), "--hub", "otherhub")
        assert other_hub.returncode == 1
        assert f"not as asked: --hub otherhub (it runs with {hub})" in other_hub.stderr
        other = str(free_port())
        elsewhere = haymaker_cli("up", "--app-dir", str(app_copy), "--port", other)
        assert elsewhere.returncode == 1
        assert elsewhere.stderr == (
            f"haymaker: error: devhost already running at http://127.0.0.1:{port} "
            f"(pid {record['pid']}), not as asked: --port {other} (it runs with {port}); "
            "stop it with `haymaker down` first\n"
        )
        # Without its record (a host started by hand, say), a second host on the hub would
        # only stand by: `up` says who runs the hub instead of waiting.
        saved = (app_copy / UP_FILE).read_text()
        (app_copy / UP_FILE).unlink()
        second = haymaker_cli("up", "--app-dir", str(app_copy), "--port", other, "--hub", hub)
        (app_copy / UP_FILE).write_text(saved)
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"already run by devhost pid {record['pid']} on " in second.stderr, second.stderr
        # The README's walkthrough: on the virtual clock a two-hour run takes seconds.
        walk = haymaker_cli(
            "run", "start", "--count", "1", "--duration", "PT2H", "--wait", cwd=app_copy
        )
        assert walk.returncode == 0, walk.stdout + walk.stderr
        assert "Nothing tagged for this run is left." in walk.stdout
        # A day-long run, just started: `down` says it is left unfinished, and how to end it.
        day = haymaker_cli("run", "start", "--count", "1", "--duration", "P1D", cwd=app_copy)
        assert day.returncode == 0, day.stderr
        unfinished = day.stdout.split()[1]
    finally:
        down = haymaker_cli("down", "--app-dir", str(app_copy))
    assert down.returncode == 0, down.stderr
    assert f"stopped (pid {record['pid']})" in down.stdout
    assert f"Unfinished: {unfinished}." in down.stdout
    assert f"`haymaker up`, then `haymaker run cancel {unfinished}`." in down.stdout
    assert json.loads(haymaker_cli("down", "--app-dir", str(app_copy), "--json").stdout) == {
        "stopped": False,
        "app_dir": str(app_copy.resolve()),
    }
    assert not (app_copy / UP_FILE).exists()
    gone = haymaker_cli("run", "list", "--url", f"http://127.0.0.1:{port}", "--key", "k")
    assert gone.returncode == 1 and "cannot reach" in gone.stderr


def _devhosts_of(app_dir: Path) -> list[int]:
    """The pids of every devhost process (and its worker) started on `app_dir`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and str(app_dir).encode() in cmdline and b"devhost" in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.parametrize("how", ["ctrl-c", "timeout"])
def test_an_up_that_does_not_finish_stops_the_host_it_started(
    app_copy: Path, storage_connection_string: str, how: str
):
    """Ctrl-C at the terminal (SIGINT to the whole process group) 0.7 s in, or a --timeout
    shorter than the host's start: no host is left running without the record `down`
    stops it by, so neither `down` nor the next `up` finds a stranger on the port."""
    port = str(free_port())
    command = [sys.executable, "-m", "haymaker", "up", "--app-dir", str(app_copy)]
    command += ["--port", port, "--hub", "up" + uuid.uuid4().hex[:10]]
    if how == "timeout":
        command += ["--timeout", "0.05"]  # shorter than any host's start, however quiet the machine
    up = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,  # its own process group, as a terminal gives a command
        # Ctrl-C as in a terminal, even when the tests run with SIGINT ignored (`cmd &`).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        if how == "ctrl-c":
            time.sleep(0.7)
            assert _devhosts_of(app_copy), "the host had not been started yet"
            os.killpg(up.pid, signal.SIGINT)
        out, err = up.communicate(timeout=60)
        if how == "ctrl-c":
            assert up.returncode == 130, err
            assert err.startswith("haymaker: interrupted: stopped the devhost it was starting")
        else:
            assert up.returncode == 1 and "did not become ready in 0s" in err, err
        left = _devhosts_of(app_copy)
    finally:  # a failure here must not leave a host behind for the rest of the session
        for pid in _devhosts_of(app_copy):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert left == []
    assert not (app_copy / UP_FILE).exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/admin/host/status", timeout=5)
