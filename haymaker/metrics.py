"""Fleet figures over a window, computed from the run records (Azure Tables) alone.

For the runs created in the window: runs by status; agents by outcome per scenario;
provisioning and teardown durations (p50/p95, from the phase times agents' records
carry); resources created, removed and left; failures by step (the agents' own failed
steps from their events, and the orchestrator's steps from the agents' records); and the
estimated cost (haymaker.costs). There is no second store: every figure is recomputed
from the records when asked, so it can never disagree with them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from haymaker.catalog import Catalog
from haymaker.costs import run_cost_usd
from haymaker.naming import iso_utc, parse_iso_utc
from haymaker.records import RunRecords

# Orchestrator steps whose failures an agent's record names as `step: why`.
ORCHESTRATOR_STEPS = ("stop_agent", "remove_resources", "remove_identity", "verify_teardown")
FINAL_PHASES = ("done", "failed")


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that was observed, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def duration_summary(seconds: list[float]) -> dict[str, Any]:
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    return {
        "count": len(seconds),
        "p50_s": None if p50 is None else round(p50, 3),
        "p95_s": None if p95 is None else round(p95, 3),
    }


def _between(agent: dict[str, Any], start: str, end: str) -> float | None:
    if not agent.get(start) or not agent.get(end):
        return None
    return (parse_iso_utc(agent[end]) - parse_iso_utc(agent[start])).total_seconds()


def agent_outcome(agent: dict[str, Any]) -> str:
    """A finished agent's outcome (finished, deadline, agent_failed, ...), else its phase."""
    if agent.get("phase") in FINAL_PHASES and agent.get("status"):
        return str(agent["status"])
    return str(agent.get("phase") or "unknown")


def orchestrator_failures(agent: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(phase, step) of what the orchestrator could not do for this agent."""
    if agent.get("status") == "provision_failed":
        yield "provisioning", "provision"
    for part in str(agent.get("error") or "").split("; "):
        step = part.split(":", 1)[0]
        if step in ORCHESTRATOR_STEPS:
            yield "tearing_down", step
        elif part.startswith("monitoring failed"):
            yield "monitoring", "poll_agent"


def _all_runs(records: RunRecords, since: datetime, until: datetime) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    token = None
    while True:
        page, token = records.list_runs(
            created_from=since, created_to=until, limit=1000, continuation=token
        )
        runs.extend(page)
        if not token:
            return runs


FAILURE_EVENTS = "( type eq @error or type eq @failed )"
FAILURE_TYPES = {"error": "error", "failed": "failed"}


def resource_actions(rows: list[dict[str, Any]]) -> Counter[str]:
    """Resources created, removed and left: every row was created once; its action says
    how it ended (`created` while it still lives)."""
    actions = Counter(str(row.get("action")) for row in rows)
    return Counter(
        {"created": sum(actions.values()), "removed": actions["removed"], "left": actions["left"]}
    )


def failures_of(
    agents: list[dict[str, Any]], failure_events: list[dict[str, Any]]
) -> Counter[tuple[str, str, str]]:
    """(source, phase, step) -> failures: the agents' failed steps (their `error` and
    `failed` events) and the orchestrator's (from the agents' records)."""
    failures: Counter[tuple[str, str, str]] = Counter()
    for agent in agents:
        for phase, step in orchestrator_failures(agent):
            failures["orchestrator", phase, step] += 1
    for event in failure_events:
        step = str(event.get("step") or "(agent failed)")
        failures["agent", str(event.get("phase") or ""), step] += 1
    return failures


def run_failures(
    records: RunRecords, run_id: str, agents: list[dict[str, Any]]
) -> Counter[tuple[str, str, str]]:
    """One run's failures by step (for its telemetry at finalize_run)."""
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page, token = records.list_events(
            run_id, limit=1000, continuation=token, types=tuple(FAILURE_TYPES)
        )
        events.extend(page)
        if not token:
            return failures_of(agents, events)


def compute_metrics(
    records: RunRecords, catalog: Catalog, since: datetime, until: datetime
) -> dict[str, Any]:
    """The figures for runs created in [since, until). Four queries in all, whatever the
    number of runs: the runs, then every agent, resource and failure event written since
    the window opened (rows of runs created in it were all written after), kept if their
    run is one of those."""
    runs = _all_runs(records, since, until)
    run_ids = {run["run_id"] for run in runs}
    agents = [a for a in records.rows_since("Agents", since) if a.get("run_id") in run_ids]
    resources = [r for r in records.rows_since("Resources", since) if r.get("run_id") in run_ids]
    failure_events = [
        e
        for e in records.rows_since("Events", since, FAILURE_EVENTS, FAILURE_TYPES)
        if e["run_id"] in run_ids
    ]
    by_scenario: dict[str, Counter[str]] = defaultdict(Counter)
    provisioning: list[float] = []
    teardown: list[float] = []
    for agent in agents:
        by_scenario[str(agent.get("scenario_id"))][agent_outcome(agent)] += 1
        took = _between(agent, "provisioning_at", "monitoring_at")
        if took is not None:
            provisioning.append(took)
        took = _between(agent, "tearing_down_at", "finished_at")
        if took is not None:
            teardown.append(took)
    resource_counts = resource_actions(resources)
    failures = failures_of(agents, failure_events)
    costs = [run_cost_usd(catalog, run) for run in runs]
    known = [cost for cost in costs if cost is not None]
    return {
        "since": iso_utc(since),
        "until": iso_utc(until),
        "runs": {"total": len(runs), "by_status": dict(Counter(str(r["status"]) for r in runs))},
        "agents": {
            "total": len(agents),
            "by_scenario": {s: dict(c) for s, c in sorted(by_scenario.items())},
        },
        "durations": {
            "provisioning": duration_summary(provisioning),
            "teardown": duration_summary(teardown),
        },
        "resources": {k: resource_counts[k] for k in ("created", "removed", "left")},
        "failures_by_step": [
            {"source": source, "phase": phase, "step": step, "count": count}
            for (source, phase, step), count in failures.most_common()
        ],
        "cost": {
            "estimated_usd": round(sum(known), 2) if known else None,
            "runs_with_estimate": len(known),
            "runs_without_estimate": len(costs) - len(known),
        },
    }
