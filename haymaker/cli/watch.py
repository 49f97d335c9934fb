"""`run status --watch`: one progress bar per agent through provision -> monitor -> teardown.

Polls GET /api/runs/{id} until the run finishes. Time comes from the host's clock
(devhost's may be virtual) when the host offers /admin/host/clock, else from this
machine. Agent errors are printed above the bars as they appear.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from haymaker.api_client import ApiError
from haymaker.cli.output import console
from haymaker.cli.target import Target
from haymaker.naming import parse_iso_utc

FINISHED = ("completed", "failed", "canceled")
STEPS = {"provisioning": 1, "monitoring": 2, "tearing_down": 3, "done": 4, "failed": 4}


def _hours(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def host_now(target: Target) -> datetime:
    try:
        return parse_iso_utc(target.admin.get("admin/host/clock")["now"])
    except (ApiError, OSError, KeyError, ValueError):
        return datetime.now(UTC)


def headline(run: dict[str, Any], now: datetime) -> str:
    phases = run.get("phases", {})
    counts = ", ".join(f"{n} {p}" for p, n in sorted(phases.items())) or "no agents yet"
    timing = ""
    if run.get("started_at") and run.get("deadline"):
        elapsed = (now - parse_iso_utc(run["started_at"])).total_seconds()
        remaining = (parse_iso_utc(run["deadline"]) - now).total_seconds()
        timing = f"  elapsed {_hours(elapsed)}, remaining {_hours(remaining)}"
    return f"Run {run.get('run_id')}: {run.get('status')}  ({counts}){timing}"


class AgentBars:
    """A rich Progress with one task per agent, its bar at the agent's phase."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.fields[agent]:<4}"),
            TextColumn("{task.fields[scenario]:<32}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[phase]:<13} {task.fields[outcome]}"),
            auto_refresh=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.errors: dict[str, str] = {}

    def update(self, run: dict[str, Any]) -> list[str]:
        """Move the bars; return the agent errors not reported before."""
        new_errors = []
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
            self.progress.update(self.tasks[agent_id], completed=STEPS.get(phase, 0), **fields)
            error = agent.get("error")
            if error and self.errors.get(agent_id) != error:
                self.errors[agent_id] = str(error)
                new_errors.append(f"{agent_id}: {error}")
        return new_errors


def watch_run(
    target: Target, run_id: str, live: bool = True, interval: float = 1.0
) -> dict[str, Any]:
    """Follow the run until it finishes; return its last state."""
    bars = AgentBars()
    out = console()
    run = target.api.get(f"runs/{run_id}")
    if not live:
        while run.get("status") not in FINISHED:
            time.sleep(interval)
            run = target.api.get(f"runs/{run_id}")
        return dict(run)
    title = Text(headline(run, host_now(target)))
    with Live(Group(title, bars.progress), console=out, refresh_per_second=4) as view:
        while True:
            for error in bars.update(run):
                out.print(Text(f"error: {error}", style="red"))
            title.plain = headline(run, host_now(target))
            view.refresh()
            if run.get("status") in FINISHED:
                break
            time.sleep(interval)
            run = target.api.get(f"runs/{run_id}")
    if not out.is_terminal:
        out.print()  # Live leaves its last line open when the output is not a terminal
    return dict(run)
