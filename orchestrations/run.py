"""A run: open it, fan out one agent sub-orchestration per scenario, gather, report.

Agents start in waves of at most `max_parallel`. While a wave runs, the orchestration
wakes on a progress timer to refresh its custom status (agents per phase), and reacts to
a `cancel` event by telling the running agents to tear down now and starting no more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from haymaker.naming import iso_utc, next_multiple
from haymaker.plans import RunPlan
from orchestrations.retries import BOOKKEEPING

# Progress refreshes per run at most, whatever the poll interval: bounds the history.
MAX_PROGRESS_TICKS = 48
# Tries to reach agents whose orchestration does not exist yet: waits of 1, 2, 4, ... s.
CANCEL_ATTEMPTS = 7


def run_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    plan = RunPlan.from_dict(context.get_input())
    # Every time in the run's records and report is the orchestration's: one clock (the
    # host's, which devhost may run virtually), never an activity's wall clock beside it.
    started = context.current_utc_datetime
    deadline = started + timedelta(seconds=plan.duration_seconds)
    agents = plan.agents(iso_utc(deadline))
    yield context.call_activity_with_retry(
        "begin_run",
        BOOKKEEPING,
        {
            "run_id": plan.run_id,
            "started_at": iso_utc(started),
            "deadline": iso_utc(deadline),
            "agents": [a.to_dict() for a in agents],
        },
    )
    tick = max(plan.poll_seconds, plan.duration_seconds // MAX_PROGRESS_TICKS)
    cancel = context.wait_for_external_event("cancel")
    cancelled = False
    results: list[dict[str, Any]] = []
    status: dict[str, Any] = {"agents": len(agents), "done": 0, "phases": {}}
    for start in range(0, len(agents), plan.max_parallel):
        wave = agents[start : start + plan.max_parallel]
        if cancelled:
            results.extend(_not_started(a.agent_id, a.scenario_id) for a in wave)
            continue
        children = context.task_all(
            [
                context.call_sub_orchestrator(
                    "agent_orchestrator", {"plan": a.to_dict()}, a.instance_id
                )
                for a in wave
            ]
        )
        while not children.is_completed:
            context.set_custom_status({**status, "cancelled": cancelled})
            # On the multiples of the tick, as the agents' polls (one stop of a virtual clock).
            now = context.current_utc_datetime
            due = next_multiple(now, tick) if plan.aligned_polls else now + timedelta(seconds=tick)
            timer = context.create_timer(due)
            winner = yield context.task_any(
                [children, timer] if cancelled else [children, cancel, timer]
            )
            if winner != timer:
                timer.cancel()
            if winner == cancel:
                cancelled = True
                yield from _tell_agents(context, [a.instance_id for a in wave], str(cancel.result))
            elif winner == timer:
                status["phases"] = yield context.call_activity_with_retry(
                    "run_progress", BOOKKEEPING, {"run_id": plan.run_id}
                )
        if isinstance(children.result, Exception):
            # An agent orchestration itself failed (a bug, not an agent failure): the
            # run still reports, and the hourly sweep removes what that agent left.
            results.extend(
                {
                    **_not_started(a.agent_id, a.scenario_id),
                    "outcome": "orchestration_failed",
                    "clean": False,
                    "error": str(children.result)[:500],
                }
                for a in wave
            )
        else:
            results.extend(children.result)
        status["done"] = len(results)
    outcome = "canceled" if cancelled else "completed"
    # The last progress tick's phases are stale by now: the final status counts outcomes.
    outcomes = dict(Counter(str(r.get("outcome")) for r in results))
    context.set_custom_status(
        {"agents": len(agents), "done": len(results), "outcomes": outcomes, "cancelled": cancelled}
    )
    summary = yield context.call_activity_with_retry(
        "finalize_run",
        BOOKKEEPING,
        {
            "run_id": plan.run_id,
            "status": outcome,
            "finished_at": iso_utc(context.current_utc_datetime),
            "results": results,
        },
    )
    return summary


def _tell_agents(
    context: df.DurableOrchestrationContext, instance_ids: list[str], reason: str
) -> Generator[Any, Any, None]:
    """Raise `cancel` on the wave's agents. A cancel right after the start finds some
    agents' orchestrations not created yet: those are told again after a short durable
    wait (and as they start, they find the cancel in the run record anyway)."""
    pending = instance_ids
    for attempt in range(CANCEL_ATTEMPTS):
        result = yield context.call_activity_with_retry(
            "cancel_agents", BOOKKEEPING, {"instance_ids": pending, "reason": reason}
        )
        # Histories from before `missing` existed recorded a count here.
        pending = result.get("missing", []) if isinstance(result, dict) else []
        if not pending or attempt == CANCEL_ATTEMPTS - 1:
            return
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=2**attempt))


def _not_started(agent_id: str, scenario_id: str) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "scenario_id": scenario_id,
        "outcome": "not_started",
        "clean": True,
        "left": [],
        "error": None,
    }
