"""The azure provider: Entra identities, resource groups, roles and Container Apps Jobs.

Per agent:
  identity   app registration `uniqueName=haymaker-<run short>-<agent>` (idempotent by
             that name), its service principal, a client secret expiring with the run,
             stored in Key Vault; only the secret's Key Vault id leaves this module
  scope      resource group `haymaker-<run short>-<agent>-<scenario>`, tagged, and a
             Contributor assignment on it alone (name uuid5(scope, principal, role))
  agent      Container Apps Job `hm-<run short>-<agent>` in the jobs resource group,
             tagged, started once
Teardown deletes the job and everything tagged for the agent (its group included), the
role assignments on that group, the application (Graph deletes its principal) and the
secret, then lists again to verify. Transient refusals (throttling with a long wait, a
principal not visible yet, another operation in progress) raise `RetryLater`, which the
orchestration waits out on a durable timer.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.appcontainers.models import Job
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

from haymaker.naming import (
    IDENTITY_NAME_PATTERN,
    IDENTITY_PREFIX,
    SECRET_NAME_PATTERN,
    TAG_AGENT,
    TAG_MANAGED,
    TAG_RUN,
    TAG_SCENARIO,
    agent_job_name,
    application_unique_name,
    identity_display_name,
    parse_iso_utc,
    resource_group_name,
    run_short,
    secret_name,
    tags_for,
    validate_agent_id,
    validate_run_id,
)
from haymaker.providers.azure import jobs
from haymaker.providers.azure.clients import AzureClients
from haymaker.providers.azure.pipeline import describe, error_code, raise_if_retryable
from haymaker.providers.azure.resources import (
    JOB_TYPE,
    RESOURCE_GROUP_TYPE,
    TaggedResource,
    TaggedResources,
)
from haymaker.providers.base import (
    AgentStatus,
    Identity,
    IdentityRemoval,
    Launch,
    Orphan,
    Removal,
    Resource,
    RetryLater,
    RoleGrant,
    StopResult,
    Verification,
    check_launch_request,
)
from haymaker.settings import AzureSettings

log = logging.getLogger(__name__)

# Built-in role ids are the same in every tenant.
CONTRIBUTOR_ROLE_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"
ROLE_NAME = "Contributor"
_NAMESPACE = uuid.UUID("0c4f3b1e-3d2a-4f51-9a4e-6b8f1d2c7e90")
# Deletes a lock refuses: retrying cannot help until someone removes the lock.
_BLOCKING_CODES = ("ScopeLocked",)
_GROUP_SCOPE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/(?P<group>haymaker-(?P<short>[0-9a-f]{8})-a\d{2,}"
    r"(?:-[^/]*)?)$",
    re.IGNORECASE,
)
# Sweep order: agents first (they could create more), then what they made, then access.
_SWEEP_ORDER = ("job", "resource", "resource_group", "role_assignment", "identity", "secret")


class AzureProvider:
    """HayMaker's agents in an Azure subscription and Entra tenant."""

    name = "azure"

    def __init__(
        self,
        settings: AzureSettings,
        events_account_url: str,
        credential: TokenCredential | None = None,
    ) -> None:
        self._settings = settings
        self._events_account_url = events_account_url
        self._clients = AzureClients(settings, credential)
        self._tagged = TaggedResources(self._clients.resources)

    # --- identity ---------------------------------------------------------------------

    def create_identity(
        self, run_id: str, agent_id: str, scenario_id: str, expires_at: str
    ) -> Identity:
        """Application, service principal and a Key Vault-kept secret; all idempotent.

        A secret already in the vault is kept: a rerun after a crash between the password
        and the vault write adds a second password, which deleting the application removes.
        """
        graph = self._clients.graph
        unique = application_unique_name(run_id, agent_id)
        display = identity_display_name(scenario_id, run_id, agent_id)
        tags = [f"{k}={v}" for k, v in tags_for(run_id, agent_id, scenario_id).items()]
        try:
            application = graph.ensure_application(
                unique, display, tags, notes=f"HayMaker agent {agent_id} of run {run_id}"
            )
            principal = graph.ensure_service_principal(str(application["appId"]))
        except HttpResponseError as error:
            raise_if_retryable(error, f"creating identity {display}")
            raise
        name = secret_name(run_id, agent_id)
        if not self._secret_exists(name):
            password = graph.add_password(str(application["id"]), "haymaker", expires_at)
            self._store_secret(name, str(password["secretText"]), expires_at, run_id, agent_id)
        return {
            "principal_id": str(principal["id"]),
            "display_name": display,
            "secret_ref": self._secret_url(name),
        }

    def _secret_url(self, name: str) -> str:
        return f"{self._settings.key_vault_url}/secrets/{name}"

    def _secret_exists(self, name: str) -> bool:
        try:
            self._clients.secrets.get_secret(name)
        except ResourceNotFoundError:
            return False
        return True

    def _store_secret(
        self, name: str, value: str, expires_at: str, run_id: str, agent_id: str
    ) -> None:
        try:
            self._clients.secrets.set_secret(
                name,
                value,
                expires_on=parse_iso_utc(expires_at),
                content_type="client-secret",
                tags={TAG_MANAGED: "true", TAG_RUN: run_id, TAG_AGENT: agent_id},
            )
        except HttpResponseError as error:
            if error.status_code != 409:
                raise
            # The name is soft-deleted from an earlier attempt: purge it, then come back.
            self._purge_secret(name)
            raise RetryLater(5, f"secret {name} was soft-deleted; purged it") from None

    def grant_roles(self, run_id: str, agent_id: str, scope: str) -> RoleGrant:
        """Create the agent's tagged resource group, then Contributor on that group only."""
        application = self._application(run_id, agent_id)
        if application is None:
            raise LookupError(f"no identity for run {run_id!r} agent {agent_id}: create it first")
        scenario_id = _app_tags(application).get(TAG_SCENARIO, "")
        expected = resource_group_name(run_id, agent_id, scenario_id)
        group = scope.rsplit("/", 1)[-1]
        if group != expected or (scope.startswith("/") and not _GROUP_SCOPE.match(scope)):
            raise ValueError(
                f"role scope {scope!r} is not the agent's resource group {expected!r}: "
                "roles are granted on that resource group only"
            )
        principal = self._clients.graph.get_service_principal(str(application["appId"]))
        if principal is None:
            raise LookupError(f"identity {application['displayName']} has no service principal")
        principal_id = str(principal["id"])
        self._clients.resources.resource_groups.create_or_update(
            group,
            {"location": self._settings.location, "tags": tags_for(run_id, agent_id, scenario_id)},
        )
        scope_id = self._group_id(group)
        role_id = self._role_definition_id()
        assignment = _assignment_name(scope_id, principal_id, role_id)
        try:
            self._clients.authorization.role_assignments.create(
                scope_id,
                assignment,
                RoleAssignmentCreateParameters(
                    role_definition_id=role_id,
                    principal_id=principal_id,
                    principal_type="ServicePrincipal",
                ),
            )
        except HttpResponseError as error:
            if error_code(error) != "RoleAssignmentExists":
                raise_if_retryable(error, f"assigning {ROLE_NAME} on {group}")
                raise
        return {
            "principal_id": principal_id,
            "scope": scope_id,
            "role": ROLE_NAME,
            "assignment_id": f"{scope_id}/providers/Microsoft.Authorization/roleAssignments/"
            f"{assignment}",
        }

    def _application(self, run_id: str, agent_id: str) -> dict[str, Any] | None:
        return self._clients.graph.get_application(application_unique_name(run_id, agent_id))

    def _group_id(self, group: str) -> str:
        return f"/subscriptions/{self._settings.subscription_id}/resourceGroups/{group}"

    def _role_definition_id(self) -> str:
        return (
            f"/subscriptions/{self._settings.subscription_id}/providers/"
            f"Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR_ROLE_ID}"
        )

    def delete_identity(self, run_id: str, agent_id: str) -> IdentityRemoval:
        """Role assignments on the agent's group, the application, then the secret.

        An assignment a lock keeps (a lock on the agent's group covers its assignments) is
        reported in `blocked`, not raised: a retry cannot remove a lock, and the
        application and secret must go all the same.
        """
        roles = 0
        blocked: list[dict[str, str]] = []
        for assignment in self._assignments_of(run_id, agent_id):
            try:
                if self._delete_assignment(str(assignment.id)):
                    roles += 1
            except HttpResponseError as error:
                if error_code(error) not in _BLOCKING_CODES:
                    raise
                item = {"kind": "role_assignment", "name": str(assignment.id)}
                blocked.append({**item, "error": describe(error)})
        identity = self._clients.graph.delete_application(application_unique_name(run_id, agent_id))
        secret = self._delete_secret(secret_name(run_id, agent_id))
        removal: IdentityRemoval = {
            "roles_removed": roles,
            "secret_deleted": secret,
            "identity_deleted": identity,
        }
        if blocked:
            removal["blocked"] = blocked
        return removal

    def _assignments_of(self, run_id: str, agent_id: str) -> list[Any]:
        """Assignments at or under the agent's group, whoever the principal (a deleted
        principal's assignments stay behind as 'Identity not found')."""
        prefix = f"/subscriptions/{self._settings.subscription_id}/resourceGroups/" + (
            f"haymaker-{run_short(run_id)}-{validate_agent_id(agent_id)}"
        )
        return [
            a
            for a in self._clients.authorization.role_assignments.list_for_subscription()
            if _under_group(str(a.scope), prefix)
        ]

    def _delete_assignment(self, assignment_id: str) -> bool:
        try:
            deleted = self._clients.authorization.role_assignments.delete_by_id(assignment_id)
        except ResourceNotFoundError:
            return False
        return deleted is not None

    def _delete_secret(self, name: str) -> bool:
        try:
            # wait(): purging works only once the vault shows the secret as deleted.
            self._clients.secrets.begin_delete_secret(name).wait()
        except ResourceNotFoundError:
            return False
        self._purge_secret(name)
        return True

    def _purge_secret(self, name: str) -> None:
        """Purge a soft-deleted secret; without purge permission it expires on its own."""
        try:
            self._clients.secrets.purge_deleted_secret(name)
        except ResourceNotFoundError:
            pass
        except HttpResponseError as error:
            if error.status_code != 403:
                raise
            log.info("no permission to purge secret %s; it stays soft-deleted", name)

    # --- agent job --------------------------------------------------------------------

    def launch_agent(
        self,
        run_id: str,
        agent_id: str,
        scenario: Mapping[str, Any],
        deadline_iso: str,
        secret_ref: str,
        events_queue: str,
        tags: Mapping[str, str],
        report_every: int | None = None,
    ) -> Launch:
        """Define the agent's job and start one execution, unless one already exists (running or
        ended: an agent runs once). `report_every` is not passed on: a job's agent follows
        real time, not a host's clock, and sends its events as they happen."""
        check_launch_request(run_id, agent_id, scenario, tags)
        application = self._application(run_id, agent_id)
        if application is None:
            raise LookupError(f"no identity for run {run_id!r} agent {agent_id}: create it first")
        settings = self._settings
        job = agent_job_name(run_id, agent_id)
        group = settings.agent_jobs_resource_group
        existing = self._executions(run_id, agent_id)
        if existing:
            latest = jobs.latest_execution(existing) or existing[0]
            return {"handle": job, "pid": 0, "already_launched": True, "log": str(latest["name"])}
        contract = {
            "HAYMAKER_RUN_ID": run_id,
            "HAYMAKER_AGENT_ID": agent_id,
            "HAYMAKER_DEADLINE": deadline_iso,
            "HAYMAKER_RESOURCE_GROUP": resource_group_name(run_id, agent_id, str(scenario["id"])),
            "HAYMAKER_EVENTS_QUEUE": events_queue,
            "HAYMAKER_EVENTS_ACCOUNT_URL": self._events_account_url,
            "HAYMAKER_EVENTS_IDENTITY_CLIENT_ID": settings.agent_job_identity_client_id,
            "HAYMAKER_SECRET_REF": secret_ref,
            "HAYMAKER_LOCATION": settings.location,
            "HAYMAKER_AGENT_MODE": "live",
            "AZURE_TENANT_ID": settings.tenant_id,
            "AZURE_CLIENT_ID": str(application["appId"]),
            "AZURE_SUBSCRIPTION_ID": settings.subscription_id,
        }
        definition = jobs.job_definition(
            location=settings.location,
            environment_id=settings.container_apps_environment_id,
            workload_profile=settings.agent_workload_profile,
            image=settings.agent_image,
            identity_id=settings.agent_job_identity_id,
            secret_url=secret_ref,
            env=jobs.agent_environment(contract, scenario, tags),
            tags=tags,
            replica_timeout=jobs.replica_timeout(datetime.now(UTC), parse_iso_utc(deadline_iso)),
        )
        client = self._clients.container_apps
        try:
            created = client.jobs.begin_create_or_update(group, job, Job(definition)).result()
            state = str((created.get("properties") or {}).get("provisioningState") or "")
            if state.lower() != "succeeded":
                raise RuntimeError(f"job {job} provisioning ended {state or 'without a state'}")
            execution = client.jobs.begin_start(group, job).result()
        except HttpResponseError as error:
            raise_if_retryable(error, f"launching job {job}")
            raise
        return {
            "handle": job,
            "pid": 0,
            "already_launched": False,
            "log": str(execution.get("name") or ""),
        }

    def _executions(self, run_id: str, agent_id: str) -> list[Mapping[str, Any]]:
        """The job's executions; none when the job does not exist."""
        group = self._settings.agent_jobs_resource_group
        job = agent_job_name(run_id, agent_id)
        try:
            return [dict(e) for e in self._clients.container_apps.jobs_executions.list(group, job)]
        except ResourceNotFoundError:
            return []

    def agent_status(self, run_id: str, agent_id: str) -> AgentStatus:
        """The latest execution's state: a started-then-failed execution is 'failed'."""
        latest = jobs.latest_execution(self._executions(run_id, agent_id))
        if latest is None:
            return {"state": "missing"}
        return {"state": jobs.execution_state(latest)}

    def stop_agent(self, run_id: str, agent_id: str) -> StopResult:
        group = self._settings.agent_jobs_resource_group
        job = agent_job_name(run_id, agent_id)
        was_running = False
        for execution in self._executions(run_id, agent_id):
            if jobs.execution_state(execution) == "running":
                was_running = True
                self._clients.container_apps.jobs.begin_stop_execution(
                    group, job, str(execution["name"])
                ).result()
        return {"was_running": was_running, "state": self.agent_status(run_id, agent_id)["state"]}

    # --- resources --------------------------------------------------------------------

    def list_tagged_resources(self, run_id: str, agent_id: str | None = None) -> list[Resource]:
        validate_run_id(run_id)
        if agent_id is not None:
            validate_agent_id(agent_id)
        return [
            {"kind": r.type, "name": r.id, "tags": r.tags}
            for r in self._tagged.find(TAG_RUN, run_id)
            if agent_id is None or r.tags.get(TAG_AGENT) == agent_id
        ]

    def delete_tagged_resources(self, run_id: str, agent_id: str) -> Removal:
        """The job first, then resources outside the agent's groups, then the groups."""
        result: Removal = {"removed": [], "failed": [], "blocked": []}
        self._delete_job(run_id, agent_id, result)
        job_id = self._job_id(run_id, agent_id).lower()
        found = [
            TaggedResource(r["name"], r["kind"], r["tags"])
            for r in self.list_tagged_resources(run_id, agent_id)
            if r["name"].lower() != job_id
        ]
        groups = {(r.resource_group or "").lower() for r in found if r.type == RESOURCE_GROUP_TYPE}
        inside = [r for r in found if r.type != RESOURCE_GROUP_TYPE and _in(r, groups)]
        ordered = sorted(
            (r for r in found if r not in inside), key=lambda r: r.type == RESOURCE_GROUP_TYPE
        )
        for resource in ordered:
            outcome = self._delete_reporting(resource, result)
            if outcome and resource.type == RESOURCE_GROUP_TYPE:
                group = (resource.resource_group or "").lower()
                result["removed"].extend(r.as_item() for r in inside if _in(r, {group}))
        return result

    def _delete_reporting(self, resource: TaggedResource, result: Removal) -> bool:
        return _reporting(resource.as_item(), lambda: self._tagged.delete(resource), result)

    def _job_id(self, run_id: str, agent_id: str) -> str:
        subscription = jobs.environment_subscription(self._settings.container_apps_environment_id)
        group = self._settings.agent_jobs_resource_group
        return (
            f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{JOB_TYPE}/"
            f"{agent_job_name(run_id, agent_id)}"
        )

    def _delete_job(self, run_id: str, agent_id: str, result: Removal) -> None:
        """Delete the agent's job (and its executions) by name: it may live in another
        subscription than the agent's resources, where a tag search would not find it."""
        group = self._settings.agent_jobs_resource_group
        job = agent_job_name(run_id, agent_id)
        if not self._job_exists(job):
            return
        item = {"kind": JOB_TYPE, "name": self._job_id(run_id, agent_id)}
        _reporting(
            item,
            lambda: self._clients.container_apps.jobs.begin_delete(group, job).result(),
            result,
        )

    def _job_exists(self, job: str) -> bool:
        try:
            self._clients.container_apps.jobs.get(self._settings.agent_jobs_resource_group, job)
        except ResourceNotFoundError:
            return False
        return True

    def verify_clean(self, run_id: str, agent_id: str) -> Verification:
        left = [
            {"kind": r["kind"], "name": r["name"]}
            for r in self.list_tagged_resources(run_id, agent_id)
        ]
        application = self._application(run_id, agent_id)
        if application is not None:
            left.append({"kind": "identity", "name": str(application.get("displayName"))})
        for assignment in self._assignments_of(run_id, agent_id):
            left.append({"kind": "role_assignment", "name": str(assignment.id)})
        secret = secret_name(run_id, agent_id)
        if self._secret_exists(secret):
            left.append({"kind": "secret", "name": secret})
        job_id = self._job_id(run_id, agent_id)
        if job_id.lower() not in {item["name"].lower() for item in left} and self._job_exists(
            agent_job_name(run_id, agent_id)
        ):
            left.append({"kind": JOB_TYPE, "name": job_id})
        return {"clean": not left, "left": left}

    # --- sweep ------------------------------------------------------------------------

    def list_orphans(self, active_run_ids: set[str]) -> list[Orphan]:
        orphans: list[Orphan] = []
        for job in self._managed_jobs():
            run = job.tags.get(TAG_RUN, "")
            if run not in active_run_ids:
                orphans.append({"kind": "job", "name": job.id, "run": run})
        for resource in self._tagged.find(TAG_MANAGED, "true"):
            run = resource.tags.get(TAG_RUN, "")
            if run not in active_run_ids and resource.type.lower() != JOB_TYPE.lower():
                orphans.append(
                    {"kind": _sweep_kind(resource.type), "name": resource.id, "run": run}
                )
        active = {run_short(run_id) for run_id in active_run_ids}
        for application in self._clients.graph.list_applications(f"{IDENTITY_PREFIX}-"):
            match = IDENTITY_NAME_PATTERN.match(str(application.get("displayName") or ""))
            unique = str(application.get("uniqueName") or "")
            if match and unique and match["run_short"] not in active:
                orphans.append({"kind": "identity", "name": unique, "run": match["run_short"]})
        for assignment in self._clients.authorization.role_assignments.list_for_subscription():
            scope = _GROUP_SCOPE.match(str(assignment.scope))
            if scope and scope["short"] not in active:
                orphans.append(
                    {"kind": "role_assignment", "name": str(assignment.id), "run": scope["short"]}
                )
        for secret in self._clients.secrets.list_properties_of_secrets():
            found = SECRET_NAME_PATTERN.match(str(secret.name))
            if found and found["run_short"] not in active:
                orphans.append(
                    {"kind": "secret", "name": str(secret.name), "run": found["run_short"]}
                )
        return orphans

    def delete_orphans(self, orphans: list[Orphan]) -> Removal:
        """Remove leftovers, re-checking each is HayMaker's (a name alone is never trusted)."""
        result: Removal = {"removed": [], "failed": [], "blocked": []}
        tagged = {r.id.lower(): r for r in self._tagged.find(TAG_MANAGED, "true")}
        for orphan in sorted(orphans, key=_sweep_rank):
            item = {"kind": orphan["kind"], "name": orphan["name"]}
            _reporting(item, functools.partial(self._delete_orphan, orphan, tagged), result)
        return result

    def _delete_orphan(self, orphan: Orphan, tagged: Mapping[str, TaggedResource]) -> None:
        kind, name = orphan["kind"], orphan["name"]
        if kind == "job":
            job = next((j for j in self._managed_jobs() if j.id.lower() == name.lower()), None)
            if job is None:
                raise ValueError("not a HayMaker-tagged job (any more)")
            group = self._settings.agent_jobs_resource_group
            job_name = job.id.rsplit("/", 1)[-1]
            self._clients.container_apps.jobs.begin_delete(group, job_name).result()
        elif kind in ("resource", "resource_group"):
            resource = tagged.get(name.lower())
            if resource is None:
                raise ValueError("not a HayMaker-tagged resource (any more)")
            self._tagged.delete(resource)
        elif kind == "role_assignment":
            scope = name.split("/providers/Microsoft.Authorization/", 1)[0]
            if not _GROUP_SCOPE.match(scope):
                raise ValueError("not an assignment on a HayMaker resource group")
            self._delete_assignment(name)
        elif kind == "identity":
            application = self._clients.graph.get_application(name)
            if application is None:
                return
            if not IDENTITY_NAME_PATTERN.match(str(application.get("displayName") or "")):
                raise ValueError("not a HayMaker identity")
            self._clients.graph.delete_application(name)
        elif kind == "secret":
            if not SECRET_NAME_PATTERN.match(name):
                raise ValueError("not a HayMaker secret name")
            self._delete_secret(name)
        else:
            raise ValueError(f"unknown orphan kind {kind!r}")

    def _managed_jobs(self) -> list[TaggedResource]:
        """HayMaker's jobs in the jobs resource group (by their managed tag)."""
        group = self._settings.agent_jobs_resource_group
        found = []
        for job in self._clients.container_apps.jobs.list_by_resource_group(group):
            tags = dict(job.get("tags") or {})
            if tags.get(TAG_MANAGED) == "true":
                found.append(TaggedResource(str(job["id"]), JOB_TYPE, tags))
        return found

    # --- health -----------------------------------------------------------------------

    def check(self, deep: bool) -> dict[str, Any]:
        """The settings' shape always; with `deep`, each service answers with our identity."""
        checks: list[dict[str, Any]] = [{"name": "settings", "ok": True}]
        if deep:
            group = self._settings.agent_jobs_resource_group
            checks += [
                _probe("arm", lambda: _require(self._tagged.group_exists(group), group)),
                _probe("graph", self._clients.graph.ping),
                _probe(
                    "key_vault",
                    lambda: next(iter(self._clients.secrets.list_properties_of_secrets()), None),
                ),
            ]
        return {"provider": self.name, "ok": all(c["ok"] for c in checks), "checks": checks}


