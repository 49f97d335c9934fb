"""HTTP functions that drive the SDK's DurableOrchestrationClient, unchanged.

Each answers JSON; an exception the client raises comes back as 500 {"error": ...} so a
test can see what the SDK reported.
"""

import json
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

bp = df.Blueprint(http_auth_level=func.AuthLevel.ANONYMOUS)


def reply(value: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), status_code=status, mimetype="application/json")


def failure(error: Exception) -> func.HttpResponse:
    return reply({"error": str(error), "type": type(error).__name__}, 500)


def body_json(req: func.HttpRequest) -> Any:
    return req.get_json() if req.get_body() else None


def status_json(status: DurableOrchestrationStatus) -> dict:
    if not status:
        return {"found": False}
    return {"found": True, **status.to_json()}


def time_param(req: func.HttpRequest, name: str) -> datetime | None:
    value = req.params.get(name)
    return datetime.fromisoformat(value) if value else None


def statuses_param(req: func.HttpRequest) -> list[OrchestrationRuntimeStatus] | None:
    value = req.params.get("runtimeStatus")
    return [OrchestrationRuntimeStatus(s) for s in value.split(",")] if value else None


@bp.route(route="client/start/{name}/{instance_id?}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def client_start(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        instance_id = await client.start_new(
            req.route_params["name"], req.route_params.get("instance_id"), body_json(req)
        )
    except Exception as error:
        return failure(error)
    return reply({"id": instance_id})


@bp.route(route="client/status/{instance_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def client_status(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        status = await client.get_status(
            req.route_params["instance_id"],
            show_history=req.params.get("history") == "true",
            show_history_output=req.params.get("historyOutput") == "true",
            show_input=req.params.get("input") == "true",
        )
    except Exception as error:
        return failure(error)
    return reply(status_json(status))


@bp.route(route="client/status-by", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def client_status_by(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        found = await client.get_status_by(
            created_time_from=time_param(req, "from"),
            created_time_to=time_param(req, "to"),
            runtime_status=statuses_param(req),
            instance_id_prefix=req.params.get("prefix"),
        )
    except Exception as error:
        return failure(error)
    return reply([status_json(s) for s in found])


@bp.route(route="client/status-all", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def client_status_all(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        found = await client.get_status_all()
    except Exception as error:
        return failure(error)
    return reply([status_json(s) for s in found])


@bp.route(route="client/raise/{instance_id}/{event_name}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def client_raise(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        await client.raise_event(
            req.route_params["instance_id"], req.route_params["event_name"], body_json(req)
        )
    except Exception as error:
        return failure(error)
    return reply({"raised": req.route_params["event_name"]})


@bp.route(route="client/{operation:alpha}/{instance_id}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def client_operation(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    """terminate, suspend or resume, with ?reason=."""
    operation = req.route_params["operation"]
    if operation not in ("terminate", "suspend", "resume"):
        return reply({"error": f"unknown operation {operation}"}, 404)
    try:
        await getattr(client, operation)(
            req.route_params["instance_id"], req.params.get("reason", "")
        )
    except Exception as error:
        return failure(error)
    return reply({operation: req.route_params["instance_id"]})


@bp.route(route="client/purge/{instance_id}", methods=["DELETE"])
@bp.durable_client_input(client_name="client")
async def client_purge(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        result = await client.purge_instance_history(req.route_params["instance_id"])
    except Exception as error:
        return failure(error)
    return reply({"instancesDeleted": result.instances_deleted})


@bp.route(route="client/purge-by", methods=["DELETE"])
@bp.durable_client_input(client_name="client")
async def client_purge_by(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    try:
        result = await client.purge_instance_history_by(
            created_time_from=time_param(req, "from"),
            created_time_to=time_param(req, "to"),
            runtime_status=statuses_param(req),
        )
    except Exception as error:
        return failure(error)
    return reply({"instancesDeleted": result.instances_deleted})


@bp.route(route="client/check-status/{name}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def client_check_status(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new(req.route_params["name"], None, body_json(req))
    return client.create_check_status_response(req, instance_id)


@bp.route(route="client/wait/{name}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def client_wait(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new(req.route_params["name"], None, body_json(req))
    return await client.wait_for_completion_or_create_check_status_response(
        req,
        instance_id,
        timeout_in_milliseconds=int(req.params.get("timeoutMs", "5000")),
        retry_interval_in_milliseconds=int(req.params.get("intervalMs", "100")),
    )
