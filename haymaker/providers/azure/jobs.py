"""The agent's Container Apps Job: its definition, and what its executions' states mean.

One job per agent, manual trigger, one replica, no retries: a rerun agent would act out
its scenario twice. The client secret reaches the container as a Key Vault reference the
job's managed identity resolves, so its value is in neither the job definition nor
orchestration state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from haymaker.providers.base import AgentState

# The replica may outlive the deadline by this much: time to clean up after a late start.
REPLICA_MARGIN_SECONDS = 30 * 60
SECRET_NAME = "agent-client-secret"
CPU = 1.0
MEMORY = "2Gi"
# Execution states (Container Apps: Running, Processing, Succeeded, Failed, Stopped,
# Degraded) as agent states.
_STATES: dict[str, AgentState] = {
    "running": "running",
    "processing": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "stopped": "failed",
    "degraded": "failed",
}


_SUBSCRIPTION = re.compile(r"^/subscriptions/(?P<id>[^/]+)/", re.IGNORECASE)


def environment_subscription(environment_id: str) -> str:
    """The subscription of a Container Apps environment: where its jobs must live (it may
    differ from the subscription the agents work in)."""
    match = _SUBSCRIPTION.match(environment_id)
    if match is None:
        raise ValueError(f"{environment_id!r} is not a resource id")
    return match["id"]


def job_definition(
    *,
    location: str,
    environment_id: str,
    workload_profile: str,
    image: str,
    identity_id: str,
    secret_url: str,
    env: Mapping[str, str],
    tags: Mapping[str, str],
    replica_timeout: int,
) -> dict[str, Any]:
    """The job's ARM body (wire format, as the REST API documents it)."""
    registry = image.split("/", 1)[0]
    registries = (
        [{"server": registry, "identity": identity_id}] if registry.endswith(".azurecr.io") else []
    )
    variables: list[dict[str, str]] = [{"name": k, "value": v} for k, v in env.items()]
    variables.append({"name": "AZURE_CLIENT_SECRET", "secretRef": SECRET_NAME})
    return {
        "location": location,
        "tags": dict(tags),
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity_id: {}}},
        "properties": {
            "environmentId": environment_id,
            "workloadProfileName": workload_profile,
            "configuration": {
                "triggerType": "Manual",
                "replicaTimeout": replica_timeout,
                "replicaRetryLimit": 0,
                "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1},
                "secrets": [
                    {"name": SECRET_NAME, "keyVaultUrl": secret_url, "identity": identity_id}
                ],
                "registries": registries,
            },
            "template": {
                "containers": [
                    {
                        "name": "agent",
                        "image": image,
                        "env": variables,
                        "resources": {"cpu": CPU, "memory": MEMORY},
                    }
                ]
            },
        },
    }


def replica_timeout(now: datetime, deadline: datetime) -> int:
    """Seconds the replica may run: until the deadline, plus the margin."""
    return max(60, int((deadline - now).total_seconds()) + REPLICA_MARGIN_SECONDS)


def agent_environment(
    contract: Mapping[str, Any], scenario: Mapping[str, Any], tags: Mapping[str, str]
) -> dict[str, str]:
    """The agent contract as environment variables (JSON for the structured ones)."""
    env = {key: str(value) for key, value in contract.items() if value is not None}
    env["HAYMAKER_SCENARIO"] = json.dumps(dict(scenario))
    env["HAYMAKER_TAGS"] = json.dumps(dict(tags))
    return env


def execution_state(execution: Mapping[str, Any]) -> AgentState:
    """An execution's status as the agent's state ('failed' for anything unknown)."""
    properties = execution.get("properties") or {}
    status = str(properties.get("status") or "").lower()
    return _STATES.get(status, "failed")


def latest_execution(executions: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recently started execution (jobs here start once; be safe anyway)."""
    if not executions:
        return None
    return max(executions, key=lambda e: str((e.get("properties") or {}).get("startTime") or ""))
