"""How the CLI draws things, checked on the rendered text: no host needed."""

from __future__ import annotations

import argparse
import io

from rich.console import Console

from haymaker.cli.logs import event_line, nothing_yet, since_time
from haymaker.cli.orch import detail_text
from haymaker.cli.output import show, table
from haymaker.cli.watch import AgentBars, headline
from haymaker.naming import parse_iso_utc
from haymaker.progress import summary_line

RED = "\x1b[31m"
GREEN = "\x1b[32m"


def render_bars(agents: list[dict[str, str]]) -> str:
    bars = AgentBars()
    bars.update({"agents": agents})
    out = io.StringIO()
    Console(file=out, force_terminal=True, color_system="standard", width=120).print(bars.progress)
    return out.getvalue()


def test_healthy_bars_are_green_and_only_a_failed_agent_is_red():
    healthy = render_bars(
        [
            {"agent_id": "a00", "scenario_id": "s", "phase": "monitoring"},
            {"agent_id": "a01", "scenario_id": "s", "phase": "done", "status": "finished"},
        ]
    )
    assert GREEN in healthy and RED not in healthy
    failed = render_bars([{"agent_id": "a00", "scenario_id": "s", "phase": "failed"}])
    assert RED in failed


def test_a_log_line_names_the_command_its_exit_code_and_duration():
    command = {
        "ts": "2026-11-26T12:00:00.000Z",
        "agent_id": "a01",
        "type": "command",
        "phase": "deploy",
        "step": "create-vnet",
        "command": "az network vnet create -n v",
        "exit_code": 3,
        "duration_s": 1.5,
    }
    assert event_line(command) == (
        "2026-11-26T12:00:00.000Z  a01  deploy   command          "
        "create-vnet: az network vnet create -n v -> exit 3 in 1.50s"
    )
    acted_out = {**command, "exit_code": 0, "acted_out": True}
    assert event_line(acted_out).endswith(
        "create-vnet: az network vnet create -n v -> acted out locally, exit 0 in 1.50s"
    )
    created = {
        "ts": "t",
        "agent_id": "a01",
        "type": "resource_created",
        "kind": "vnet",
        "name": "v",
    }
    assert event_line(created).endswith("resource_created vnet v")


def test_since_takes_a_time_or_a_duration_back():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert since_time("PT10M", now) == "2026-11-26T11:50:00.000Z"
    assert since_time("2026-11-26T10:00:00+01:00") == "2026-11-26T09:00:00.000Z"


def test_no_logs_yet_says_when_events_arrive_and_filters_that_matched_nothing_say_so():
    asked = argparse.Namespace(run_id="run-1", agent=None, phase=None)
    running = {"status": "running", "request": {"poll_interval": "PT15M"}}
    assert nothing_yet(asked, None, running) == (
        "No events of run run-1 yet: the run is running, and its agents' events are "
        "recorded at each monitoring poll, every PT15M."
    )
    filtered = argparse.Namespace(run_id="run-1", agent="a02", phase="deploy")
    assert nothing_yet(filtered, "2026-12-03T18:00:00.000Z", {"status": "completed"}) == (
        "No events of run run-1 (agent a02, phase deploy, since 2026-12-03T18:00:00.000Z); "
        "the run is completed."
    )


def test_health_details_are_words_not_python():
    provider = [{"name": "state_dir", "ok": True}, {"name": "storage", "ok": False, "detail": "x"}]
    assert detail_text(provider) == "state_dir ok\nstorage FAILED: x"
    assert detail_text(["a: bad", "b: worse"]) == "a: bad\nb: worse"
    assert detail_text(12) == "12"


def test_an_error_answer_reads_as_words_whatever_its_body():
    from haymaker.api_client import ApiError

    assert str(ApiError(401, None)) == "HTTP 401: Unauthorized"  # Azure's empty 401
    assert str(ApiError(401, {"Message": "Admin APIs need the master key."})) == (
        "HTTP 401: Admin APIs need the master key."
    )
    api = {"error": {"code": "not_found", "message": "no run", "field": "run_id"}}
    assert str(ApiError(404, api)) == "HTTP 404: no run (field: run_id)"
    assert str(ApiError(502, "<html>" + "x" * 400)) == "HTTP 502: Bad Gateway"


