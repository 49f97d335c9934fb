"""One agent's lifecycle: provision, monitor until it ends or the deadline, tear down.

The input is `{"plan": AgentPlan, "stage": ...}`; the stage survives continue-as-new, which
the monitor uses every `polls_per_generation` polls so an 8-hour history stays small.
Teardown runs on every path: success, agent failure, deadline, cancel, and a failure
half-way through provisioning (it removes whatever was created).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from haymaker.naming import next_multiple, parse_iso_utc
from haymaker.plans import AgentPlan
from orchestrations.cloud_calls import PRINCIPAL_PATIENCE, call_cloud

TEARDOWN_STEPS = ("stop_agent", "remove_resources", "remove_identity")
MAX_ERROR_CHARS = 500


def _error_text(error: Exception) -> str:
    return str(error)[:MAX_ERROR_CHARS]


def agent_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    state: dict[str, Any] = context.get_input()
    plan = AgentPlan.from_dict(state["plan"])
    payload = {"plan": plan.to_dict()}
    if state.get("stage", "provision") == "provision":
        context.set_custom_status({"phase": "provisioning"})
        try:
            # Roles wait for the new principal to be visible: PRINCIPAL_PATIENCE, then rollback.
            identity = yield from call_cloud(
                context, "provision_identity", payload, PRINCIPAL_PATIENCE
            )
            if identity.get("canceled"):  # the run was canceled before this agent began
                state.update(stage="teardown", outcome="canceled")
            else:
                yield from call_cloud(
                    context, "launch_agent", {**payload, "secret_ref": identity["secret_ref"]}
                )
                state["stage"] = "monitor"
        except Exception as error:
            state.update(stage="teardown", outcome="provision_failed", error=_error_text(error))
    if state["stage"] == "monitor":
        context.set_custom_status({"phase": "monitoring", "polls": state.get("polls", 0)})
        try:
            outcome = yield from _monitor(context, plan, state)
        except Exception as error:  # a poll that kept failing: stop watching, tear down
            outcome = "agent_failed"
            state["error"] = f"monitoring failed: {_error_text(error)}"
        if outcome is None:
            context.continue_as_new(state)
            return {}
        state.update(stage="teardown", outcome=outcome)
    return (yield from _teardown(context, plan, state))


def _monitor(
    context: df.DurableOrchestrationContext, plan: AgentPlan, state: dict[str, Any]
) -> Generator[Any, Any, str | None]:
    """Poll on a durable timer raced with `cancel`; None means 'continue as new'."""
    deadline = parse_iso_utc(plan.deadline)
    cancel = context.wait_for_external_event("cancel")
    for _ in range(plan.polls_per_generation):
        now = context.current_utc_datetime
        if now >= deadline:
            return "deadline"
        if plan.aligned_polls:
            due = next_multiple(now, plan.poll_seconds)
        else:  # a plan from before aligned polls: as its instances were recorded
            due = now + timedelta(seconds=plan.poll_seconds)
        timer = context.create_timer(min(deadline, due))
        winner = yield context.task_any([timer, cancel])
        if winner == cancel:
            timer.cancel()
            return "canceled"
        status = yield from call_cloud(context, "poll_agent", {"plan": plan.to_dict()})
        state["polls"] = state.get("polls", 0) + 1
        context.set_custom_status({"phase": "monitoring", "polls": state["polls"]})
        if status["state"] == "succeeded":
            # An agent that ended early (its wall-time cap, a host gone for good) says so.
            return "cut_short" if status.get("cut_short") else "finished"
        if status["state"] in ("failed", "missing"):
            return "agent_failed"
        if status.get("canceled"):  # a cancel event that never arrived: the record says so
            return "canceled"
    return None


def _teardown(
    context: df.DurableOrchestrationContext, plan: AgentPlan, state: dict[str, Any]
) -> Generator[Any, Any, dict[str, Any]]:
    """Every step is tried even when an earlier one failed; verification says what is left."""
    context.set_custom_status({"phase": "tearing_down", "outcome": state.get("outcome")})
    payload = {"plan": plan.to_dict()}
    errors = []
    for step in TEARDOWN_STEPS:
        try:
            result = yield from call_cloud(context, step, payload)
        except Exception as error:
            errors.append(f"{step}: {_error_text(error)}")
            continue
        for item in (result or {}).get("blocked", []):
            errors.append(f"{step}: {item['name']} kept by {_error_text(item['error'])}")
    problems = "; ".join(filter(None, [state.get("error"), *errors])) or None
    verification = yield from call_cloud(
        context,
        "verify_teardown",
        {**payload, "outcome": state.get("outcome"), "error": problems},
    )
    result = {
        "agent_id": plan.agent_id,
        "scenario_id": plan.scenario_id,
        "outcome": state.get("outcome"),
        "clean": verification["clean"],
        "left": verification["left"],
        "error": problems,
    }
    context.set_custom_status({"phase": "done", "outcome": state.get("outcome")})
    return result
