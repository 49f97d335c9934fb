"""Container Apps jobs (Microsoft.App/jobs) and their executions, plus a simulated agent.

Wire behavior matched to azure-mgmt-appcontainers 5.1 (api-version 2026-07-01):

- PUT job -> 201 (200 if it existed) with `Azure-AsyncOperation`; the body says
  provisioningState "InProgress"; ARMPolling polls the status, then GETs the job.
- DELETE job -> 202 with `Azure-AsyncOperation` and `Location`.
- POST .../start -> 202 with `Azure-AsyncOperation`, `Location` and a JobExecutionBase body
  `{"id", "name"}`; `jobs.begin_start(...).result()` is that JobExecutionBase, read from
  the Location URL once the operation succeeded. Its `name` is the execution name.
- POST .../executions/{e}/stop -> 202 like start; the result is None.
- Job GETs never return secret values (`configuration.secrets[].value`), as in Azure.

The simulated agent: when an execution starts, the fake does what HayMaker's agent would.
It reads the first container's env (`HAYMAKER_RESOURCE_GROUP`, `HAYMAKER_TAGS` — a JSON object;
`secretRef` entries resolve against the job's secrets) and, if that resource group exists,
creates a `Microsoft.Storage/storageAccounts` named `hm` + 10 random characters with those tags.
An execution reads "Running" for `FakeAzure.execution_reads` HTTP reads of it (GET, or being
listed), then "Succeeded".
"""

from __future__ import annotations

import copy
import json

from .armbase import (
    group_not_found,
    require_supported_api_version,
    resource_not_found,
    scope_locked,
    without_empty_tags,
)
from .faults import FAIL_EXECUTION_START, FAIL_LRO, Faults
from .odata import parse_filter
from .operations import Operations
from .state import Execution, Job, State, random_suffix
from .wire import JSON, ApiError, Request, Response, Route, page

JOB_TYPE = "Microsoft.App/jobs"
_RUNNING = "Running"


