"""The fake's in-memory world: one store for all services, guarded by one lock.

ARM, Graph and Key Vault share it because their behaviors cross: a role assignment needs a
service principal from Graph; deleting a resource group takes the jobs, resources and role
assignments under it. Keys are lower-cased ids/names (Azure compares them case-insensitively);
the stored JSON keeps the casing the object was created with.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .wire import JSON, iso_time, sorted_by

_LOWER_ALNUM = string.ascii_lowercase + string.digits


def random_suffix(length: int) -> str:
    """Random lowercase letters and digits, as Azure uses in generated names."""
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(length))


def under(target: str, scope: str) -> bool:
    """Whether ARM id `target` is `scope` or below it (case-insensitive, whole segments)."""
    target, scope = target.lower().rstrip("/"), scope.lower().rstrip("/")
    return target == scope or target.startswith(scope + "/")


@dataclass
class Execution:
    """A Container Apps job execution: its JSON and how often it was read over HTTP."""

    body: JSON
    reads: int = 0


@dataclass
class Job:
    """A Container Apps job: the JSON a GET returns (secrets included) and its executions."""

    body: JSON
    executions: dict[str, Execution] = field(default_factory=dict)


@dataclass
class Operation:
    """A long-running ARM operation: it reports InProgress on its first `in_progress_polls`
    polls (default 1), then its outcome.

    Its effect on the state is applied when it starts, so the world stays consistent even if
    the client never polls (crashes, or uses polling=False); only the reporting is delayed.
    """

    error: JSON | None = None
    """The ARM error it ends with, or None if it succeeds."""
    result: JSON | None = None
    """The body of the result URL once done (e.g. the JobExecutionBase of a job start)."""
    in_progress_polls: int = 1
    polls: int = 0

    def poll(self) -> bool:
        """Count a poll (of its status or result URL); True once it is finished."""
        self.polls += 1
        return self.polls > self.in_progress_polls


class State:
    """Everything the fake remembers. Hold `lock` while reading or changing anything."""

    def __init__(self, clock: Callable[[], float], subscription_id: str, tenant_id: str) -> None:
        self.clock = clock
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.lock = threading.RLock()
        self.page_size = 100
        self.execution_reads = 2
        self.lro_in_progress_polls = 1
        self.canary_prefix = "CANARY-S3CRET-"
        self.issued_secrets: list[str] = []

        self.resource_groups: dict[str, JSON] = {}
        self.resources: dict[str, JSON] = {}
        self.jobs: dict[str, Job] = {}
        self.role_assignments: dict[str, JSON] = {}
        self.locks: dict[str, str] = {}
        self.operations: dict[str, Operation] = {}
        self.applications: dict[str, JSON] = {}
        self.service_principals: dict[str, JSON] = {}
        self.secrets: dict[str, list[JSON]] = {}
        """Secret name -> its versions, oldest first (each a SecretBundle with value)."""
        self.deleted_secrets: dict[str, JSON] = {}
        """Secret name -> DeletedSecretBundle of its latest version (value kept for recovery)."""

    # -- ARM ids -------------------------------------------------------------------------------

    @property
    def subscription_scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    def resource_group_id(self, name: str) -> str:
        return f"{self.subscription_scope}/resourceGroups/{name}"

    def resource_group(self, name: str) -> JSON | None:
        return self.resource_groups.get(name.lower())

    def canonical_scope(self, scope: str) -> str | None:
        """The canonical id of an existing subscription, resource group or resource; else None."""
        scope = "/" + scope.strip("/")
        if scope.lower() == self.subscription_scope.lower():
            return self.subscription_scope
        parts = scope.strip("/").split("/")
        if len(parts) == 4 and parts[2].lower() == "resourcegroups":
            group = self.resource_group(parts[3])
            return str(group["id"]) if group else None
        found = self.resources.get(scope.lower())
        if found:
            return str(found["id"])
        job = self.jobs.get(scope.lower())
        return str(job.body["id"]) if job else None

    def now(self) -> str:
        return iso_time(self.clock())

    # -- locks and cascades --------------------------------------------------------------------

    def lock_blocking_delete(self, target: str) -> str | None:
        """The locked scope that forbids deleting `target` (at/under the lock, or — since
        deletes cascade — containing it), if any."""
        for scope in self.locks.values():
            if under(target, scope) or under(scope, target):
                return scope
        return None

    def delete_tree(self, prefix: str) -> None:
        """Remove everything at or under ARM id `prefix`: resources, jobs (with executions)
        and role assignments whose scope is there."""
        for key in [k for k in self.resources if under(k, prefix)]:
            del self.resources[key]
        for key in [k for k in self.jobs if under(k, prefix)]:
            del self.jobs[key]
        for key, assignment in list(self.role_assignments.items()):
            if under(assignment["properties"]["scope"], prefix):
                del self.role_assignments[key]

    def add_generic_resource(
        self, group: JSON, resource_type: str, name: str, tags: dict[str, str], location: str
    ) -> str:
        """Store a plain resource in `group`; return its id."""
        resource_id = f"{group['id']}/providers/{resource_type}/{name}"
        self.resources[resource_id.lower()] = {
            "id": resource_id,
            "name": name,
            "type": resource_type,
            "location": location,
            "tags": dict(tags),
        }
        return resource_id

    # -- readers for tests (deep copies, stable order) -----------------------------------------

    def listed_resources(self, prefix: str | None = None) -> list[JSON]:
        """What GET .../resources lists: plain resources and jobs, as {id,name,type,...}."""
        found = [copy.deepcopy(r) for r in self.resources.values()]
        for job in self.jobs.values():
            found.append(
                {
                    key: copy.deepcopy(job.body[key])
                    for key in ("id", "name", "type", "location", "tags")
                    if key in job.body
                }
            )
        if prefix is not None:
            found = [r for r in found if under(r["id"], prefix)]
        return sorted_by(found, "id")

    def snapshot(self) -> JSON:
        """All persistent state as JSON-able data (no logs, operations, locks or counters)."""
        jobs = []
        for job in self.jobs.values():
            body = copy.deepcopy(job.body)
            body["executions"] = [copy.deepcopy(e.body) for e in job.executions.values()]
            jobs.append(body)
        secret_versions = {
            versions[-1]["id"].rsplit("/", 2)[-2]: copy.deepcopy(versions)
            for versions in self.secrets.values()
        }
        return {
            "resource_groups": sorted_by(copy.deepcopy(list(self.resource_groups.values())), "id"),
            "resources": sorted_by(copy.deepcopy(list(self.resources.values())), "id"),
            "jobs": sorted_by(jobs, "id"),
            "role_assignments": sorted_by(
                copy.deepcopy(list(self.role_assignments.values())), "id"
            ),
            "applications": sorted_by(copy.deepcopy(list(self.applications.values())), "id"),
            "service_principals": sorted_by(
                copy.deepcopy(list(self.service_principals.values())), "id"
            ),
            "secrets": dict(sorted(secret_versions.items())),
            "deleted_secrets": sorted_by(copy.deepcopy(list(self.deleted_secrets.values())), "id"),
        }
