"""A run's final report as a table (terminal) or Markdown (for an issue or a wiki)."""

from __future__ import annotations

from typing import Any

from haymaker.cli.output import table
from haymaker.progress import told

COLUMNS = ("agent", "scenario", "outcome", "rounds", "commands", "failed", "torn down")


def _rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    return [
        (
            str(r.get("agent_id")),
            str(r.get("scenario_id")),
            str(r.get("outcome")),
            told(r.get("rounds")),
            told(r.get("commands")),
            told(r.get("commands_failed")),
            "yes" if r.get("clean") else "NO",
        )
        for r in report.get("agent_results", [])
    ]


def summary_lines(report: dict[str, Any]) -> list[str]:
    left = report.get("left") or []
    return [
        f"Report for run {report.get('run_id')}: {report.get('status')}",
        f"agents {report.get('agents')}, torn down {report.get('torn_down')}, "
        f"left behind {report.get('left_behind')}",
        f"resources created {report.get('resources_created', 0)}, "
        f"removed {report.get('resources_removed', 0)}",
        f"started {report.get('started_at')}, finished {report.get('finished_at')}, "
        f"deadline {report.get('deadline')}",
        (
            "Nothing tagged for this run is left."
            if not left
            else "Left behind: " + ", ".join(f"{i.get('kind')} {i.get('name')}" for i in left)
        ),
    ]


def markdown(report: dict[str, Any]) -> str:
    head, *rest = summary_lines(report)
    lines = [f"## {head}", "", *(f"- {line}" for line in rest), ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(report)]
    return "\n".join(lines)


def render_report(report: dict[str, Any], fmt: str) -> list[Any]:
    if fmt == "markdown":
        return [markdown(report)]
    return ["\n".join(summary_lines(report)), table(None, COLUMNS, _rows(report))]
