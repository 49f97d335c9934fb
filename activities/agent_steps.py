"""One agent's lifecycle steps: provision, launch, poll, and the teardown steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from activities.event_intake import MAX_BATCHES_PER_POLL, cut_short_reason, record_new_events
from activities.tracing import traced
from activities.waits import waits_as_results
from haymaker import naming, telemetry
from haymaker.events import events_queue_name
from haymaker.plans import AgentPlan
from haymaker.reconcile import reconciled
from haymaker.service import services

# A client secret outlives the run's deadline by this much, never more.
SECRET_MARGIN = timedelta(hours=1)
# After the agent stopped nothing more comes: drain the queue (bounded all the same).
MAX_BATCHES_AFTER_STOP = 200


def _plan(payload: dict[str, Any]) -> AgentPlan:
    return AgentPlan.from_dict(payload["plan"])


@traced("provisioning")
@waits_as_results
def provision_identity(payload: dict[str, Any]) -> dict[str, Any]:
    """The agent's identity, secret (kept by the provider) and roles on its group only;
    `{"canceled": true}`, creating nothing, when the run was canceled before it began."""
    plan = _plan(payload)
    svc = services()
    if _run_canceled(plan.run_id):
        return {"canceled": True}
    svc.records.enter_phase(plan.run_id, plan.agent_id, "provisioning", status="running")
    expires = naming.parse_iso_utc(plan.deadline) + SECRET_MARGIN
    identity = svc.provider.create_identity(
        plan.run_id, plan.agent_id, plan.scenario_id, naming.iso_utc(expires)
    )
    svc.provider.grant_roles(plan.run_id, plan.agent_id, plan.resource_group)
    svc.records.upsert_agent(
        plan.run_id,
        plan.agent_id,
        principal_id=identity["principal_id"],
        display_name=identity["display_name"],
    )
    return dict(identity)


@traced("provisioning")
@waits_as_results
def launch_agent(payload: dict[str, Any]) -> dict[str, Any]:
    """Start the agent with its scenario; its credentials travel as a reference only."""
    plan = _plan(payload)
    svc = services()
    scenario = svc.catalog.get(plan.scenario_id).to_dict()
    launch = svc.provider.launch_agent(
        plan.run_id,
        plan.agent_id,
        scenario,
        plan.deadline,
        payload["secret_ref"],
        events_queue_name(plan.run_id),
        naming.tags_for(plan.run_id, plan.agent_id, plan.scenario_id),
        # Polls on the multiples of the interval (a plan from before: after each other).
        report_every=plan.poll_seconds if plan.aligned_polls else None,
    )
    svc.records.enter_phase(plan.run_id, plan.agent_id, "monitoring", status="running")
    return {"handle": launch["handle"], "already_launched": launch["already_launched"]}


@traced("monitoring")
@waits_as_results
def poll_agent(payload: dict[str, Any]) -> dict[str, Any]:
    """Record the run's new agent events and say whether this agent is still running, and
    when it has finished, whether its scenario was cut short.

    The agent's state is taken first: an agent that had ended by then had sent all it
    would, so the drain after it holds its last words (a `finished` that says cut short).
    """
    plan = _plan(payload)
    status = services().provider.agent_status(plan.run_id, plan.agent_id)
    ended = status["state"] != "running"
    # An ended agent's last words must be recorded before they are read: wait for a drain
    # in progress (it may have received before they arrived), then drain.
    recorded = record_new_events(
        plan.run_id, MAX_BATCHES_AFTER_STOP if ended else MAX_BATCHES_PER_POLL, wait=ended
    )
    cut_short = None
    if status["state"] == "succeeded":
        cut_short = cut_short_reason(plan.run_id, plan.agent_id)
    return {
        "state": status["state"],
        "events": recorded,
        "canceled": _run_canceled(plan.run_id),
        "cut_short": cut_short,
    }


def _run_canceled(run_id: str) -> bool:
    """Whether a cancel of the run was requested (the starter records it before telling)."""
    run = services().records.get_run(run_id)
    return bool(run and run.get("cancel_requested_at"))


@traced("tearing_down")
@waits_as_results
def stop_agent(payload: dict[str, Any]) -> dict[str, Any]:
    """Stop the agent, then record what it said until it stopped: events sent after the
    last poll (its own removals among them) would otherwise never be read."""
    plan = _plan(payload)
    svc = services()
    svc.records.enter_phase(plan.run_id, plan.agent_id, "tearing_down")
    stopped = dict(svc.provider.stop_agent(plan.run_id, plan.agent_id))
    return {
        **stopped,
        "events": record_new_events(plan.run_id, MAX_BATCHES_AFTER_STOP, wait=True),
    }


@traced("tearing_down")
@waits_as_results
def remove_resources(payload: dict[str, Any]) -> dict[str, Any]:
    """Delete everything tagged for the agent; each removal goes into the run record.

    What a lock keeps in place is recorded as left, with the lock's message, and not
    retried: retrying cannot remove a lock. Other failures raise, so the step is retried.
    """
    plan = _plan(payload)
    svc = services()
    removal = svc.provider.delete_tagged_resources(plan.run_id, plan.agent_id)
    for item in removal["removed"]:
        svc.records.record_resource(
            plan.run_id, plan.agent_id, item["kind"], item["name"], "removed"
        )
    blocked = removal.get("blocked", [])
    _record_left(plan, blocked)
    if removal["failed"]:
        names = ", ".join(
            f"{f['kind']} {f['name']}: {f.get('error', '')}" for f in removal["failed"]
        )
        raise RuntimeError(f"could not remove {len(removal['failed'])} resource(s): {names}")
    return {"removed": len(removal["removed"]), "blocked": blocked}


@traced("tearing_down")
@waits_as_results
def remove_identity(payload: dict[str, Any]) -> dict[str, Any]:
    """Role assignments, application and secret; what a lock keeps is recorded as left
    and not retried, as in remove_resources."""
    plan = _plan(payload)
    removal = services().provider.delete_identity(plan.run_id, plan.agent_id)
    _record_left(plan, removal.get("blocked", []))
    return dict(removal)


def _record_left(plan: AgentPlan, blocked: list[dict[str, str]]) -> None:
    """What a lock kept in place, with the lock's message as the reason."""
    records = services().records
    for item in blocked:
        records.record_resource(
            plan.run_id, plan.agent_id, item["kind"], item["name"], "left", reason=item["error"]
        )


