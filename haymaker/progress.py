"""Terminal views of a run: live progress per agent, and the final report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

from haymaker.naming import parse_iso_utc

PHASE_STEPS = {"provisioning": 1, "monitoring": 2, "tearing_down": 3, "done": 4, "failed": 4}
BAR_WIDTH = 24


def _hours(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def agent_line(agent: dict[str, Any]) -> str:
    phase = str(agent.get("phase", "provisioning"))
    filled = BAR_WIDTH * PHASE_STEPS.get(phase, 0) // 4
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    outcome = f" {agent['status']}" if phase in ("done", "failed") and agent.get("status") else ""
    error = f"  ! {str(agent['error'])[:60]}" if agent.get("error") else ""
    scenario = agent.get("scenario_id", "")
    return f"  {agent['agent_id']:<4} [{bar}] {phase:<13}{outcome:<16} {scenario}{error}"


def run_timing(run: dict[str, Any], now: datetime) -> str:
    """`  elapsed 0h15m, remaining 7h44m` on the run's clock; a finished run's elapsed time
    ends when it finished, with nothing remaining (not the minutes its deadline was away).
    Nothing for a run not started yet: its creation time is the wall clock's, which a
    virtual clock may be hours ahead of (a pending run said `elapsed 7h57m`)."""
    began = run.get("started_at")
    if not began:
        return ""
    if run.get("finished_at"):
        took = parse_iso_utc(run["finished_at"]) - parse_iso_utc(began)
        return f"  elapsed {_hours(took.total_seconds())}"
    timing = f"  elapsed {_hours((now - parse_iso_utc(began)).total_seconds())}"
    if run.get("deadline"):
        timing += f", remaining {_hours((parse_iso_utc(run['deadline']) - now).total_seconds())}"
    return timing


def summary_line(run: dict[str, Any], clock_now: str) -> str:
    phases = run.get("phases", {})
    counts = ", ".join(f"{n} {p}" for p, n in sorted(phases.items()))
    timing = run_timing(run, parse_iso_utc(clock_now))
    return f"Run {run.get('run_id')}: {run.get('status')}  [{counts}]{timing}"


class ProgressView:
    """Redraws in place on a terminal; elsewhere prints a line whenever something changes."""

    def __init__(self, out: TextIO):
        self.out = out
        self.tty = out.isatty()
        self.drawn = 0
        self.last: tuple[Any, ...] = ()

    def update(self, run: dict[str, Any], clock_now: str) -> None:
        agents = run.get("agents", [])
        if self.tty:
            lines = [summary_line(run, clock_now), *(agent_line(a) for a in agents)]
            if self.drawn:
                self.out.write(f"\x1b[{self.drawn}F")
            for line in lines:
                self.out.write("\x1b[2K" + line + "\n")
            self.drawn = len(lines)
            self.out.flush()
            return
        state = (run.get("status"), tuple(sorted(run.get("phases", {}).items())))
        if state != self.last:
            self.last = state
            print(summary_line(run, clock_now), file=self.out, flush=True)

    def finish(self) -> None:
        self.drawn = 0


def told(value: Any) -> str:
    """A count an agent told (operate rounds, commands, failed commands: with each
    heartbeat, then with its last event); `-` when it told none."""
    return "-" if value is None else str(value)


def render_report(
    report: dict[str, Any], left: list[dict[str, Any]], wall_seconds: float, resumed: bool = False
) -> str:
    """The report `./dev run` prints; `wall_seconds` is how long it followed the run
    (`resumed`: only since it resumed a run an earlier host left unfinished)."""
    wall = f"wall time {wall_seconds:.1f}s{' since resumed' if resumed else ''}"
    lines = [
        "",
        f"Report for run {report['run_id']}: {report['status']}",
        f"  agents {report['agents']}, torn down {report['torn_down']}, "
        f"left behind {report['left_behind']}",
        f"  resources created {report.get('resources_created', 0)}, "
        f"removed {report.get('resources_removed', 0)}",
        f"  deadline {report.get('deadline')}; {wall}",
        "",
    ]
    results = report.get("agent_results", [])
    # Columns as wide as their longest value, so a long scenario id never runs into the
    # outcome beside it.
    scenario_width = max([len("scenario"), *(len(r["scenario_id"]) for r in results)]) + 2
    lines.append(
        f"  {'agent':<6}{'scenario':<{scenario_width}}{'outcome':<18}"
        f"{'rounds':>6}{'commands':>10}{'failed':>8}  torn down"
    )
    for result in results:
        lines.append(
            f"  {result['agent_id']:<6}{result['scenario_id']:<{scenario_width}}"
            f"{str(result['outcome']):<18}{told(result.get('rounds')):>6}"
            f"{told(result.get('commands')):>10}{told(result.get('commands_failed')):>8}"
            f"  {'yes' if result['clean'] else 'NO'}"
        )
    lines.append("")
    if left:
        lines.append(f"  Still tagged for this run: {len(left)}")
        lines.extend(f"    {item['kind']} {item['name']}" for item in left)
    else:
        lines.append("  Nothing tagged for this run is left.")
    return "\n".join(lines)
