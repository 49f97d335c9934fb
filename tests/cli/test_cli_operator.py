"""What an operator reads from the CLI: logs with detail, progress in a pipe, keys on
request, errors that say what to fix, and exit codes a script can trust.

Each command runs as a user runs it (`python -m haymaker ...` in a child process) against
the real app on devhost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.process import HostHandle
from tests.cli.conftest import ROOT, into_closed_pipe
from tests.cli.test_cli_devhost import Cli, as_json, start_run, wait_finished

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(host: HostHandle) -> str:
    """A two-agent run, finished, whose events the log tests read."""
    cli = _cli()
    run_id = start_run(cli, host, "--count", "2", "--duration", "PT30M", "--poll", "PT10M")
    assert wait_finished(cli, host, run_id)["status"] == "completed"
    return run_id


def _cli() -> Cli:
    def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "haymaker", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=240,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )

    return run


def test_log_lines_say_what_happened(haymaker_cli: Cli, host: HostHandle, finished_run: str):
    logs = haymaker_cli("run", "logs", finished_run, "--url", host.base_url)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    commands = [line for line in lines if " command " in line]
    # A local agent's commands are acted out on storage, never run, and say so.
    assert commands and all(" -> acted out locally, exit 0 in " in line for line in commands)
    assert any(" deploy   command " in line and ": az " in line for line in commands)
    created = [line for line in lines if " resource_created " in line]
    assert created and all(
        len(line.split("resource_created", 1)[1].split()) == 2 for line in created
    )


def test_json_logs_are_json_lines(haymaker_cli: Cli, host: HostHandle, finished_run: str):
    logs = haymaker_cli("run", "logs", finished_run, "--json", "--url", host.base_url)
    assert logs.returncode == 0, logs.stderr
    events = [json.loads(line) for line in logs.stdout.splitlines()]
    assert len(events) > 10 and {e["agent_id"] for e in events} == {"a00", "a01"}
    command = next(e for e in events if e["type"] == "command")
    assert {"command", "exit_code", "duration_s", "phase", "step"} <= set(command)


def test_logs_filter_by_agent_phase_and_time(
    haymaker_cli: Cli, host: HostHandle, finished_run: str
):
    def events(*options: str) -> list[dict[str, Any]]:
        result = haymaker_cli(
            "run", "logs", finished_run, "--json", *options, "--url", host.base_url
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    everything = events()
    cleanup = events("--agent", "a01", "--phase", "cleanup")
    assert cleanup and {(e["agent_id"], e["phase"]) for e in cleanup} == {("a01", "cleanup")}
    assert len(cleanup) == sum(
        1 for e in everything if e["agent_id"] == "a01" and e.get("phase") == "cleanup"
    )
    middle = sorted(e["ts"] for e in everything)[len(everything) // 2]
    later = events("--since", str(middle))
    assert later and all(e["ts"] >= middle for e in later) and len(later) < len(everything)
    assert len(events("--since", "PT1H")) == len(everything)


def test_logs_with_nothing_to_show_say_so_on_stderr_only(
    haymaker_cli: Cli, host: HostHandle, finished_run: str
):
    later = haymaker_cli(
        "run", "logs", finished_run, "--since", "2999-01-01T00:00:00Z", "--url", host.base_url
    )
    assert later.returncode == 0 and later.stdout == "", later.stderr
    assert later.stderr == (
        f"No events of run {finished_run} (since 2999-01-01T00:00:00.000Z); the run is completed.\n"
    )
    as_json = haymaker_cli(
        "run",
        "logs",
        finished_run,
        "--json",
        "--since",
        "2999-01-01T00:00:00Z",
        "--url",
        host.base_url,
    )
    assert (as_json.returncode, as_json.stdout, as_json.stderr) == (0, "", "")


def test_an_unknown_agent_is_an_error_naming_the_agents(
    haymaker_cli: Cli, host: HostHandle, finished_run: str
):
    result = haymaker_cli("run", "logs", finished_run, "--agent", "a99", "--url", host.base_url)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"haymaker: error: run logs failed: HTTP 404: run '{finished_run}' has no agent 'a99'; "
        "its agents: a00, a01 (field: agent)\n"
    )
    typo = haymaker_cli("run", "resources", finished_run, "--agent", "a0l", "--url", host.base_url)
    assert typo.returncode == 1 and "(did you mean 'a01' or 'a00'?)" in typo.stderr


def test_logs_into_a_closed_pipe_end_quietly(host: HostHandle, finished_run: str):
    # The reader is gone before the first line is written: what `| head -1` does at once.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run(
            [sys.executable, "-m", "haymaker", "run", "logs", finished_run, "--url", host.base_url],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (process.returncode, process.stderr) == (0, "")


def test_a_closed_pipe_keeps_the_commands_exit_code(haymaker_cli: Cli, host: HostHandle):
    """rich's own answer to a broken pipe was SystemExit(1): a run that started said it had
    not, to a pipefail script that would then start it again."""
    run_id = "pipe-" + uuid.uuid4().hex[:10]
    started = into_closed_pipe(
        "run",
        "start",
        "--count",
        "1",
        "--duration",
        "PT30M",
        "--run-id",
        run_id,
        "--url",
        host.base_url,
    )
    assert (started.returncode, started.stderr) == (0, "")
    assert wait_finished(haymaker_cli, host, run_id)["status"] == "completed"
    shown = into_closed_pipe("scenarios", "show", "compute-linux-vm", "--url", host.base_url)
    assert (shown.returncode, shown.stderr) == (0, "")
    missing = into_closed_pipe("run", "report", "no-such-run", "--url", host.base_url)
    assert missing.returncode == 1 and missing.stderr.startswith("haymaker: error: run report")


def test_a_list_cut_at_its_limit_says_there_are_more(haymaker_cli: Cli, host: HostHandle):
    for _ in range(2):
        start_run(haymaker_cli, host, "--count", "1", "--duration", "PT5M", "--poll", "PT1M")
    one = haymaker_cli("run", "list", "--limit", "1", "--url", host.base_url)
    assert one.returncode == 0, one.stderr
    assert len(one.stdout.splitlines()) == 3  # title, header, one run
    assert one.stderr == "1 runs shown; there are more: --limit 2 or --all\n"
    cut = as_json(haymaker_cli("run", "list", "--limit", "1", "--json", "--url", host.base_url))
    assert len(cut["runs"]) == 1 and cut["continuation"]
    every = haymaker_cli("run", "list", "--all", "--json", "--url", host.base_url)
    listed = as_json(every)
    assert len(listed["runs"]) >= 2 and listed["continuation"] is None and every.stderr == ""
    # A limit as large as the list shows the same runs, in the same order.
    paged = haymaker_cli(
        "run", "list", "--limit", str(len(listed["runs"])), "--json", "--url", host.base_url
    )
    assert [r["run_id"] for r in as_json(paged)["runs"]] == [r["run_id"] for r in listed["runs"]]


def test_wait_in_a_pipe_prints_a_line_per_change(haymaker_cli: Cli, host: HostHandle):
    result = haymaker_cli(
        "run", "start", "--count", "2", "--duration", "PT1H", "--wait", "--url", host.base_url
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split()[1]
    progress = [line for line in result.stdout.splitlines() if line.startswith(f"Run {run_id}: ")]
    # Several states, each once, each with the clock: printed as the run went, not at its end.
    assert len(progress) >= 2 and len(set(progress)) == len(progress)
    # (A run not started yet has no clock of its own to show.)
    assert all("elapsed " in line for line in progress if f"{run_id}: pending " not in line)
    assert all("remaining " in line for line in progress if "running" in line)
    assert progress[-1].startswith(f"Run {run_id}: completed  [2 done]")
    before_report = result.stdout.split("Report for run")[0]
    assert "━" not in before_report and "\x1b[" not in result.stdout  # no bars, no cursor moves


def test_json_shows_keys_only_when_asked(haymaker_cli: Cli, host: HostHandle):
    # Half-hour runs, not the default eight: what is shown is the point, and each run is
    # followed to its end (every operate round of its agent costs real time).
    start = ("run", "start", "--count", "1", "--duration", "PT30M", "--url", host.base_url)
    masked = as_json(haymaker_cli(*start, "--json"))
    assert "code=***" in masked["statusQueryGetUri"]
    shown = as_json(haymaker_cli(*start, "--json", "--show-keys"))
    assert f"code={host.system_key}" in shown["statusQueryGetUri"]
    assert requests.get(shown["statusQueryGetUri"], timeout=30).status_code in (200, 202)
    on_screen = haymaker_cli(*start)
    assert "code=***" in on_screen.stdout and host.system_key not in on_screen.stdout
    for run in (masked, shown):
        wait_finished(haymaker_cli, host, run["run_id"])
    wait_finished(haymaker_cli, host, on_screen.stdout.split()[1])


def test_report_of_a_cleanly_canceled_run_exits_0(haymaker_cli: Cli, host: HostHandle):
    run_id = start_run(haymaker_cli, host, "--count", "1", "--duration", "PT8H")
    assert haymaker_cli("run", "cancel", run_id, "--url", host.base_url).returncode == 0
    assert wait_finished(haymaker_cli, host, run_id)["status"] == "canceled"
    report = haymaker_cli("run", "report", run_id, "--url", host.base_url)
    assert report.returncode == 0, report.stdout + report.stderr
    assert f"Report for run {run_id}: canceled" in report.stdout


def test_health_details_read_as_words(haymaker_cli: Cli, host: HostHandle):
    result = haymaker_cli("orch", "health", "--deep", "--url", host.base_url)
    assert result.returncode == 0, result.stderr
    assert "state_dir ok" in result.stdout and "agent_program ok" in result.stdout
    assert "{'" not in result.stdout and "[{" not in result.stdout


def test_typos_get_a_did_you_mean(haymaker_cli: Cli, host: HostHandle):
    command = haymaker_cli("rnu", "list")
    assert (
        command.returncode == 2 and "invalid choice: 'rnu' (did you mean 'run'?)" in command.stderr
    )
    action = haymaker_cli("run", "lsit")
    assert action.returncode == 2 and "(did you mean 'list'?)" in action.stderr
    scenario = haymaker_cli("scenarios", "show", "compute-linux-wm", "--url", host.base_url)
    assert scenario.returncode == 1 and "(did you mean 'compute-linux-vm'?)" in scenario.stderr
    start = haymaker_cli("run", "start", "--scenario", "compute-linux-wm", "--url", host.base_url)
    assert start.returncode == 1 and "(did you mean 'compute-linux-vm'?)" in start.stderr


def test_a_url_without_a_scheme_is_a_usage_error(haymaker_cli: Cli):
    result = haymaker_cli("run", "list", "--url", "haymaker.example.com", "--key", "k")
    assert result.returncode == 2
    assert result.stderr == (
        "haymaker: error: the URL 'haymaker.example.com' needs a scheme and a host, e.g. "
        "https://haymaker.example.com (or http://127.0.0.1:7071 for a local devhost)\n"
    )


def test_lists_in_a_pipe_are_words_a_script_can_split(
    haymaker_cli: Cli, host: HostHandle, finished_run: str
):
    listed = haymaker_cli("run", "list", "--url", host.base_url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[1].split() == ["run", "status", "agents", "created"]
    assert [finished_run, "completed", "2"] == next(
        line.split()[:3] for line in lines[2:] if line.startswith(finished_run)
    )
    scenarios = haymaker_cli("scenarios", "list", "--url", host.base_url).stdout
    for text in (listed.stdout, scenarios):
        assert not set(text) & set("┏━┃│└┡"), text  # no box drawing in a pipe
        assert all(line == line.rstrip() for line in text.splitlines())


def test_a_run_id_no_run_can_have_is_refused_before_any_request(haymaker_cli: Cli):
    # Port 9 answers nothing: a request would fail with "cannot reach", exit 1.
    for bad in ("Δ/x", "../admin", "RUN-Upper", "a?b"):
        result = haymaker_cli("run", "report", bad, "--url", "http://127.0.0.1:9", "--key", "k")
        assert result.returncode == 2, result.stderr
        assert f"argument RUN_ID: {bad!r} is not a run id" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_system_python_without_the_packages_says_how_to_run_it():
    # -S: no site-packages, as with a Python that never had the project installed.
    result = subprocess.run(
        [sys.executable, "-S", "-m", "haymaker", "run", "list"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("haymaker: error: ") and "./dev haymaker" in result.stderr


def test_dev_help_exits_0_and_an_unknown_command_2():
    shown = subprocess.run(["bash", "dev", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert shown.returncode == 0 and "./dev haymaker" in shown.stdout
    unknown = subprocess.run(["bash", "dev", "nope"], capture_output=True, text=True, cwd=ROOT)
    assert unknown.returncode == 2 and "unknown command 'nope'" in unknown.stderr


def test_version_prints_the_packages_version_and_exits_0():
    shown = subprocess.run(
        [sys.executable, "-m", "haymaker", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert shown.returncode == 0 and shown.stdout == f"haymaker {declared}\n", shown
