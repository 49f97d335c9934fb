"""Local mode: each step stands for its Azure CLI command and is acted out on the storage account.

`creates` makes a tagged container/table/queue, `uses` writes to it, `deletes` removes it.
Nothing is run; every step succeeds unless the storage account says otherwise (and keeps
saying it past a short outage: see agent/retrying.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from azure.core.exceptions import AzureError

from agent.actions import Created, Outcome, Report, RunStep, Step
from agent.contract import Contract
from agent.retrying import CLIENT_OPTIONS, describe, with_retries
from agent.scrub import Scrubber
from haymaker.naming import LOCAL_KINDS, iso_utc, local_resource_name
from haymaker.providers.local_cloud import LocalCloud
from haymaker.providers.local_uses import SignedQueue, SignedUses
from haymaker.secret_store import LocalSecretStore

# Real seconds a step waits out storage that does not answer before it counts as failed:
# room for a few calls that each time out (CLIENT_OPTIONS' read_timeout), not only for a
# refused connection. Azurite writes every queue message (an agent's events, its queue
# uses) one at a time with an fdatasync each, so on a busy disk a queue call can wait its
# turn for tens of seconds and then be answered: the step was never at fault.
STEP_PATIENCE_SECONDS = 90.0


def signed_queue(connection_string: str, queue: str) -> SignedQueue | None:
    """The run's queue over signed requests, where the connection string allows them (an
    account key over http: Azurite's); None for others (the SDK's client serves those)."""
    uses = SignedUses.for_connection(connection_string)
    return None if uses is None else SignedQueue(uses, queue)


class LocalActions:
    cleans_up_after_failure = False
    acts_out_locally = True

    def __init__(self, contract: Contract, scrubber: Scrubber) -> None:
        self._contract = contract
        self._cloud = LocalCloud(contract.storage or "", CLIENT_OPTIONS)
        self._scrubber = scrubber

    def prepare(self) -> None:
        """Fetch the agent's own secret by reference: proves the identity hand-off works."""
        contract = self._contract
        if contract.state_dir is None:  # the contract requires it in local mode
            raise RuntimeError("local mode needs HAYMAKER_STATE_DIR")
        secret = LocalSecretStore(contract.state_dir).get(contract.secret_ref)
        if not secret:
            raise RuntimeError(f"no credential under secret reference {contract.secret_ref}")
        self._scrubber.hide(secret)
        print(f"loaded credential {contract.secret_ref}", flush=True)
        print(
            "local mode: each command is acted out on the storage account, not run against Azure",
            flush=True,
        )

    def resolve(self, ref: Mapping[str, Any], name: str) -> dict[str, str]:
        """Kind and name in Azure terms and in the local cloud's."""
        local_kind = str(ref.get("local_kind") or ref["kind"])
        if local_kind not in LOCAL_KINDS:
            raise ValueError(f"resource {ref!r} has no local kind among {LOCAL_KINDS}")
        contract = self._contract
        return {
            "kind": str(ref["kind"]),
            "name": name,
            "local_kind": local_kind,
            "local_name": local_resource_name(local_kind, contract.run_id, contract.agent_id, name),
        }

    def command(self, command: str) -> str:
        return command

    def run(self, step: Step, timeout: float) -> Outcome:
        """Do the step's effect on the local cloud.

        Storage that is away is waited out for up to `STEP_PATIENCE_SECONDS`; an error
        that remains is the step's failure (an Outcome, as a failing command would be), and
        the lifecycle decides what it means in this phase.
        """
        resource = step.resource
        if resource is None:
            return Outcome(0)
        kind, local_name = resource["local_kind"], resource["local_name"]
        action: Callable[[], object]
        if step.effect == "creates":
            action = partial(self._cloud.create, kind, local_name, self._contract.tags)
        elif step.effect == "deletes":
            action = partial(self._cloud.delete, kind, local_name)
        else:
            activity = {"phase": step.phase, "step": step.name, "at": iso_utc(datetime.now(UTC))}
            # Each use of a step replaces its last one: the resource stays the same size.
            key = hashlib.sha256(f"{step.phase}\n{step.name}".encode()).hexdigest()[:32]
            action = partial(self._cloud.act, kind, local_name, activity, key)
        try:
            with_retries(action, min(timeout, STEP_PATIENCE_SECONDS), f"step {step.name!r}")
        except AzureError as error:
            return Outcome(1, error=describe(error))
        return Outcome(0)

    def remove_leftovers(self, created: Created, run: RunStep, report: Report) -> list[str]:
        """Delete what cleanup steps did not, newest first: an agent leaves nothing behind."""
        problems: list[str] = []
        for key, resource in reversed(list(created.items())):
            kind, local_name = resource["local_kind"], resource["local_name"]
            try:
                with_retries(
                    partial(self._cloud.delete, kind, local_name),
                    STEP_PATIENCE_SECONDS,
                    f"delete {kind} {local_name}",
                )
            except AzureError as error:
                problems.append(f"{kind} {local_name}: {describe(error)}")
                continue
            report("resource_deleted", **resource)
            del created[key]
        return problems

    def close(self) -> None:
        pass