class ContainerApps:
    """Job routes (part of the ARM service)."""

    def __init__(self, state: State, faults: Faults, operations: Operations) -> None:
        self.state = state
        self.faults = faults
        self.operations = operations

    def route(self, request: Request, group: str, rest: list[str]) -> Route | None:
        """Route `.../resourceGroups/{group}/providers/Microsoft.App/jobs/{rest}`."""
        method = request.method
        lower = [part.lower() for part in rest]
        name = rest[0]
        if len(rest) == 1 and method == "PUT":
            return Route("arm.jobs.put", lambda r: self._put(r, group, name))
        if len(rest) == 1 and method == "GET":
            return Route("arm.jobs.get", lambda r: self._get(r, group, name))
        if len(rest) == 1 and method == "DELETE":
            return Route("arm.jobs.delete", lambda r: self._delete(r, group, name))
        if lower[1:] == ["start"] and method == "POST":
            return Route("arm.jobs.start", lambda r: self._start(r, group, name))
        if lower[1:] == ["executions"] and method == "GET":
            return Route("arm.jobs.executions.list", lambda r: self._list(r, group, name))
        if len(rest) < 3 or lower[1] != "executions":
            return None
        execution = rest[2]
        if len(rest) == 3 and method == "GET":
            return Route(
                "arm.jobs.execution.get", lambda r: self._get_execution(r, group, name, execution)
            )
        if lower[3:] == ["stop"] and method == "POST":
            return Route("arm.jobs.stop_execution", lambda r: self._stop(r, group, name, execution))
        return None

    # -- jobs ------------------------------------------------------------------------------

    def _put(self, request: Request, group_name: str, name: str) -> Response:
        body = request.json()
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ApiError(400, "LocationRequired", "The location property is required.")
        with self.state.lock:
            group = self.state.resource_group(group_name)
            if group is None:
                raise group_not_found(group_name)
            require_supported_api_version(request, JOB_TYPE, location)
            job_id = f"{group['id']}/providers/{JOB_TYPE}/{name}"
            existing = self.state.jobs.get(job_id.lower())
            failed = self.faults.take(FAIL_LRO, "arm.jobs.put", request.path)
            properties = copy.deepcopy(body.get("properties") or {})
            properties["provisioningState"] = "Failed" if failed else "Succeeded"
            properties.setdefault("runningState", "Ready")
            stored: JSON = {
                **copy.deepcopy(body),
                "id": existing.body["id"] if existing else job_id,
                "name": existing.body["name"] if existing else name,
                "type": JOB_TYPE,
                "properties": properties,
            }
            if existing is not None:
                existing.body = stored
            else:
                self.state.jobs[job_id.lower()] = Job(stored)
            answer = _public(stored)
            answer["properties"]["provisioningState"] = "InProgress"
        error = _operation_error(name) if failed else None
        headers = self.operations.start(
            request, location=location, error=error, with_result_url=False
        )
        return Response.json(200 if existing else 201, answer, headers)

    def list_jobs(self, request: Request, group_name: str) -> Response:
        """`GET .../resourceGroups/{group}/providers/Microsoft.App/jobs`, paged."""
        with self.state.lock:
            group = self.state.resource_group(group_name)
            if group is None:
                raise group_not_found(group_name)
            prefix = f"{group['id']}/providers/{JOB_TYPE}/".lower()
            found = [job for key, job in sorted(self.state.jobs.items()) if key.startswith(prefix)]
            shown, next_link = page(request, found, self.state.page_size)
            items = [_public(job.body) for job in shown]
        body: JSON = {"value": items}
        if next_link:
            body["nextLink"] = next_link
        return Response.json(200, body)

    def _get(self, request: Request, group_name: str, name: str) -> Response:
        with self.state.lock:
            return Response.json(200, _public(self._job(request, group_name, name).body))

    def _delete(self, request: Request, group_name: str, name: str) -> Response:
        with self.state.lock:
            job = self._job(request, group_name, name)
            job_id = job.body["id"]
            locked = self.state.lock_blocking_delete(job_id)
            if locked is not None:
                raise scope_locked(job_id, locked)
            error = None
            if self.faults.take(FAIL_LRO, "arm.jobs.delete", request.path):
                error = _operation_error(name)
            else:
                self.state.delete_tree(job_id)
            location = job.body["location"]
        return Response.empty(202, self.operations.start(request, location=location, error=error))

    def _job(self, request: Request, group_name: str, name: str) -> Job:
        """The job (caller holds the lock), or the 404 ARM gives."""
        group = self.state.resource_group(group_name)
        if group is None:
            raise group_not_found(group_name)
        require_supported_api_version(request, JOB_TYPE, group["location"])
        job = self.state.jobs.get(f"{group['id']}/providers/{JOB_TYPE}/{name}".lower())
        if job is None:
            raise resource_not_found(JOB_TYPE, name, group["name"])
        return job

    # -- executions ------------------------------------------------------------------------

    def _start(self, request: Request, group_name: str, name: str) -> Response:
        override = request.json()
        with self.state.lock:
            job = self._job(request, group_name, name)
            location = job.body["location"]
            if self.faults.take(FAIL_LRO, "arm.jobs.start", request.path):
                headers = self.operations.start(
                    request, location=location, error=_operation_error(name)
                )
                return Response.empty(202, headers)
            template = _execution_template(job.body, override)
            execution_name = f"{job.body['name']}-{random_suffix(7)}"
            failed = self.faults.take(FAIL_EXECUTION_START, "arm.jobs.start", request.path)
            execution: JSON = {
                "id": f"{job.body['id']}/executions/{execution_name}",
                "name": execution_name,
                "type": "Microsoft.App/jobs/executions",
                "properties": {
                    "status": "Failed" if failed else _RUNNING,
                    "startTime": self.state.now(),
                    "template": template,
                },
            }
            if failed:
                execution["properties"]["endTime"] = self.state.now()
            job.executions[execution_name.lower()] = Execution(execution)
            if not failed:
                self._simulate_agent(job, template)
            base: JSON = {"id": execution["id"], "name": execution_name}
        headers = self.operations.start(request, location=location, result=base)
        return Response.json(202, base, headers)

    def _simulate_agent(self, job: Job, template: JSON) -> None:
        """Create what the agent would: one storage account, tagged, in its resource group."""
        containers = template.get("containers") or []
        if not containers:
            return
        secrets = {
            s.get("name"): s.get("value")
            for s in job.body.get("properties", {}).get("configuration", {}).get("secrets") or []
        }
        env: dict[str, str] = {}
        for item in containers[0].get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif item.get("secretRef") in secrets and secrets[item["secretRef"]] is not None:
                env[item["name"]] = str(secrets[item["secretRef"]])
        group = self.state.resource_group(env.get("HAYMAKER_RESOURCE_GROUP", ""))
        if group is None:
            return
        try:
            tags = json.loads(env.get("HAYMAKER_TAGS") or "{}")
        except ValueError:
            tags = {}
        if not isinstance(tags, dict):
            tags = {}
        self.state.add_generic_resource(
            group,
            "Microsoft.Storage/storageAccounts",
            "hm" + random_suffix(10),
            {str(k): str(v) for k, v in tags.items()},
            group["location"],
        )

    def _list(self, request: Request, group_name: str, name: str) -> Response:
        status = None
        for term in parse_filter(request.param("$filter")):
            if term.kind == "eq" and term.name.lower() == "status":
                status = term.args[0].lower()
            else:
                raise ApiError(400, "InvalidFilterInQueryString", f"Unsupported '{term.name}'.")
        with self.state.lock:
            job = self._job(request, group_name, name)
            executions = list(reversed(job.executions.values()))
            if status is not None:
                executions = [
                    e for e in executions if e.body["properties"]["status"].lower() == status
                ]
            shown, next_link = page(request, executions, self.state.page_size)
            items = [self._read(execution) for execution in shown]
        body: JSON = {"value": items}
        if next_link:
            body["nextLink"] = next_link
        return Response.json(200, body)

    def _get_execution(
        self, request: Request, group_name: str, name: str, execution_name: str
    ) -> Response:
        with self.state.lock:
            execution = self._execution(request, group_name, name, execution_name)
            return Response.json(200, self._read(execution))

    def _stop(self, request: Request, group_name: str, name: str, execution_name: str) -> Response:
        with self.state.lock:
            execution = self._execution(request, group_name, name, execution_name)
            location = self._job(request, group_name, name).body["location"]
            error = None
            if self.faults.take(FAIL_LRO, "arm.jobs.stop_execution", request.path):
                error = _operation_error(name)
            elif execution.body["properties"]["status"] == _RUNNING:
                execution.body["properties"]["status"] = "Stopped"
                execution.body["properties"]["endTime"] = self.state.now()
        return Response.empty(202, self.operations.start(request, location=location, error=error))

    def _execution(
        self, request: Request, group_name: str, name: str, execution_name: str
    ) -> Execution:
        job = self._job(request, group_name, name)
        execution = job.executions.get(execution_name.lower())
        if execution is None:
            raise ApiError(
                404,
                "ResourceNotFound",
                f"Job execution '{execution_name}' of job '{name}' was not found.",
            )
        return execution

    def _read(self, execution: Execution) -> JSON:
        """Count an HTTP read of `execution`; a running one finishes after enough reads."""
        properties = execution.body["properties"]
        if properties["status"] == _RUNNING:
            execution.reads += 1
            if execution.reads > self.state.execution_reads:
                properties["status"] = "Succeeded"
                properties["endTime"] = self.state.now()
        return copy.deepcopy(execution.body)


def redacted(job: JSON) -> JSON:
    """A copy of a job without secret values (`configuration.secrets[].value`)."""
    shown = copy.deepcopy(job)
    configuration = shown.get("properties", {}).get("configuration") or {}
    for secret in configuration.get("secrets") or []:
        secret.pop("value", None)
    return shown


def _public(job: JSON) -> JSON:
    """A job as GET returns it: no secret values, no empty tags."""
    return without_empty_tags(redacted(job))


def _execution_template(job: JSON, override: JSON) -> JSON:
    """The template an execution runs: the start request's, else the job's containers."""
    if override.get("containers"):
        source = override
    else:
        source = job.get("properties", {}).get("template") or {}
    template: JSON = {"containers": copy.deepcopy(source.get("containers") or [])}
    if source.get("initContainers"):
        template["initContainers"] = copy.deepcopy(source["initContainers"])
    return template


def _operation_error(name: str) -> JSON:
    return {
        "code": "ContainerAppOperationError",
        "message": f"Failed to provision job '{name}' (fail_lro fault injected by the fake).",
    }
