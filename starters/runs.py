"""The runs API: start, list, inspect, cancel; plus sweeps, scenarios and health.

Handlers take the request and the durable client and return JSON. Run records are read
and written with the synchronous table client on a worker thread, so the host's event
loop keeps serving while storage answers; storage and host calls are bounded in time
(starters.backends): one that does not answer in a few seconds makes a 503, not a hang.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import azure.durable_functions as df
import azure.functions as func

from haymaker.catalog import CatalogError
from haymaker.costs import run_cost_usd
from haymaker.durations import format_duration
from haymaker.events import AGENT_PHASES as AGENT_EVENT_PHASES
from haymaker.json_body import parse_object
from haymaker.naming import parse_iso_utc, validate_run_id
from haymaker.plans import RunPlan
from haymaker.records import InvalidContinuation
from haymaker.run_cost import CostEstimate, check_budget, estimate_run_cost
from haymaker.run_request import RequestError, RunRequest, new_run_id, parse_run_request
from haymaker.service import services
from haymaker.suggest import did_you_mean
from starters.backends import (
    blocking_call,
    host_call,
    storage_call,
    unavailable,
    within_deadline,
)
from starters.responses import ApiError, json_response, query_int, shown

FINISHED = ("completed", "cut_short", "failed", "canceled")
# Orchestration statuses in which an instance takes raised events.
TAKES_EVENTS = ("Pending", "Running", "Suspended", "ContinuedAsNew")
# A deep provider check signs in and calls the cloud: more than storage's few seconds.
PROVIDER_CHECK_SECONDS = 30.0
RUN_ORCHESTRATOR = "run_orchestrator"


def _check_status(
    client: df.DurableOrchestrationClient, req: func.HttpRequest, run_id: str
) -> dict[str, Any]:
    return {"run_id": run_id, **client.get_client_response_links(req, run_id)}


async def start_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    svc = services()
    try:
        request = parse_run_request(req.get_body(), svc.catalog, svc.settings)
        run_id = request.run_id or new_run_id(datetime.now(UTC), secrets.token_hex(3))
        request = request.with_run_id(run_id)
        if request.dry_run:
            return json_response(plan_run(request, check=False).to_dict(), 200)
        launch = await launch_run(client, request)
    except RequestError as error:
        return json_response(error.to_dict(), 400)
    except ApiError as error:
        if error.status == 503:  # maybe recorded, maybe not: this run id finishes the start
            error.message += (
                f'; to retry without starting a second run, send "run_id": "{request.run_id}"'
            )
        raise
    body = {
        **_check_status(client, req, run_id),
        "plan": launch.plan.to_dict(),
        # False: the run this id names already existed, and nothing new started.
        "created": launch.created,
    }
    if not launch.created:
        # Idempotent: the same run id answers with the run that already exists.
        return json_response(body, 200)
    return json_response(body, 202, {"Location": body["statusQueryGetUri"], "Retry-After": "10"})


@dataclass(frozen=True)
class Plan:
    """What a run request comes to: one scenario per agent, and what that costs."""

    run_id: str
    scenario_ids: list[str]
    duration: str
    estimate: CostEstimate
    budget_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "agents": len(self.scenario_ids),
            "scenario_ids": self.scenario_ids,
            "duration": self.duration,
            "estimated_cost_usd": round(self.estimate.usd, 2),
            "budget_usd": self.budget_usd,
            "within_budget": self.budget_usd is None or self.estimate.usd <= self.budget_usd,
            "cost": self.estimate.to_dict(),
        }


def plan_run(
    request: RunRequest, check: bool = True, scenario_ids: list[str] | None = None
) -> Plan:
    """The plan of a request; with ``check``, a ``RequestError`` when it is over budget.
    ``scenario_ids``: the scenarios already drawn for it (a run that exists), else drawn.

    Both ways a run starts (``POST /api/runs`` and the regional timers) pass here first,
    so ``HAYMAKER_MAX_RUN_COST_USD`` holds for every run.
    """
    svc = services()
    assert request.run_id is not None
    if scenario_ids is None:
        scenario_ids = request.scenario_ids(svc.catalog)
    estimate = estimate_run_cost(svc.catalog, scenario_ids, request.duration)
    if check:
        check_budget(estimate, svc.settings.max_run_cost_usd)
    duration = format_duration(request.duration)
    return Plan(request.run_id, scenario_ids, duration, estimate, svc.settings.max_run_cost_usd)


class Launch(NamedTuple):
    created: bool
    plan: Plan


async def launch_run(client: df.DurableOrchestrationClient, request: RunRequest) -> Launch:
    """Check the budget, record the run, then start its orchestration.

    ``created`` is False if the run id exists already: the same request again gets that
    run's plan (a retry), another request a 409 (the id names a run it did not ask for).
    Over budget, a ``RequestError`` is raised before anything is recorded or started. The
    record comes first and is created only once, so two starts with one id never start
    two orchestrations. A start that died between the two (a host crash) is finished by
    the next start with that id, from what the record holds.
    """
    svc = services()
    plan = plan_run(request)
    scenario_ids = plan.scenario_ids
    created = await storage_call(
        svc.records.create_run, plan.run_id, request.to_dict(), scenario_ids, datetime.now(UTC)
    )
    if not created:
        record = await storage_call(svc.records.get_run, plan.run_id)
        assert record is not None, "create_run found the record, and records are never deleted"
        if record["request"] != request.to_dict():
            raise ApiError(409, "run_exists", _exists_message(record), "run_id")
        request = RunRequest.from_dict(record["request"])
        scenario_ids = list(record["scenario_ids"])
        plan = plan_run(request, check=False, scenario_ids=scenario_ids)
        if not await _orchestration_missing(client, plan.run_id):
            return Launch(False, plan)
    run_plan = RunPlan.for_request(request, scenario_ids, svc.settings.max_parallel_agents)
    try:
        await within_deadline(
            client.start_new(RUN_ORCHESTRATOR, run_plan.run_id, run_plan.to_dict())
        )
    except Exception:
        # A concurrent start with the same id got there first: one orchestration either way.
        if await _orchestration_missing(client, run_plan.run_id):
            raise
    return Launch(bool(created), plan)


def _exists_message(record: dict[str, Any]) -> str:
    asked = record["request"]
    agents = len(record.get("scenario_ids") or [])
    return (
        f"run {record['run_id']!r} exists already ({record.get('status')}: "
        f"{agents} agent{'' if agents == 1 else 's'} for {asked.get('duration')}), "
        "started by another request: leave run_id out to start a new run, or send the "
        "same request to get this one"
    )


async def _orchestration_missing(client: df.DurableOrchestrationClient, run_id: str) -> bool:
    status = await host_call(client.get_status(run_id))
    return status.runtime_status is None


async def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    status = req.params.get("status")
    if status and status not in ("pending", "running", *FINISHED):
        raise ApiError(400, "invalid_field", f"unknown status {status!r}", "status")
    bounds = {}
    for name in ("created_from", "created_to"):
        if req.params.get(name):
            try:
                bounds[name] = parse_iso_utc(req.params[name])
            except ValueError as error:
                message = f"{name} must be an ISO 8601 time such as 2026-11-26T12:00:00Z: {error}"
                raise ApiError(400, "invalid_field", message, name) from None
    svc = services()
    runs, token = await _paged(
        svc.records.list_runs,
        status=status or None,
        limit=query_int(req, "limit", 50, 1, 200),
        continuation=req.params.get("continuation") or None,
        **bounds,
    )
    for run in runs:
        run["status"] = shown_status(run)
        run["estimated_cost_usd"] = run_cost_usd(svc.catalog, run)
    return json_response({"runs": runs, "continuation": token})


async def _paged(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A records page; a continuation token we never handed out is the caller's 400."""
    try:
        return await storage_call(fn, *args, **kwargs)
    except InvalidContinuation as error:
        raise ApiError(400, "invalid_field", str(error), "continuation") from None


