"""`haymaker metrics [--since P7D]`: fleet figures over a window (GET /api/metrics)."""

from __future__ import annotations

import argparse
from typing import Any

from haymaker.cli.output import EXIT_OK, print_json, show, table
from haymaker.cli.parser import iso
from haymaker.cli.target import Target


def _seconds(summary: dict[str, Any]) -> str:
    if not summary.get("count"):
        return "-"
    return f"p50 {summary['p50_s']}s, p95 {summary['p95_s']}s (of {summary['count']})"


def metrics_view(m: dict[str, Any]) -> list[Any]:
    runs, resources, cost = m["runs"], m["resources"], m["cost"]
    by_status = ", ".join(f"{n} {s}" for s, n in sorted(runs["by_status"].items())) or "none"
    estimate = "-" if cost["estimated_usd"] is None else f"${cost['estimated_usd']:.2f}"
    if cost["runs_without_estimate"]:
        estimate += f" ({cost['runs_without_estimate']} run(s) without an estimate)"
    summary = "\n".join(
        [
            f"Runs created {m['since']} to {m['until']}: {runs['total']} ({by_status})",
            f"provisioning: {_seconds(m['durations']['provisioning'])}",
            f"teardown:     {_seconds(m['durations']['teardown'])}",
            f"resources: {resources['created']} created, {resources['removed']} removed, "
            f"{resources['left']} left",
            f"estimated cost: {estimate}",
        ]
    )
    outcomes = sorted({o for counts in m["agents"]["by_scenario"].values() for o in counts})
    agents = table(
        f"Agents by outcome ({m['agents']['total']})",
        ("scenario", *outcomes),
        (
            (scenario, *(counts.get(o, 0) for o in outcomes))
            for scenario, counts in m["agents"]["by_scenario"].items()
        ),
    )
    failures = table(
        "Failures by step",
        ("source", "phase", "step", "count"),
        ((f["source"], f["phase"], f["step"], f["count"]) for f in m["failures_by_step"]),
    )
    return [summary, agents, failures]


def metrics(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.get("metrics", since=iso(args.since))
    if args.json:
        print_json(answer)
    else:
        show(*metrics_view(answer))
    return EXIT_OK
