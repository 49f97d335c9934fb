"""Run-level steps: open a run, report its progress, close it with a report."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from haymaker import naming
from haymaker.events import create_events_queue, delete_events_queue
from haymaker.service import services


def _now() -> str:
    return naming.iso_utc(datetime.now(UTC))


def begin_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Mark the run running, list its agents, and create the queue agents report to."""
    svc = services()
    run_id = payload["run_id"]
    queue = create_events_queue(svc.settings.storage, run_id)
    for agent in payload["agents"]:
        svc.records.upsert_agent(
            run_id,
            agent["agent_id"],
            scenario_id=agent["scenario_id"],
            phase="provisioning",
            status="pending",
        )
    svc.records.update_run(
        run_id, status="running", started_at=_now(), deadline=payload["deadline"]
    )
    return {"events_queue": queue}


def run_progress(payload: dict[str, Any]) -> dict[str, int]:
    """Agents per phase, for the run's custom status."""
    agents = services().records.list_agents(payload["run_id"])
    return dict(Counter(str(a.get("phase", "provisioning")) for a in agents))


def finalize_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Write the run's report and final status; return the report's summary."""
    svc = services()
    run_id = payload["run_id"]
    results: list[dict[str, Any]] = payload["results"]
    resources = svc.records.list_resources(run_id)
    actions = Counter(str(r.get("action")) for r in resources)
    left = [item for result in results for item in result.get("left", [])]
    outcomes = Counter(str(result.get("outcome")) for result in results)
    torn_down = sum(1 for result in results if result.get("clean"))
    run = svc.records.get_run(run_id) or {}
    finished_at = _now()
    status = payload["status"]
    summary = {
        "run_id": run_id,
        "status": status,
        "agents": len(results),
        "torn_down": torn_down,
        "left_behind": len(left),
        "outcomes": dict(outcomes),
        "resources_created": actions["created"] + actions["removed"] + actions["left"],
        "resources_removed": actions["removed"],
    }
    report = {
        **summary,
        "created_at": run.get("created_at"),
        "started_at": run.get("started_at"),
        "finished_at": finished_at,
        "deadline": run.get("deadline"),
        "agent_results": results,
        "left": left,
    }
    svc.records.save_report(run_id, report)
    if not left:
        delete_events_queue(svc.settings.storage, run_id)
    svc.records.update_run(
        run_id,
        status=status,
        finished_at=finished_at,
        agents_torn_down=torn_down,
        left_behind=len(left),
    )
    return summary
