"""`run status --watch` and `run start --wait`: follow a run until it ends.

On a terminal: one progress bar per agent through provision -> monitor -> teardown,
redrawn in place; bars are green while healthy and red only for an agent that failed.
Anywhere else (a pipe, a CI log, `| tee`): one plain line whenever something changes
(the run's status, its agents per phase, an agent's error), with the elapsed and
remaining time, never cut to a width. Time comes from the host's clock (devhost's may
be virtual) when the host offers /admin/host/clock, else from this machine.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, Task, TaskID, TextColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

from haymaker.api_client import ApiError
from haymaker.cli.output import console, line, output_closed, writing
from haymaker.cli.target import Target
from haymaker.naming import parse_iso_utc
from haymaker.progress import run_timing

FINISHED = ("completed", "cut_short", "failed", "canceled")
STEPS = {"provisioning": 1, "monitoring": 2, "tearing_down": 3, "done": 4, "failed": 4}
PHASE_ORDER = ("provisioning", "monitoring", "tearing_down", "done", "failed")
HEALTHY_BAR = "green"
FAILED_BAR = "red"


def host_now(target: Target) -> datetime:
    try:
        return parse_iso_utc(target.admin.get("admin/host/clock")["now"])
    except (ApiError, OSError, KeyError, ValueError):
        return datetime.now(UTC)


def phase_counts(run: dict[str, Any]) -> str:
    phases = run.get("phases", {})
    order = sorted(phases, key=lambda p: PHASE_ORDER.index(p) if p in PHASE_ORDER else 9)
    return ", ".join(f"{phases[p]} {p}" for p in order) or "no agents yet"


def headline(run: dict[str, Any], now: datetime) -> str:
    timing = run_timing(run, now)
    return f"Run {run.get('run_id')}: {run.get('status')}  [{phase_counts(run)}]{timing}"


def _failed(agent: dict[str, Any]) -> bool:
    return agent.get("phase") == "failed"


class PhaseBar(BarColumn):
    """Green for a healthy agent (rich's default bar is red-pink), red for a failed one."""

    def render(self, task: Task) -> ProgressBar:
        bar = super().render(task)
        if task.fields.get("failed"):
            bar.complete_style = bar.finished_style = FAILED_BAR
        return bar


class AgentBars:
    """A rich Progress with one task per agent, its bar at the agent's phase."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.fields[agent]:<4}"),
            TextColumn("{task.fields[scenario]:<32}"),
            PhaseBar(bar_width=24, complete_style=HEALTHY_BAR, finished_style=HEALTHY_BAR),
            TextColumn("{task.fields[phase]:<13} {task.fields[outcome]}"),
            auto_refresh=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.errors = AgentErrors()

    def update(self, run: dict[str, Any]) -> list[str]:
        """Move the bars; return the agent errors not reported before."""
        for agent in run.get("agents", []):
            agent_id = str(agent.get("agent_id"))
            phase = str(agent.get("phase", "provisioning"))
            done = phase in ("done", "failed")
            fields: dict[str, Any] = {
                "agent": agent_id,
                "scenario": str(agent.get("scenario_id", "")),
                "phase": phase,
                "outcome": str(agent.get("status", "")) if done else "",
            }
            if agent_id not in self.tasks:
                self.tasks[agent_id] = self.progress.add_task("", total=4, **fields)
            self.progress.update(
                self.tasks[agent_id], completed=STEPS.get(phase, 0), failed=_failed(agent), **fields
            )
        return self.errors.new(run)


class AgentErrors:
    """Agent errors, each reported once (until it changes)."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def new(self, run: dict[str, Any]) -> list[str]:
        fresh = []
        for agent in run.get("agents", []):
            agent_id, error = str(agent.get("agent_id")), agent.get("error")
            if error and self.seen.get(agent_id) != error:
                self.seen[agent_id] = str(error)
                fresh.append(f"{agent_id}: {error}")
        return fresh


def watch_run(
    target: Target, run_id: str, live: bool = True, interval: float = 1.0
) -> dict[str, Any]:
    """Follow the run until it finishes; return its last state.

    `live` False prints nothing (--json); otherwise bars on a terminal, lines elsewhere.
    """
    run = target.api.get(f"runs/{run_id}")
    if not live:
        while run.get("status") not in FINISHED:
            time.sleep(interval)
            run = target.api.get(f"runs/{run_id}")
        return dict(run)
    if not sys.stdout.isatty():
        return _follow_in_lines(target, run_id, run, interval)
    return _follow_with_bars(target, run_id, run, interval)


def _follow_in_lines(
    target: Target, run_id: str, run: dict[str, Any], interval: float
) -> dict[str, Any]:
    errors = AgentErrors()
    last: tuple[Any, ...] = ()
    while True:
        state = (run.get("status"), tuple(sorted(run.get("phases", {}).items())))
        if state != last:
            last = state
            line(headline(run, host_now(target)))
        for error in errors.new(run):
            line(f"error: {error}")
        if run.get("status") in FINISHED:
            for agent in run.get("agents", []):
                line(
                    f"  {agent.get('agent_id', ''):<4} {agent.get('phase', ''):<13} "
                    f"{agent.get('status') or '':<18} {agent.get('scenario_id', '')}"
                )
            return dict(run)
        if output_closed():  # nobody reads on (`| head`): stop following
            return dict(run)
        time.sleep(interval)
        run = target.api.get(f"runs/{run_id}")


def _follow_with_bars(
    target: Target, run_id: str, run: dict[str, Any], interval: float
) -> dict[str, Any]:
    bars = AgentBars()
    out = console()
    title = Text(headline(run, host_now(target)))
    with writing(), Live(Group(title, bars.progress), console=out, refresh_per_second=4) as view:
        while True:
            for error in bars.update(run):
                out.print(Text(f"error: {error}", style="red"))
            title.plain = headline(run, host_now(target))
            view.refresh()
            if run.get("status") in FINISHED:
                break
            time.sleep(interval)
            run = target.api.get(f"runs/{run_id}")
    return dict(run)