async def _run_or_404(run_id: str) -> dict[str, Any]:
    try:
        validate_run_id(run_id)
    except ValueError:  # not even a run id (too long, say): there is no such run
        run = None
    else:
        run = await storage_call(services().records.get_run, run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no run with id {run_id!r}", "run_id")
    return dict(run)


def shown_status(run: dict[str, Any]) -> str | None:
    """The run's status as the API shows it: `canceling` for a running run whose cancel
    was asked for (its agents are tearing down; the record says `running` until the run
    closes as `canceled`)."""
    status = run.get("status")
    return "canceling" if status == "running" and run.get("cancel_requested_at") else status


async def get_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    run = await _run_or_404(run_id)
    run["status"] = shown_status(run)
    agents = await storage_call(services().records.list_agents, run_id)
    status = await host_call(client.get_status(run_id))
    run["phases"] = dict(Counter(str(a.get("phase")) for a in agents))
    run["estimated_cost_usd"] = run_cost_usd(services().catalog, run)
    run["agents"] = agents
    run["orchestration"] = {
        "runtime_status": status.runtime_status.value if status.runtime_status else None,
        "custom_status": status.custom_status,
    }
    return json_response(run)


async def get_run_agents(req: func.HttpRequest) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    await _run_or_404(run_id)
    return json_response({"agents": await storage_call(services().records.list_agents, run_id)})


async def _agent_of(req: func.HttpRequest, run: dict[str, Any]) -> str | None:
    """The `agent` parameter, checked against the run's agents (404 naming them if absent)."""
    agent_id = req.params.get("agent") or None
    if agent_id is None:
        return None
    listed = await storage_call(services().records.list_agents, run["run_id"])
    agents = [a["agent_id"] for a in listed]
    if agent_id not in agents:
        listing = ", ".join(agents) or "none yet"
        raise ApiError(
            404,
            "not_found",
            f"run {run['run_id']!r} has no agent {agent_id!r}{did_you_mean(agent_id, agents)}; "
            f"its agents: {listing}",
            "agent",
        )
    return agent_id


async def get_run_resources(req: func.HttpRequest) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    agent_id = await _agent_of(req, await _run_or_404(run_id))
    resources = await storage_call(services().records.list_resources, run_id, agent_id)
    return json_response({"resources": resources})


async def get_run_events(req: func.HttpRequest) -> func.HttpResponse:
    """Events oldest first; `agent`, `phase` (deploy|operate|cleanup) and `since` filter."""
    run_id = req.route_params["run_id"]
    agent_id = await _agent_of(req, await _run_or_404(run_id))
    phase = req.params.get("phase") or None
    if phase is not None and phase not in AGENT_EVENT_PHASES:
        choices = ", ".join(AGENT_EVENT_PHASES)
        raise ApiError(400, "invalid_field", f"phase must be one of {choices}", "phase")
    since = None
    if req.params.get("since"):
        try:
            since = parse_iso_utc(req.params["since"])
        except ValueError as error:
            message = f"since must be an ISO 8601 time such as 2026-11-26T12:00:00Z: {error}"
            raise ApiError(400, "invalid_field", message, "since") from None
    events, token = await _paged(
        services().records.list_events,
        run_id,
        agent_id=agent_id,
        limit=query_int(req, "limit", 100, 1, 1000),
        continuation=req.params.get("continuation") or None,
        since=since,
        phase=phase,
    )
    return json_response({"events": events, "continuation": token})


async def get_run_report(req: func.HttpRequest) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    await _run_or_404(run_id)
    report = await storage_call(services().records.get_report, run_id)
    if report is None:
        raise ApiError(
            404, "not_ready", f"run {run_id!r} has no report yet: it is still running", "run_id"
        )
    return json_response(report)


async def cancel_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    run_id = req.route_params["run_id"]
    try:  # nothing to say but the route: an empty body or {} (anything else is a mistake)
        parse_object(req.get_body(), (), "{}")
    except RequestError as error:
        return json_response(error.to_dict(), 400)
    run = await _run_or_404(run_id)
    if run.get("status") in FINISHED:
        raise ApiError(409, "finished", f"run {run_id!r} is already {run['status']}", "run_id")
    # Recorded first: agents whose orchestration does not exist yet when the run tells
    # them read it as they start (provision_identity), and every poll reads it too.
    await storage_call(services().records.update_run, run_id, cancel_requested_at=datetime.now(UTC))
    try:
        await within_deadline(client.raise_event(run_id, "cancel", "canceled through the API"))
    except ApiError:
        raise
    except Exception as error:  # the SDK raises plain Exception for 404, 410 and the rest
        status = await host_call(client.get_status(run_id))
        if status.runtime_status is not None and status.runtime_status.value in TAKES_EVENTS:
            raise unavailable("host", f"the host did not take the cancel: {error}") from None
        raise ApiError(
            409, "not_running", f"run {run_id!r} cannot be canceled: {error}", "run_id"
        ) from None
    return json_response({"run_id": run_id, "status": "canceling"}, 202)


async def start_sweep(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """`{"dry_run": true}` finds orphans and reports them without removing anything."""
    try:
        options = parse_object(req.get_body(), ("dry_run",), '{"dry_run": true}')
    except RequestError as error:
        return json_response(error.to_dict(), 400)
    dry_run = options.get("dry_run", False)
    if not isinstance(dry_run, bool):
        message = f"dry_run must be true or false, not {shown(str(dry_run))}"
        raise ApiError(400, "invalid_field", message, "dry_run")
    instance_id = await within_deadline(
        client.start_new("sweep_orchestrator", None, {"dry_run": dry_run})
    )
    return client.create_check_status_response(req, instance_id)


async def list_scenarios(req: func.HttpRequest) -> func.HttpResponse:
    """Every scenario with its cost and depth; files that could not be loaded, apart."""
    catalog = services().catalog
    broken = [{"id": sid, "problems": problems} for sid, problems in sorted(catalog.broken.items())]
    return json_response(
        {"scenarios": [s.summary() for s in catalog.scenarios()], "broken": broken}
    )


async def get_scenario(req: func.HttpRequest) -> func.HttpResponse:
    """One scenario in full: resources, deploy, operate (with weights), cleanup and cost."""
    scenario_id = req.route_params["scenario_id"]
    try:
        scenario = services().catalog.get(scenario_id)
    except CatalogError as error:
        raise ApiError(404, "not_found", str(error), "scenario_id") from None
    return json_response({**scenario.to_dict(), "depth": scenario.depth()})


async def health(req: func.HttpRequest) -> func.HttpResponse:
    """Storage answering, provider configured, catalog valid; `deep` also writes to storage
    (an account that can be read but not written, a full disk say, is not healthy) and
    checks the provider further."""
    deep = _flag_param(req, "deep")
    checks: list[dict[str, Any]] = []
    try:
        svc = services()
    except Exception as error:
        checks.append({"name": "settings", "ok": False, "detail": str(error)})
        return json_response({"ok": False, "checks": checks}, 503)
    checks.append({"name": "settings", "ok": True})
    # The detail names the account and how it is reached (connection string or identity),
    # never a key; a failure adds why: no answer in time, or the error type and the
    # service's error code, if any.
    storage = svc.settings.storage.describe()
    try:
        await storage_call(svc.records.list_runs, limit=1)
        if deep:
            await storage_call(svc.records.check_writable)
        checks.append({"name": "storage", "ok": True, "detail": storage})
    except ApiError as error:
        checks.append({"name": "storage", "ok": False, "detail": f"{error.message}; {storage}"})
    except Exception as error:
        code = getattr(error, "error_code", None)
        failure = type(error).__name__ + (f" ({code})" if code else "")
        checks.append({"name": "storage", "ok": False, "detail": f"{failure}; {storage}"})
    problems = svc.catalog.validate()
    checks.append({"name": "catalog", "ok": not problems, "detail": problems or len(svc.catalog)})
    name = f"provider:{svc.settings.provider}"
    try:
        provider = await blocking_call(
            svc.provider.check, deep, deadline=PROVIDER_CHECK_SECONDS, what="provider"
        )
        checks.append({"name": name, "ok": provider["ok"], "detail": provider["checks"]})
    except ApiError as error:
        checks.append({"name": name, "ok": False, "detail": error.message})
    ok = all(c["ok"] for c in checks)
    return json_response({"ok": ok, "checks": checks}, 200 if ok else 503)


def _flag_param(req: func.HttpRequest, name: str) -> bool:
    value = req.params.get(name, "").lower()
    if value not in ("", "true", "false"):
        message = f"{name} must be true or false, not {shown(req.params[name])}"
        raise ApiError(400, "invalid_field", message, name)
    return value == "true"