@traced("tearing_down")
@waits_as_results
def verify_teardown(payload: dict[str, Any]) -> dict[str, Any]:
    """Check nothing of the agent is left, reconcile its resource rows with what was found
    (haymaker/reconcile.py), and record the agent's final state."""
    plan = _plan(payload)
    svc = services()
    verification = svc.provider.verify_clean(plan.run_id, plan.agent_id)
    for item in verification["left"]:
        svc.records.record_resource(plan.run_id, plan.agent_id, item["kind"], item["name"], "left")
    rows = svc.records.list_resources(plan.run_id, plan.agent_id)
    for row, action, reason in reconciled(rows, list(verification["left"])):
        svc.records.record_resource(
            plan.run_id, plan.agent_id, row["kind"], row["name"], action, reason=reason
        )
    failed = payload.get("outcome") in ("provision_failed", "agent_failed")
    svc.records.enter_phase(
        plan.run_id,
        plan.agent_id,
        "failed" if failed or not verification["clean"] else "done",
        status=payload.get("outcome"),
        error=payload.get("error"),
        left_behind=len(verification["left"]),
    )
    if telemetry.pipeline() is not None:
        agents = svc.records.list_agents(plan.run_id)
        agent = next(a for a in agents if a["agent_id"] == plan.agent_id)
        telemetry.agent_finished(agent, len(verification["left"]))
    return {"clean": verification["clean"], "left": verification["left"]}
