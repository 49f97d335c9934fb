"""A local run stopped with Ctrl-C is not lost: its task hub is the app folder's own, so
the next host on the folder resumes it, and `haymaker run cancel` ends it.

(Local runs used to take a new task hub each time: the run then showed `running` forever,
and `run cancel` answered 409 `No instance with ID ... found`.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost import azurite
from devhost.process import free_port, free_ports
from haymaker.naming import run_short
from haymaker.providers.local import LocalProvider

Cli = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.slow


def environment(app_dir: Path, connection: str) -> dict[str, str]:
    """The CLI as run from the app folder (its own haymaker package), on `connection`."""
    skip = ("HAYMAKER_URL", "HAYMAKER_KEY", "HAYMAKER_MASTER_KEY", "HAYMAKER_PROFILE")
    env = {k: v for k, v in os.environ.items() if k not in skip and not k.startswith("HAYMAKER_")}
    return {**env, "PYTHONPATH": str(app_dir), "AzureWebJobsStorage": connection}


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 240.0) -> Any:
    """`probe()` until it is truthy (a bound for a failure, not a budget)."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)
    return value


def commands(app_copy: Path, env: dict[str, str], timeout: float = 240) -> Cli:
    """`python -m haymaker ...` (or another module's command line) in the app copy."""

    def run(*args: str, module: str = "haymaker") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            cwd=app_copy,
            env=env,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def haymaker(app_copy: Path, private_storage_connection_string: str) -> Iterator[Cli]:
    run = commands(app_copy, environment(app_copy, private_storage_connection_string))
    yield run
    run("down", "--app-dir", str(app_copy))


def as_from_a_terminal() -> None:
    """Ctrl-C works in the child as in a terminal, even when the tests themselves were
    started with SIGINT ignored (a shell script's `cmd &` ignores it, and a child inherits
    that: Python then never raises KeyboardInterrupt, and the run went on to its end)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_a_local_run(
    app_copy: Path, connection: str, duration: str = "PT8H"
) -> tuple[str, str]:
    """`haymaker local-run` (what `./dev run` runs) on the app copy, Ctrl-C'd once its
    agents run: (the run id, what it printed). Meanwhile the test holds the host's clock
    (a busy participant, which goes with the host): however short the run, and however
    slow the machine, it is still running when the Ctrl-C comes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "haymaker", "local-run", "--count", "2", "--duration", duration],
        cwd=app_copy,
        env=environment(app_copy, connection),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Run ") and " started; " in line:
                run_id = line.split()[1]
                break
        else:
            raise AssertionError(f"local-run ended without starting a run: {process.wait()}")
        port = int((app_copy / ".devhost" / "local-port").read_text())
        participant = f"http://127.0.0.1:{port}/admin/host/clock/participants/interrupting-test"
        held = requests.put(participant, json={"lease_seconds": 600}, timeout=30)
        assert held.status_code == 200, held.text
        agents = app_copy / ".haymaker" / "agents"
        wait_for(
            lambda: len(list(agents.glob(f"{run_short(run_id)}-*.json"))) == 2,
            "both agents to be launched",
        )
        process.send_signal(signal.SIGINT)
        rest = process.stdout.read()
        assert process.wait(timeout=120) == 130, rest
    finally:
        if process.poll() is None:
            process.kill()
    return run_id, rest


def test_a_ctrl_c_local_run_is_resumed_by_the_next_host_and_can_be_canceled(
    haymaker: Cli, app_copy: Path, private_storage_connection_string: str
) -> None:
    run_id, printed = interrupt_a_local_run(app_copy, private_storage_connection_string)
    assert f"Interrupted: run {run_id} is unfinished" in printed, printed
    assert f"haymaker run cancel {run_id}" in printed, printed

    port = str(free_port())
    up = haymaker("up", "--app-dir", str(app_copy), "--port", port, "--clock", "virtual")
    assert up.returncode == 0, up.stderr

    def status() -> dict[str, Any]:
        shown = haymaker("run", "status", run_id, "--json")
        assert shown.returncode == 0, shown.stderr
        return dict(json.loads(shown.stdout))

    # The folder's host took the run up where the interrupted one left it.
    resumed = status()
    assert resumed["status"] == "running", resumed
    assert resumed["orchestration"]["runtime_status"] == "Running", resumed

    canceled = haymaker("run", "cancel", run_id)
    assert canceled.returncode == 0, canceled.stderr
    run = wait_for(lambda: (s := status())["status"] in ("canceled", "completed") and s, "the end")
    assert run["status"] == "canceled", run
    assert (run["agents_torn_down"], run["left_behind"]) == (2, 0), run
    provider = LocalProvider(private_storage_connection_string, app_copy / ".haymaker")
    assert list(provider.list_tagged_resources(run_id)) == []
    assert all(
        provider.agent_status(run_id, agent)["state"] != "running" for agent in ("a00", "a01")
    )


