"""Live mode: each step's Azure CLI command runs for real, signed in as the agent's own identity.

Everything the agent creates carries the run's four tags: scenario create commands pass
`--tags {tags}`, and a create command of a group known to take `--tags` that has none
gets them added. After the cleanup steps, whatever still carries the agent's tag in its
resource group is deleted (the orchestrator deletes the whole group afterwards anyway).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agent.actions import Created, Outcome, Report, RunStep, Step
from agent.azure_cli import NOT_FOUND, AzureCli, CliResult
from agent.contract import Contract, ServicePrincipal
from haymaker.naming import TAG_AGENT

# Command groups whose `create` takes `--tags` (an explicit list: adding `--tags` where the
# CLI does not know it would fail the command). Child resources without tags of their own
# (storage containers/queues/tables, event hubs, Cosmos DB databases and containers, NSG
# rules, peerings, federated credentials, ...) are deliberately not here.
TAGGABLE_GROUPS = frozenset(
    {
        "group",
        "storage account",
        "cognitiveservices account",
        "vm",
        "network vnet",
        "network nsg",
        "network public-ip",
        "network private-dns zone",
        "webapp",
        "functionapp",
        "appservice plan",
        "cosmosdb",
        "keyvault",
        "keyvault key",
        "monitor log-analytics workspace",
        "containerapp",
        "containerapp env",
        "acr",
        "eventhubs namespace",
        "relay namespace",
        "identity",
    }
)
# Scenario seconds (divided by the time scale) between sign-in attempts: a new client
# secret and new role assignments take a while to replicate.
SIGN_IN_WAITS = (10.0, 30.0, 60.0)
SIGN_IN_TIMEOUT = 120.0
SIGN_OUT_TIMEOUT = 60.0
LEFTOVERS_STEP = "Remove leftover resources"


class SignInError(RuntimeError):
    """The agent could not sign in as its own identity."""


def command_group(argv: Sequence[str]) -> tuple[str, str] | None:
    """(group, verb) of an `az` command: `az storage account create -n x` -> ('storage account',
    'create'); None for anything else."""
    if not argv or argv[0] != "az":
        return None
    words: list[str] = []
    for token in argv[1:]:
        if token.startswith("-"):
            break
        words.append(token)
    if not words:
        return None
    return " ".join(words[:-1]), words[-1]


def with_tags(command: str, tags: Mapping[str, str]) -> str:
    """`command`, with `--tags` added when it creates something taggable and has none."""
    argv = shlex.split(command)
    parsed = command_group(argv)
    if not tags or parsed is None:
        return command
    group, verb = parsed
    if verb != "create" or group not in TAGGABLE_GROUPS:
        return command
    if any(token == "--tags" or token.startswith("--tags=") for token in argv):
        return command
    return f"{command} --tags " + " ".join(shlex.quote(f"{k}={v}") for k, v in tags.items())


def resource_type(resource_id: str) -> str:
    """`Microsoft.Network/virtualNetworks/subnets` from a (possibly nested) resource id."""
    parts = resource_id.strip("/").split("/")
    lowered = [part.lower() for part in parts]
    if "providers" not in lowered:
        return "resource"
    start = len(lowered) - lowered[::-1].index("providers")
    rest = parts[start:]
    return "/".join([rest[0], *rest[1::2]]) if rest else "resource"


class LiveActions:
    cleans_up_after_failure = True
    acts_out_locally = False

    def __init__(self, contract: Contract, cli: AzureCli) -> None:
        if contract.principal is None:  # the contract requires it in live mode
            raise ValueError("live mode needs the agent's service principal")
        self._contract = contract
        self._principal: ServicePrincipal = contract.principal
        self._cli = cli
        self._signed_in = False

    def prepare(self) -> None:
        """Sign in as the agent's own service principal and select its subscription."""
        principal = self._principal
        print(
            f"credential: {self._contract.secret_ref} (its value arrives as AZURE_CLIENT_SECRET)",
            flush=True,
        )
        self._retry("az login", lambda: self._cli.login(principal, SIGN_IN_TIMEOUT))
        self._signed_in = True
        set_subscription = ["az", "account", "set", "--subscription", principal.subscription_id]
        self._retry(
            "az account set", lambda: self._cli.run(set_subscription, SIGN_IN_TIMEOUT, echo=True)
        )

    def resolve(self, ref: Mapping[str, Any], name: str) -> dict[str, str]:
        return {"kind": str(ref["kind"]), "name": name}

    def command(self, command: str) -> str:
        return with_tags(command, self._contract.tags)

    def run(self, step: Step, timeout: float) -> Outcome:
        return self._cli.run(shlex.split(step.command), timeout).outcome()

    def remove_leftovers(self, created: Created, run: RunStep, report: Report) -> list[str]:
        """Delete what still carries the agent's tag in its resource group."""
        tag = f"{TAG_AGENT}={self._contract.agent_id}"
        listing = run(
            Step(
                "cleanup",
                LEFTOVERS_STEP,
                f"az resource list --resource-group {shlex.quote(self._contract.resource_group)}"
                f" --tag {shlex.quote(tag)} --query '[].id' --output tsv",
            )
        )
        if not listing.ok:
            return [_failure(f"listing {tag} resources", listing)]
        pending = [line.strip() for line in listing.output.splitlines() if line.strip()]
        failures: list[tuple[str, Outcome]] = []
        # Twice: a resource another one depends on (a NIC of a VM) goes on the second pass.
        for _ in range(2):
            failures = []
            for resource_id in pending:
                command = f"az resource delete --ids {shlex.quote(resource_id)}"
                outcome = run(Step("cleanup", LEFTOVERS_STEP, command))
                if outcome.ok:
                    report("resource_deleted", **_deleted(resource_id, created))
                else:
                    failures.append((resource_id, outcome))
            pending = [resource_id for resource_id, _ in failures]
            if not pending:
                break
        left = ", ".join(f"{r['kind']} {r['name']}" for r in created.values())
        if left:
            print(f"not found by tag, left to the resource group's deletion: {left}", flush=True)
        return [_failure(f"deleting {resource_id}", outcome) for resource_id, outcome in failures]

    def close(self) -> None:
        """Sign out (a failure does not matter: the config dir goes anyway)."""
        try:
            if self._signed_in:
                self._cli.run(["az", "logout"], SIGN_OUT_TIMEOUT, echo=True)
        finally:
            self._cli.close()

    def _retry(self, what: str, attempt: Callable[[], CliResult]) -> None:
        for wait in (*SIGN_IN_WAITS, None):
            result = attempt()
            if result.exit_code == 0:
                return
            if wait is None or result.exit_code == NOT_FOUND:
                raise SignInError(
                    f"{what} failed with exit code {result.exit_code}: {result.reason()}"
                )
            seconds = wait / self._contract.time_scale
            print(f"{what} failed (exit code {result.exit_code}); again in {seconds:.1f}s")
            time.sleep(seconds)


def _deleted(resource_id: str, created: Created) -> dict[str, str]:
    """The event fields for a deleted leftover: as it was created, when the agent created it.
    (`resource_id`, not `id`: an event's `id` is its own, for deduplication.)"""
    name = resource_id.rstrip("/").rsplit("/", 1)[-1]
    for key, resource in created.items():
        if resource["name"].lower() == name.lower():
            del created[key]
            return {**resource, "resource_id": resource_id}
    return {"kind": resource_type(resource_id), "name": name, "resource_id": resource_id}


def _failure(what: str, outcome: Outcome) -> str:
    detail = f": {outcome.error}" if outcome.error else ""
    return f"{what} failed with exit code {outcome.exit_code}{detail}"
