"""The fault switchboard: make chosen requests fail, hang or throttle, the way Azure does.

Faults select requests by op name (below) and, optionally, by a substring of the request
path (`match=`). Faults apply only to requests that passed authentication, so Key Vault's
unauthenticated challenge round trip never consumes one.

Op names (every request the fake serves is recorded in `FakeAzure.requests` with one).
Below, {ra} is `{scope}/providers/Microsoft.Authorization/roleAssignments` and {job} is
`/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.App/jobs/{name}`:

    msi.token                          GET    /msi/token (managed identity)

    arm.resource_groups.put            PUT    /subscriptions/{s}/resourcegroups/{rg}
    arm.resource_groups.get            GET    ...same
    arm.resource_groups.head           HEAD   ...same (resource_groups.check_existence)
    arm.resource_groups.delete         DELETE ...same (long-running: Location polling)
    arm.resource_groups.list           GET    /subscriptions/{s}/resourcegroups
    arm.resources.list                 GET    /subscriptions/{s}[/resourcegroups/{rg}]/resources
    arm.resources.get                  GET    {generic resource id}
    arm.resources.head                 HEAD   {generic resource id}
    arm.resources.delete               DELETE {generic resource id}
    arm.providers.get                  GET    /subscriptions/{s}/providers/{namespace}
    arm.role_assignments.put           PUT    {ra}/{name}
    arm.role_assignments.get           GET    {ra}/{name}
    arm.role_assignments.delete        DELETE {ra}/{name}
    arm.role_assignments.list          GET    {ra}
    arm.jobs.put                       PUT    {job} (long-running)
    arm.jobs.get                       GET    {job}
    arm.jobs.list                      GET    {group}/providers/Microsoft.App/jobs
    arm.jobs.delete                    DELETE {job} (long-running)
    arm.jobs.start                     POST   {job}/start (long-running)
    arm.jobs.stop_execution            POST   {job}/executions/{execution}/stop (long-running)
    arm.jobs.executions.list           GET    {job}/executions
    arm.jobs.execution.get             GET    {job}/executions/{execution}
    arm.operations.get                 GET    long-running operation status / result URLs

    graph.applications.patch           PATCH  /v1.0/applications(uniqueName='{u}') (upsert)
    graph.applications.get             GET    /v1.0/applications/{id}, (uniqueName='u'), (appId='a')
    graph.applications.list            GET    /v1.0/applications
    graph.applications.delete          DELETE any of the addressing forms
    graph.applications.add_password    POST   .../addPassword
    graph.service_principals.post      POST   /v1.0/servicePrincipals
    graph.service_principals.get       GET    /v1.0/servicePrincipals/{id}, (appId='a')
    graph.service_principals.list      GET    /v1.0/servicePrincipals
    graph.service_principals.delete    DELETE /v1.0/servicePrincipals/{id}, (appId='a')

    keyvault.secrets.put               PUT    /secrets/{name}
    keyvault.secrets.get               GET    /secrets/{name}[/{version}]
    keyvault.secrets.delete            DELETE /secrets/{name}
    keyvault.secrets.list              GET    /secrets
    keyvault.deleted_secrets.get       GET    /deletedsecrets/{name}
    keyvault.deleted_secrets.purge     DELETE /deletedsecrets/{name}
    keyvault.deleted_secrets.list      GET    /deletedsecrets

    unknown                            anything else (answered 404, naming the path)

Throttling and early retries: `throttle(op, times, retry_after)` answers the next `times`
matching requests 429 with `Retry-After`. Each throttle remembers when it last fired; a later
matching request that arrives (by the fake's clock) less than `retry_after` seconds after that
is appended to `FakeAzure.early_requests`. Early detection is independent of serving: an early
request is still throttled if the rule has throttles left, and served normally otherwise.
Note that azure-core's RetryPolicy retries any 4xx/5xx that carries Retry-After (PATCH and
POST included) and sleeps Retry-After seconds of real time; it gives up after 3 status retries.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .records import RequestRecord

OPS: frozenset[str] = frozenset(
    {
        "msi.token",
        "arm.resource_groups.put",
        "arm.resource_groups.get",
        "arm.resource_groups.head",
        "arm.resource_groups.delete",
        "arm.resource_groups.list",
        "arm.resources.list",
        "arm.resources.get",
        "arm.resources.head",
        "arm.resources.delete",
        "arm.providers.get",
        "arm.role_assignments.put",
        "arm.role_assignments.get",
        "arm.role_assignments.delete",
        "arm.role_assignments.list",
        "arm.jobs.put",
        "arm.jobs.get",
        "arm.jobs.list",
        "arm.jobs.delete",
        "arm.jobs.start",
        "arm.jobs.stop_execution",
        "arm.jobs.executions.list",
        "arm.jobs.execution.get",
        "arm.operations.get",
        "graph.applications.patch",
        "graph.applications.get",
        "graph.applications.list",
        "graph.applications.delete",
        "graph.applications.add_password",
        "graph.service_principals.post",
        "graph.service_principals.get",
        "graph.service_principals.list",
        "graph.service_principals.delete",
        "keyvault.secrets.put",
        "keyvault.secrets.get",
        "keyvault.secrets.delete",
        "keyvault.secrets.list",
        "keyvault.deleted_secrets.get",
        "keyvault.deleted_secrets.purge",
        "keyvault.deleted_secrets.list",
    }
)
"""Every op name the fake assigns (besides "unknown")."""

LRO_OPS: frozenset[str] = frozenset(
    {
        "arm.resource_groups.delete",
        "arm.jobs.put",
        "arm.jobs.delete",
        "arm.jobs.start",
        "arm.jobs.stop_execution",
    }
)
"""Ops that answer with a long-running operation (what `fail_lro` can fail)."""

# Fault kinds consumed by the services themselves (the rest act in the server).
PRINCIPAL_NOT_FOUND = "principal_not_found"
NO_BACKING_APPLICATION = "no_backing_application"
ANOTHER_OPERATION = "another_operation"
FAIL_LRO = "fail_lro"
FAIL_EXECUTION_START = "fail_execution_start"
_THROTTLE = "throttle"
_HANG = "hang"


@dataclass
class _Rule:
    kind: str
    op: str
    match: str | None
    remaining: float
    retry_after: float = 0.0
    last_fired: float | None = None
    release: threading.Event = field(default_factory=threading.Event)
    hung: bool = False

    def selects(self, op: str, path: str) -> bool:
        return op == self.op and (self.match is None or self.match in path)


class Faults:
    """Programmable failures. Obtain it as `FakeAzure.faults`; see the module docstring."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hang_arrived = threading.Condition(self._lock)
        self._rules: list[_Rule] = []
        self._early: list[RequestRecord] = []
        self._stopping = False

    # -- the switchboard -----------------------------------------------------------------

    def throttle(
        self, op: str, times: int = 1, retry_after: float = 2.0, match: str | None = None
    ) -> None:
        """Answer the next `times` matching requests 429 with `Retry-After: ceil(retry_after)`."""
        self._add(_Rule(_THROTTLE, _known(op), match, times, retry_after=retry_after))

    def principal_not_found(self, times: int = 1) -> None:
        """Fail the next `times` role-assignment PUTs with 400 PrincipalNotFound, even if the
        principal exists (Entra replication delay). A huge `times` means always."""
        self._add(_Rule(PRINCIPAL_NOT_FOUND, "arm.role_assignments.put", None, times))

    def no_backing_application(self, times: int = 1) -> None:
        """Fail the next `times` service-principal creations with NoBackingApplicationObject."""
        self._add(_Rule(NO_BACKING_APPLICATION, "graph.service_principals.post", None, times))

    def another_operation(self, op: str, times: int = 1, match: str | None = None) -> None:
        """Answer the next `times` matching requests 409 RetryableErrorDueToAnotherOperation."""
        self._add(_Rule(ANOTHER_OPERATION, _known(op), match, times))

    def fail_lro(self, op: str, times: int = 1, match: str | None = None) -> None:
        """Make the next `times` long-running operations started by `op` end Failed
        (ContainerAppOperationError). A failed jobs.put leaves the job provisioningState
        Failed; other failed operations leave the state as it was."""
        if op not in LRO_OPS:
            raise ValueError(f"{op!r} is not long-running; choose one of {sorted(LRO_OPS)}")
        self._add(_Rule(FAIL_LRO, op, match, times))

    def fail_execution_start(self, times: int = 1) -> None:
        """Make the next `times` job executions go straight to status Failed (the simulated
        agent does not run)."""
        self._add(_Rule(FAIL_EXECUTION_START, "arm.jobs.start", None, times))

    def hang(self, op: str, match: str | None = None) -> threading.Event:
        """Block the next matching request until the returned event is set. Then it is served
        normally, or dropped (no state change, no answer) if its client has disconnected."""
        rule = _Rule(_HANG, _known(op), match, 1)
        self._add(rule)
        return rule.release

    def wait_hanging(self, op: str, timeout: float = 30.0) -> None:
        """Block until a request for `op` is held by a hang fault; TimeoutError otherwise."""
        with self._hang_arrived:
            arrived = self._hang_arrived.wait_for(
                lambda: any(r.kind == _HANG and r.op == op and r.hung for r in self._rules),
                timeout=timeout,
            )
        if not arrived:
            raise TimeoutError(f"no {op} request reached its hang fault within {timeout}s")

    def clear(self) -> None:
        """Remove all faults (releasing any hung request) and forget throttle history.
        Requests already in `early_requests` stay there."""
        with self._lock:
            rules, self._rules = self._rules, []
        for rule in rules:
            rule.release.set()

    @property
    def early_requests(self) -> list[RequestRecord]:
        """Requests that came before the Retry-After of a throttle that matched them."""
        with self._lock:
            return list(self._early)

    # -- used by the server and the services -----------------------------------------------

    def throttled(self, op: str, path: str, record: RequestRecord) -> float | None:
        """Note early retries; if a throttle fires for this request, its Retry-After."""
        now = self._clock()
        with self._lock:
            throttles = [r for r in self._rules if r.kind == _THROTTLE and r.selects(op, path)]
            if any(
                r.last_fired is not None and now < r.last_fired + r.retry_after for r in throttles
            ):
                self._early.append(record)
            for rule in throttles:
                if rule.remaining > 0:
                    rule.remaining -= 1
                    rule.last_fired = now
                    return rule.retry_after
        return None

    def take(self, kind: str, op: str, path: str = "") -> bool:
        """Consume one occurrence of a fault of `kind` for this request, if one is armed."""
        with self._lock:
            for rule in self._rules:
                if rule.kind == kind and rule.remaining > 0 and rule.selects(op, path):
                    rule.remaining -= 1
                    return True
        return False

    def hold_if_hung(self, op: str, path: str) -> bool:
        """Block while a hang fault holds this request; True if it was held (then released)."""
        with self._lock:
            rule = next(
                (
                    r
                    for r in self._rules
                    if r.kind == _HANG and r.remaining > 0 and r.selects(op, path)
                ),
                None,
            )
            if rule is None:
                return False
            rule.remaining = 0
            rule.hung = True
            self._hang_arrived.notify_all()
        rule.release.wait()
        return True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def release_all(self) -> None:
        """On shutdown: let every hung request go (they are then dropped)."""
        self._stopping = True
        with self._lock:
            rules = list(self._rules)
        for rule in rules:
            rule.release.set()

    def _add(self, rule: _Rule) -> None:
        if rule.remaining < 0 or (math.isnan(rule.remaining)):
            raise ValueError("times must be >= 0")
        with self._lock:
            self._rules.append(rule)


def _known(op: str) -> str:
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; the fake's ops are listed in faults.py")
    return op
