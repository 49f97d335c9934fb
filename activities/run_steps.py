"""Run-level steps: open a run, report its progress, close it with a report."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from activities.event_intake import COUNTS, record_new_events
from activities.tracing import traced
from haymaker import naming, telemetry
from haymaker.costs import run_cost_usd
from haymaker.events import create_events_queue, delete_events_queue
from haymaker.metrics import resource_actions, run_failures
from haymaker.reconcile import reconciled
from haymaker.service import services

# The run is over: drain what is left in its queue (bounded all the same).
MAX_BATCHES_AT_FINALIZE = 200
# Agent results that carry no verification of the agent's resources.
UNVERIFIED_OUTCOMES = ("not_started", "orchestration_failed")


def _now() -> str:
    return naming.iso_utc(datetime.now(UTC))


@traced(None)
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
    # The orchestration's time (histories from before it was passed: this activity's).
    started_at = payload.get("started_at") or _now()
    svc.records.update_run(
        run_id, status="running", started_at=started_at, deadline=payload["deadline"]
    )
    return {"events_queue": queue}


@traced(None)
def run_progress(payload: dict[str, Any]) -> dict[str, int]:
    """Agents per phase, for the run's custom status."""
    agents = services().records.list_agents(payload["run_id"])
    return dict(Counter(str(a.get("phase", "provisioning")) for a in agents))


@traced(None)
def finalize_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Write the run's report and final status; return the report's summary."""
    svc = services()
    run_id = payload["run_id"]
    results: list[dict[str, Any]] = payload["results"]
    # What agents said last: an agent whose orchestration failed never had its final
    # drain, and removals reported late must not leave rows saying `created`.
    record_new_events(run_id, MAX_BATCHES_AT_FINALIZE, wait=True)
    _reconcile_late_rows(run_id, results)
    resources = svc.records.list_resources(run_id)
    actions = Counter(str(r.get("action")) for r in resources)
    # Left behind is every row not removed: left at verification, or never verified.
    left = [_left_item(row) for row in resources if row.get("action") != "removed"]
    outcomes = Counter(str(result.get("outcome")) for result in results)
    torn_down = sum(1 for result in results if result.get("clean"))
    run = svc.records.get_run(run_id) or {}
    finished_at = payload.get("finished_at") or _now()
    status = payload["status"]
    if status == "completed" and outcomes.get("cut_short"):
        status = "cut_short"  # the run ran, but not every agent got to the end of it
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
    agents = svc.records.list_agents(run_id)
    report = {
        **summary,
        "started_at": run.get("started_at"),
        "finished_at": finished_at,
        "deadline": run.get("deadline"),
        "agent_results": _with_activity(results, agents),
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
    if telemetry.pipeline() is not None:
        telemetry.run_finished(
            run,
            status,
            finished_at,
            resource_actions(resources),
            run_failures(svc.records, run_id, agents),
            run_cost_usd(svc.catalog, run),
        )
    return summary


def _with_activity(
    results: list[dict[str, Any]], agents: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each agent's result with the operate rounds, commands and failed commands it last
    told (None: it told none, as an agent that never started or went silent before its
    first round)."""
    told = {agent.get("agent_id"): agent for agent in agents}
    counts = COUNTS
    return [
        {**result, **{name: told.get(result.get("agent_id"), {}).get(name) for name in counts}}
        for result in results
    ]


def _reconcile_late_rows(run_id: str, results: list[dict[str, Any]]) -> None:
    """Rows still `created` of agents whose teardown verified (their events came after
    it), decided by that verification, as verify_teardown decides the others."""
    records = services().records
    verified = {
        result["agent_id"]: list(result.get("left") or [])
        for result in results
        if result.get("outcome") not in UNVERIFIED_OUTCOMES
    }
    if not verified:
        return
    rows = [r for r in records.list_resources(run_id) if r.get("agent_id") in verified]
    for agent_id, left in verified.items():
        mine = [row for row in rows if row.get("agent_id") == agent_id]
        for row, action, reason in reconciled(mine, left):
            records.record_resource(run_id, agent_id, row["kind"], row["name"], action, reason)


def _left_item(row: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {k: row[k] for k in ("agent_id", "kind", "name") if k in row}
    if row.get("action") == "created":
        item["reason"] = "never verified: the agent's teardown did not run"
    elif row.get("reason"):
        item["reason"] = row["reason"]
    return item