def test_the_next_local_run_finishes_an_interrupted_run_with_its_agents(
    app_copy: Path, private_storage_connection_string: str
) -> None:
    """The interrupted run's agents work on without a host; the next `./dev run` on the
    folder comes up where they look for it (the same port), so they follow its clock
    again and run their own cleanup instead of being cut off at the deadline."""
    # An hour is enough to come back to (an eight-hour run only added rounds to finish).
    run_id, _ = interrupt_a_local_run(app_copy, private_storage_connection_string, "PT1H")
    again = subprocess.run(
        [sys.executable, "-m", "haymaker", "local-run", "--count", "1", "--duration", "PT1H"],
        cwd=app_copy,
        env=environment(app_copy, private_storage_connection_string),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    printed = again.stdout
    assert f"Resuming run {run_id}" in printed, printed + again.stderr
    resumed = printed.split(f"Report for run {run_id}: ", 1)[1].split("OK:", 1)[0]
    assert resumed.startswith("completed"), printed
    # agent, scenario, outcome, operate rounds, commands, failed commands, torn down
    row = r"^\s+(a\d\d)\s+\S+\s+(\S+)\s+\d+\s+\d+\s+\d+\s+yes$"
    outcomes = dict(re.findall(row, resumed, re.MULTILINE))
    assert outcomes == {"a00": "finished", "a01": "finished"}, printed
    assert "wall time" in resumed and "since resumed" in resumed, printed
    assert again.returncode == 0, printed + again.stderr


def test_a_finished_local_runs_records_are_there_for_the_next_host(
    app_copy: Path, tmp_path: Path
) -> None:
    """`./dev run` starts the Azurite it needs where devhost keeps that Azurite's data, and
    stops it at the end; `haymaker up` afterwards starts it again on the same data, so the
    run's report and logs are there. (The local run kept a folder of its own, and after
    it `haymaker up` answered 404 for every run it had made.)"""
    ports = dict(zip(azurite.PORTS, free_ports(3), strict=True))
    checkout_azurite = Path(azurite.__file__).parents[1] / "node_modules" / ".bin"
    env = {
        **environment(app_copy, azurite.dev_connection_string(ports=ports)),
        azurite.HOME_SETTING: str(tmp_path / "azurite-home"),
        # The app copy has no node_modules of its own: the checkout's Azurite.
        "PATH": f"{checkout_azurite}:{os.environ['PATH']}",
    }
    cli = commands(app_copy, env, timeout=600)
    try:
        done = cli("local-run", "--count", "1", "--duration", "PT30M")
        assert done.returncode == 0, done.stdout + done.stderr
        finished = re.search(r"^Report for run (\S+): completed$", done.stdout, re.MULTILINE)
        assert finished, done.stdout
        run_id = finished[1]
        assert not azurite.is_running(ports)  # it stopped the Azurite it started
        up = cli("up", "--app-dir", str(app_copy), "--port", str(free_port()))
        assert up.returncode == 0, up.stderr
        report = cli("run", "report", run_id, "--json")
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["status"] == "completed"
        logs = cli("run", "logs", run_id, "--agent", "a00")
        assert " a00  cleanup  finished" in logs.stdout, logs.stdout + logs.stderr
    finally:
        cli("down", "--app-dir", str(app_copy))
        ports_option = ",".join(str(port) for port in ports.values())
        cli("azurite", "stop", "--ports", ports_option, module="devhost")
