"""The cloud provider interface the activities call, one method per lifecycle step.

Every method is idempotent: names derive from run id + agent id (haymaker.naming), "already
exists" on create and "not found" on delete count as success, so an activity that crashed
half-way can simply run again. Every result is a small JSON-able dict that may go into
orchestration history, so none of them ever carries a secret value: credentials travel
as references (a secret's name) that only the agent and the provider resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from haymaker.naming import TAG_AGENT, TAG_MANAGED, TAG_RUN

AgentState = Literal["running", "succeeded", "failed", "missing"]


class Identity(TypedDict):
    principal_id: str
    display_name: str
    secret_ref: str


class RoleGrant(TypedDict):
    principal_id: str
    scope: str
    role: str
    assignment_id: str


class Launch(TypedDict):
    handle: str
    pid: int
    already_launched: bool
    log: str


class AgentStatus(TypedDict, total=False):
    state: AgentState
    exit_code: int


class StopResult(TypedDict):
    was_running: bool
    state: AgentState


class Resource(TypedDict):
    kind: str
    name: str
    tags: dict[str, str]


class Removal(TypedDict):
    """What a delete pass did. `blocked` holds what a lock (or a like permanent refusal)
    kept in place: retrying cannot help, so it is reported, not raised."""

    removed: list[dict[str, str]]
    failed: list[dict[str, str]]
    blocked: NotRequired[list[dict[str, str]]]


class IdentityRemoval(TypedDict):
    """What deleting an agent's identity did. `blocked` holds role assignments a lock
    kept in place (reported, like Removal's, not raised)."""

    roles_removed: int
    secret_deleted: bool
    identity_deleted: bool
    blocked: NotRequired[list[dict[str, str]]]


class Verification(TypedDict):
    clean: bool
    left: list[dict[str, str]]


class Orphan(TypedDict):
    """A leftover of a run that is no longer active; `run` is its run id or run short."""

    kind: str
    name: str
    run: str


class RetryLater(Exception):
    """The cloud asked us to come back later: throttling with a long `Retry-After`, a
    principal not visible yet, another operation in progress.

    Activities turn it into a result the orchestration waits on with a durable timer, so a
    wait of minutes never holds an activity (or a host) busy.
    """

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(f"{reason} (retry after {seconds:.0f}s)")
        self.seconds = max(0.0, float(seconds))
        self.reason = reason

    def as_result(self) -> dict[str, Any]:
        """The activity result that tells the orchestration to wait and call again."""
        return {RETRY_LATER: {"seconds": self.seconds, "reason": self.reason[:300]}}


# The key of an activity result that asks its orchestration to wait and call again.
RETRY_LATER = "retry_later"


def check_launch_request(
    run_id: str, agent_id: str, scenario: Mapping[str, Any], tags: Mapping[str, str]
) -> None:
    """What every provider refuses to launch: an agent whose tags would hide it from
    teardown, or a scenario without an id."""
    expected = {TAG_MANAGED: "true", TAG_RUN: run_id, TAG_AGENT: agent_id}
    if any(tags.get(key) != value for key, value in expected.items()):
        raise ValueError("tags must mark this run and agent, or teardown could not find them")
    if not scenario.get("id"):
        raise ValueError("scenario has no 'id'")


class Provider(Protocol):
    """What a cloud must offer to host HayMaker agents."""

    name: str

    def create_identity(
        self, run_id: str, agent_id: str, scenario_id: str, expires_at: str
    ) -> Identity:
        """The agent's own identity and a client secret expiring at `expires_at` (ISO UTC)."""
        ...

    def grant_roles(self, run_id: str, agent_id: str, scope: str) -> RoleGrant:
        """Let the agent's identity manage its own resource group (`scope`), nothing wider."""
        ...

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
        """Start the agent unless it was started before, running or ended (a re-run activity
        must not start a second one, nor run an ended agent's scenario again).

        `report_every`: the monitors poll on the multiples of this many seconds; an agent on
        the host's clock holds its events until the wait that passes one."""
        ...

    def agent_status(self, run_id: str, agent_id: str) -> AgentStatus:
        """Whether the agent runs, ended well or badly, or was never launched."""
        ...

    def stop_agent(self, run_id: str, agent_id: str) -> StopResult:
        """Stop the agent if it runs."""
        ...

    def list_tagged_resources(self, run_id: str, agent_id: str | None = None) -> list[Resource]:
        """Everything carrying the run's tags (and the agent's, when given)."""
        ...

    def delete_tagged_resources(self, run_id: str, agent_id: str) -> Removal:
        """Delete everything tagged for the agent; failures are listed, not raised."""
        ...

    def delete_identity(self, run_id: str, agent_id: str) -> IdentityRemoval:
        """Remove the agent's role assignments, identity and secret."""
        ...

    def verify_clean(self, run_id: str, agent_id: str) -> Verification:
        """Check that nothing of the agent is left: resources, identity, roles, secret, process."""
        ...

    def list_orphans(self, active_run_ids: set[str]) -> list[Orphan]:
        """Leftovers of runs not in `active_run_ids`.

        The caller must read the active set before calling this and count every run that
        might still be provisioning as active: anything of a run missing from the set is
        treated as abandoned.
        """
        ...

    def delete_orphans(self, orphans: list[Orphan]) -> Removal:
        """Remove leftovers found by `list_orphans` (processes first, secrets last)."""
        ...

    def check(self, deep: bool) -> dict[str, Any]:
        """Health for the health endpoint: `{"provider", "ok", "checks": [...]}`."""
        ...
