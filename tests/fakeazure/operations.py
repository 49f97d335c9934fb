"""Long-running ARM operations: the status and result URLs that azure-mgmt-core's ARMPolling polls.

Two styles, as ARM uses them:

- Azure-AsyncOperation (Container Apps jobs): the response carries `Azure-AsyncOperation`
  (a status URL answering `{"status": "InProgress" | "Succeeded" | "Failed", "error"?}`) and,
  for POST/DELETE, `Location` (a result URL: 202 while running, then 200 with the result).
  ARMPolling polls the status URL; after a PUT it GETs the resource, after a POST it GETs
  the Location URL and deserializes that body (e.g. the JobExecutionBase of a job start).
- Location only (resource group delete): the result URL answers 202, then 200 (or the error).

Both carry `Retry-After: 1` (LRO_RETRY_AFTER): an operation that reports InProgress once
costs one second of real time. Not 0: azure-core treats Retry-After 0 as absent and then
waits the client's `polling_interval` (default 30 s). Set `FakeAzure.lro_in_progress_polls
= 0` for operations that finish on the first poll. (A fractional Retry-After is no way out:
the generated clients parse Retry-After as an int and fail on "0.5".)
"""

from __future__ import annotations

import uuid

from .state import Operation, State
from .wire import JSON, ApiError, Request, Response, Route

# Seconds clients wait between polls of an operation in progress.
LRO_RETRY_AFTER = "1"


class Operations:
    """The operations table and its URLs (under /subscriptions/{s}/...)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def start(
        self,
        request: Request,
        *,
        location: str = "eastus",
        error: JSON | None = None,
        result: JSON | None = None,
        with_result_url: bool = True,
        location_only: bool = False,
    ) -> dict[str, str]:
        """Record a new operation; return the response headers that announce it."""
        operation_id = str(uuid.uuid4())
        with self.state.lock:
            self.state.operations[operation_id] = Operation(
                error=error, result=result, in_progress_polls=self.state.lro_in_progress_polls
            )
        version = f"?api-version={request.param('api-version')}"
        base = f"{request.base_url}{self.state.subscription_scope}"
        if location_only:
            return {
                "Location": f"{base}/operationresults/{operation_id}{version}",
                "Retry-After": LRO_RETRY_AFTER,
            }
        region = location.replace(" ", "").lower()
        prefix = f"{base}/providers/Microsoft.App/locations/{region}"
        status_url = f"{prefix}/containerappOperationStatuses/{operation_id}{version}"
        headers = {"Azure-AsyncOperation": status_url, "Retry-After": LRO_RETRY_AFTER}
        if with_result_url:
            headers["Location"] = f"{prefix}/containerappOperationResults/{operation_id}{version}"
        return headers

    def route(self, request: Request, rest: list[str]) -> Route | None:
        """Routes for the operation URLs; `rest` is the path after /subscriptions/{s}."""
        if request.method != "GET":
            return None
        lower = [part.lower() for part in rest]
        if len(rest) == 2 and lower[0] == "operationresults":
            return Route("arm.operations.get", lambda r: self._result(r, rest[1]))
        if len(rest) == 6 and lower[:3] == ["providers", "microsoft.app", "locations"]:
            if lower[4] == "containerappoperationstatuses":
                return Route("arm.operations.get", lambda r: self._status(r, rest[5]))
            if lower[4] == "containerappoperationresults":
                return Route("arm.operations.get", lambda r: self._result(r, rest[5]))
        return None

    def _find(self, operation_id: str) -> Operation:
        operation = self.state.operations.get(operation_id)
        if operation is None:
            raise ApiError(404, "OperationNotFound", f"Operation '{operation_id}' was not found.")
        return operation

    def _status(self, request: Request, operation_id: str) -> Response:
        with self.state.lock:
            operation = self._find(operation_id)
            done = operation.poll()
            body: JSON = {
                "id": "/" + "/".join(request.segments),
                "name": operation_id,
                "status": "InProgress",
                "startTime": self.state.now(),
            }
            if done:
                body["status"] = "Failed" if operation.error else "Succeeded"
                body["endTime"] = self.state.now()
                if operation.error:
                    body["error"] = operation.error
                return Response.json(200, body)
            return Response.json(200, body, {"Retry-After": LRO_RETRY_AFTER})

    def _result(self, request: Request, operation_id: str) -> Response:
        with self.state.lock:
            operation = self._find(operation_id)
            if not operation.poll():
                again = (
                    f"{request.base_url}{request.path}?api-version={request.param('api-version')}"
                )
                return Response.empty(202, {"Location": again, "Retry-After": LRO_RETRY_AFTER})
            if operation.error:
                error = operation.error
                raise ApiError(409, str(error["code"]), str(error["message"]))
            if operation.result is None:
                return Response.empty(200)
            return Response.json(200, operation.result)