# --- helpers ----------------------------------------------------------------------------


def _reporting(item: dict[str, str], delete: Callable[[], Any], result: Removal) -> bool:
    """Run one delete; file it under removed, blocked (a lock) or failed."""
    try:
        delete()
    except HttpResponseError as error:
        target = "blocked" if error_code(error) in _BLOCKING_CODES else "failed"
        result[target].append({**item, "error": describe(error)})  # type: ignore[literal-required]
        return False
    except (LookupError, ValueError) as error:
        result["failed"].append({**item, "error": describe(error)})
        return False
    result["removed"].append(item)
    return True


def _assignment_name(scope: str, principal_id: str, role_id: str) -> str:
    """Deterministic, so a retried grant finds its own assignment."""
    return str(uuid.uuid5(_NAMESPACE, f"{scope.lower()}|{principal_id}|{role_id.lower()}"))


def _app_tags(application: Mapping[str, Any]) -> dict[str, str]:
    pairs = (str(tag).partition("=") for tag in application.get("tags") or [])
    return {key: value for key, sep, value in pairs if sep}


def _under_group(scope: str, group_prefix: str) -> bool:
    """Whether a scope is the agent's group (`<prefix>-<scenario>`) or inside it."""
    scope, prefix = scope.lower(), group_prefix.lower()
    if not scope.startswith(prefix):
        return False
    rest = scope[len(prefix) :]
    return rest == "" or rest.startswith("-") or rest.startswith("/")


def _in(resource: TaggedResource, groups: Iterable[str]) -> bool:
    return (resource.resource_group or "").lower() in set(groups)


def _sweep_kind(resource_type: str) -> str:
    if resource_type == RESOURCE_GROUP_TYPE:
        return "resource_group"
    return "job" if resource_type.lower() == JOB_TYPE.lower() else "resource"


def _sweep_rank(orphan: Orphan) -> int:
    kind = orphan["kind"]
    return _SWEEP_ORDER.index(kind) if kind in _SWEEP_ORDER else len(_SWEEP_ORDER)


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise LookupError(f"{what} does not exist")


def _probe(name: str, action: Any) -> dict[str, Any]:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - health reports any failure, never raises
        return {"name": name, "ok": False, "detail": describe(error)}
    return {"name": name, "ok": True}
