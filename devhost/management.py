"""The Durable Functions HTTP management API (status-query URLs) and the client binding.

Served twice: under /runtime/webhooks/durabletask for people and tools (needs the
durabletask_extension system key or the master key), and under /durabletask/ as the
`rpcBaseUrl` the Python SDK's DurableOrchestrationClient calls (loopback only, as the
extension's local RPC endpoint is in Azure).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from . import api_input
from .api_input import BadRequest
from .engine import Engine, EngineError
from .replay import EventType, parse_iso
from .store import ACTIVE_STATUSES, TERMINAL_STATUSES, Store

# A start that waits for its instance to finish (`timeout=`) waits at most this long.
MAX_WAIT_SECONDS = 3600.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
CONNECTION = "Storage"


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_iso(value)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class UrlBuilder:
    """Builds the status-query and management URLs for a base URL, hub and key."""

    def __init__(self, base_url: str, hub: str, system_key: str | None):
        self.base = base_url.rstrip("/") + WEBHOOK_PREFIX
        self.hub = hub
        self.query = f"taskHub={quote(hub)}&connection={CONNECTION}"
        if system_key:
            self.query += f"&code={quote(system_key)}"

    def check_status(self, instance_id: str) -> dict[str, str]:
        instance = f"{self.base}/instances/{quote(instance_id, safe='')}"
        q = self.query
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{instance}?{q}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{q}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{q}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{q}",
            "purgeHistoryDeleteUri": f"{instance}?{q}",
            "restartPostUri": f"{instance}/restart?{q}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{q}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{q}",
        }

    def client_binding(self, rpc_base_url: str) -> str:
        """The JSON the durable client input binding receives, as the extension builds it."""
        management = self.check_status("INSTANCEID")
        return json.dumps(
            {
                "taskHubName": self.hub,
                "creationUrls": {
                    "createNewInstancePostUri": (
                        f"{self.base}/orchestrators/{{functionName}}[/{{instanceId}}]?{self.query}"
                    ),
                    "createAndWaitOnNewInstancePostUri": (
                        f"{self.base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                        f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
                        f"&{self.query}"
                    ),
                },
                "managementUrls": management,
                "baseUrl": self.base,
                "requiredQueryStringParameters": self.query.split("&", 2)[-1]
                if "code=" in self.query
                else "",
                "rpcBaseUrl": rpc_base_url,
                "httpBaseUrl": "",
                "maxGrpcMessageSizeInBytes": 0,
                "grpcHttpClientTimeout": "00:01:40",
            }
        )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def _error(status: int, message: str) -> web.Response:
    # The SDK reads ExceptionMessage from a 400 to start_new; people read Message.
    return _json({"Message": message, "ExceptionMessage": message}, status)


def _not_found(instance_id: str) -> web.Response:
    return _json({"Message": f"No instance with ID '{instance_id}' found."}, 404)


def _refusing_bad_input(handler: Handler) -> Handler:
    """A handler whose BadRequest (a parameter it refuses) becomes 400 naming it."""

    async def checked(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as error:
            return _error(400, str(error))

    return checked


def history_view(history: list[dict[str, Any]], show_output: bool) -> list[dict[str, Any]]:
    """History as the extension shows it: completions carry their scheduling details."""
    scheduled = {
        e["EventId"]: e
        for e in history
        if e["EventType"]
        in (
            EventType.TaskScheduled,
            EventType.SubOrchestrationInstanceCreated,
            EventType.TimerCreated,
        )
    }
    hidden = {
        EventType.OrchestratorStarted,
        EventType.OrchestratorCompleted,
        EventType.TaskScheduled,
        EventType.SubOrchestrationInstanceCreated,
    }
    view = []
    for e in history:
        kind = EventType(e["EventType"])
        if kind in hidden:
            continue
        item: dict[str, Any] = {"EventType": kind.name, "Timestamp": e["Timestamp"]}
        origin = scheduled.get(e.get("TaskScheduledId", e.get("TimerId", -2)))
        if origin is not None:
            item["ScheduledTime"] = origin["Timestamp"]
            if origin.get("Name"):
                item["FunctionName"] = origin["Name"]
        if kind == EventType.ExecutionStarted:
            item["FunctionName"] = e.get("Name")
        if e.get("Name") and kind == EventType.EventRaised:
            item["Name"] = e["Name"]
        for key in ("FireAt", "Reason", "OrchestrationStatus"):
            if e.get(key) is not None:
                item[key] = e[key]
        if show_output:
            for key in ("Input", "Result", "Details"):
                if e.get(key) is not None:
                    item[key] = _decode(e[key])
        view.append(item)
    return view


class ManagementApi:
    """The API's handlers. `engine` gives the engine of the moment: a host that loses its
    hub's lease drops its engine, and makes a new one when it takes the hub again."""

    def __init__(self, engine: Callable[[], Engine], store: Store, urls: UrlBuilder, rpc: bool):
        self._engine = engine
        self.store = store
        self.urls = urls
        self.rpc = rpc

    @property
    def engine(self) -> Engine:
        return self._engine()

    def routes(self, prefix: str) -> list[web.RouteDef]:
        checked = _refusing_bad_input
        return [
            web.post(prefix + "/orchestrators/{name}", checked(self.start)),
            web.post(prefix + "/orchestrators/{name}/{instance_id}", checked(self.start)),
            web.get(prefix + "/instances", checked(self.list_instances)),
            web.get(prefix + "/instances/", checked(self.list_instances)),
            web.delete(prefix + "/instances", checked(self.purge_many)),
            web.delete(prefix + "/instances/", checked(self.purge_many)),
            web.get(prefix + "/instances/{instance_id}", checked(self.status)),
            web.delete(prefix + "/instances/{instance_id}", checked(self.purge)),
            web.post(
                prefix + "/instances/{instance_id}/raiseEvent/{event_name}",
                checked(self.raise_event),
            ),
            web.post(prefix + "/instances/{instance_id}/{operation}", checked(self.operate)),
        ]

    def _check_status_response(self, instance_id: str, request: web.Request) -> web.Response:
        payload = self.urls.check_status(instance_id)
        return _json(
            payload,
            202,
            {"Location": payload["statusQueryGetUri"], "Retry-After": "10"},
        )

    async def start(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        requested_id = request.match_info.get("instance_id")
        if requested_id is not None:
            api_input.instance_id(requested_id, new=True)
        timeout = api_input.seconds(request.query, "timeout", MAX_WAIT_SECONDS)
        input_json = api_input.payload_json(await request.read(), "input")
        try:
            instance_id = await self.engine.start_new(name, requested_id, input_json)
        except EngineError as error:
            return _error(error.status, str(error))
        if timeout is not None:
            await self.engine.wait_until_finished(instance_id, timeout)
            row = self.engine.final_row(instance_id) or await self.store.get_instance(instance_id)
            if row is not None and row.get("RuntimeStatus") in TERMINAL_STATUSES:
                return _json(_decode(row.get("Output")), 200)
        return self._check_status_response(instance_id, request)

    def status_body(
        self,
        row: dict[str, Any],
        show_input: bool,
        history: list[dict[str, Any]] | None,
        show_output: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": row.get("Name"),
            "instanceId": row["PartitionKey"],
            "runtimeStatus": row.get("RuntimeStatus"),
            "input": _decode(row.get("Input")) if show_input else None,
            "customStatus": _decode(row.get("CustomStatus")),
            "output": _decode(row.get("Output")),
            "createdTime": _time(row.get("CreatedTime")),
            "lastUpdatedTime": _time(row.get("LastUpdatedTime")),
        }
        if history is not None:
            view = history_view(history, show_output)
            body["historyEvents"] = view
            if self.rpc:
                # The SDK reads `history` where the extension answers `historyEvents`.
                body["history"] = view
        return body

    async def status(self, request: web.Request) -> web.Response:
        instance_id = api_input.instance_id(request.match_info["instance_id"])
        query = request.query
        show_history = api_input.flag(query, "showHistory")
        show_input = api_input.flag(query, "showInput", True)
        show_output = api_input.flag(query, "showHistoryOutput")
        failed_is_500 = api_input.flag(query, "returnInternalServerErrorOnFailure")
        await self.engine.wait_started(instance_id)
        row = self.engine.final_row(instance_id) or await self.store.get_instance(instance_id)
        if row is None:
            return _not_found(instance_id)
        history = await self.store.load_history(instance_id) if show_history else None
        body = self.status_body(row, show_input, history, show_output)
        status = row.get("RuntimeStatus")
        if status in ACTIVE_STATUSES:
            location = self.urls.check_status(instance_id)["statusQueryGetUri"]
            return _json(body, 202, {"Location": location, "Retry-After": "5"})
        if status == "Failed" and failed_is_500:
            # Asked for: the instance failed, and the caller wants that as a 500.
            return _json(body, 500)
        return _json(body, 200)

    async def _matching(self, request: web.Request) -> list[dict[str, Any]]:
        query = request.query
        statuses = api_input.statuses(query)
        created_from = api_input.time_param(query, "createdTimeFrom")
        created_to = api_input.time_param(query, "createdTimeTo")
        prefix = api_input.id_prefix(query)
        rows = [
            row
            async for row in self.store.query_instances(
                statuses=statuses or None,
                created_from=created_from,
                created_to=created_to,
                prefix=prefix,
            )
        ]
        rows.sort(key=lambda r: (r.get("CreatedTime") or datetime.min, r["PartitionKey"]))
        return rows

    async def list_instances(self, request: web.Request) -> web.Response:
        # `top` is the page size; without it, one page holds every match.
        top = api_input.count(request.query, "top", 1, 100_000)
        start = api_input.continuation(request.headers)
        show_input = api_input.flag(request.query, "showInput")
        await self.engine.wait_rows_stored()
        rows = await self._matching(request)
        top = top or max(len(rows), 1)
        page = rows[start : start + top]
        headers = {}
        if start + top < len(rows):
            headers[api_input.CONTINUATION_HEADER] = api_input.continuation_token(start + top)
        return _json([self.status_body(r, show_input, None, False) for r in page], 200, headers)

    async def purge(self, request: web.Request) -> web.Response:
        instance_id = api_input.instance_id(request.match_info["instance_id"])
        await self.engine.wait_started(instance_id)
        row = await self.store.get_instance(instance_id)
        if row is None:
            return _not_found(instance_id)
        if row.get("RuntimeStatus") not in TERMINAL_STATUSES:
            return _error(
                400,
                f"Instance '{instance_id}' is {row.get('RuntimeStatus')}: only completed, "
                "failed or terminated instances can be purged (terminate it first).",
            )
        self.engine.forget_final_row(instance_id)
        await self.store.delete_instance(instance_id)
        return _json({"instancesDeleted": 1})

    async def purge_many(self, request: web.Request) -> web.Response:
        if not request.query.get("createdTimeFrom"):
            return _error(400, "createdTimeFrom is required to purge instances.")
        await self.engine.wait_rows_stored()
        rows = await self._matching(request)
        deleted = 0
        for row in rows:
            if row.get("RuntimeStatus") in TERMINAL_STATUSES:
                self.engine.forget_final_row(row["PartitionKey"])
                await self.store.delete_instance(row["PartitionKey"])
                deleted += 1
        if deleted == 0:
            return _json({"instancesDeleted": 0}, 404)
        return _json({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.Response:
        instance_id = api_input.instance_id(request.match_info["instance_id"])
        name = api_input.event_name(request.match_info["event_name"])
        data = api_input.payload_json(await request.read(), "eventData")
        return await self._send(instance_id, {"kind": "event", "name": name, "input": data})

    async def operate(self, request: web.Request) -> web.Response:
        instance_id = api_input.instance_id(request.match_info["instance_id"])
        operation = request.match_info["operation"]
        reason = api_input.text(request.query, "reason")
        if operation in ("terminate", "suspend", "resume"):
            return await self._send(instance_id, {"kind": operation, "reason": reason})
        if operation == "restart":
            return await self._restart(request, instance_id)
        if operation == "rewind":
            return await self._rewind(instance_id)
        return _error(404, f"Unknown instance operation '{operation}'.")

    async def _rewind(self, instance_id: str) -> web.Response:
        """As the extension answers: 404 unknown, 400 not failed; devhost cannot rewind."""
        await self.engine.wait_started(instance_id)
        row = await self.store.get_instance(instance_id)
        if row is None:
            return _not_found(instance_id)
        if row.get("RuntimeStatus") != "Failed":
            return _error(
                400,
                f"instanceId '{instance_id}' is {row.get('RuntimeStatus')}: the rewind "
                "operation is only supported on failed orchestration instances.",
            )
        return _error(501, "rewind is not supported by devhost (it is deprecated upstream).")

    async def _send(self, instance_id: str, message: dict[str, Any]) -> web.Response:
        try:
            await self.engine.send_message(instance_id, message)
        except EngineError as error:
            return _error(error.status, str(error))
        return web.Response(status=202)

    async def _restart(self, request: web.Request, instance_id: str) -> web.Response:
        new_id = (
            None if api_input.flag(request.query, "restartWithNewInstanceId", True) else instance_id
        )
        await self.engine.wait_started(instance_id)
        row = await self.store.get_instance(instance_id)
        if row is None:
            return _not_found(instance_id)
        try:
            started = await self.engine.start_new(row["Name"], new_id, row.get("Input"))
        except EngineError as error:
            return _error(error.status, str(error))
        return self._check_status_response(started, request)