def test_a_table_in_a_pipe_is_plain_columns_under_a_header(capsys):
    # Under pytest stdout is not a terminal: what `haymaker run list | awk ...` receives.
    rows = [("run-1", "completed"), ("run-22", None), ("run-3", "failed:\n  boom")]
    show(table("Runs", ("run", "status"), rows))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Runs",
        "run     status",
        "run-1   completed",
        "run-22",
        "run-3   failed: boom",
    ]


def test_an_empty_table_says_none_instead_of_a_bare_header(capsys):
    show(table("Runs, newest first", ("run", "status"), []))
    assert capsys.readouterr().out == "Runs, newest first: none\n"


def test_a_finished_run_says_how_long_it_took_and_nothing_remaining():
    run = {
        "run_id": "run-1",
        "status": "running",
        "phases": {"monitoring": 2},
        "started_at": "2026-12-02T01:00:00Z",
        "deadline": "2026-12-02T09:00:00Z",
    }
    now = "2026-12-02T01:15:00Z"
    running = summary_line(run, now)
    assert running.endswith("elapsed 0h15m, remaining 7h45m")
    assert headline(run, parse_iso_utc(now)).endswith("elapsed 0h15m, remaining 7h45m")
    # Looked at after it finished early (a cancel at 2h10m): not 'remaining 0h01m'.
    finished = {**run, "status": "canceled", "finished_at": "2026-12-02T03:10:00Z"}
    later = "2026-12-02T08:59:00Z"
    assert summary_line(finished, later).endswith("canceled  [2 monitoring]  elapsed 2h10m")
    assert headline(finished, parse_iso_utc(later)).endswith("elapsed 2h10m")


def test_a_run_not_started_yet_says_no_time_elapsed():
    """Created on the wall clock, looked at on a virtual clock hours ahead (a folder's host
    keeps its clock from run to run): no `elapsed 7h57m` for a run that has not begun."""
    pending = {"run_id": "run-1", "status": "pending", "phases": {}}
    pending["created_at"] = "2026-12-02T01:00:00Z"
    assert summary_line(pending, "2026-12-02T08:57:00Z") == "Run run-1: pending  []"
    assert headline(pending, parse_iso_utc("2026-12-02T08:57:00Z")).endswith("[no agents yet]")


def test_every_command_the_parser_offers_has_a_handler_that_loads():
    """Handlers are named as text and imported when their command runs, so a misspelt one
    would only fail when a user typed that command."""
    import argparse

    from haymaker.cli import LOCAL, REMOTE, _handler
    from haymaker.cli.parser import build_parser

    def commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
        found: set[str] = set()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    inner = commands(sub, f"{prefix}{name} ")
                    found |= inner or {f"{prefix}{name}"}
        return found

    offered = commands(build_parser()) - {"local-run"}
    assert offered == set(REMOTE) | set(LOCAL)
    for where in [*REMOTE.values(), *LOCAL.values()]:
        assert callable(_handler(where)), where


def test_status_shows_start_and_deadline_on_the_runs_clock_and_creation_only_until_then():
    from haymaker.cli.runs import status_view

    started = {
        "run_id": "run-1",
        "status": "running",
        "created_at": "2026-12-03T22:50:00Z",  # wall clock
        "started_at": "2026-12-04T18:25:14Z",  # the run's (virtual) clock
        "deadline": "2026-12-05T02:25:14Z",
    }
    assert status_view(started)[0].splitlines()[1] == (
        "started 2026-12-04T18:25:14Z, deadline 2026-12-05T02:25:14Z"
    )
    pending = {"run_id": "run-1", "status": "pending", "created_at": "2026-12-03T22:50:00Z"}
    assert status_view(pending)[0].splitlines()[1] == "created 2026-12-03T22:50:00Z"
