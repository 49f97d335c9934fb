"""The agent's contract, read from the environment and checked before anything runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from haymaker.naming import parse_iso_utc, validate_agent_id, validate_run_id

PHASES = ("deploy", "operate", "cleanup")
REQUIRED = (
    "HAYMAKER_RUN_ID",
    "HAYMAKER_AGENT_ID",
    "HAYMAKER_SCENARIO",
    "HAYMAKER_DEADLINE",
    "HAYMAKER_RESOURCE_GROUP",
    "HAYMAKER_TAGS",
    "HAYMAKER_EVENTS_QUEUE",
    "HAYMAKER_SECRET_REF",
    "HAYMAKER_STATE_DIR",
    "AzureWebJobsStorage",
)


class ContractError(ValueError):
    """The environment does not hold a usable contract; the message names the variable."""


@dataclass(frozen=True)
class Contract:
    run_id: str
    agent_id: str
    scenario: dict[str, Any]
    deadline: datetime
    resource_group: str
    tags: dict[str, str]
    events_queue: str
    secret_ref: str
    state_dir: Path
    # A connection string holds the account key: keep it out of any repr or log line.
    storage: str = field(repr=False)
    location: str = "eastus"
    time_scale: float = 1.0
    max_wall_seconds: float | None = None
    fail_at: str | None = None
    silent: bool = False
    exit_file: Path | None = None
    # The host's clock (devhost's /admin/host/clock): under its virtual clock, the
    # deadline is in the host's time, not the machine's.
    clock_url: str | None = None

    @property
    def scenario_id(self) -> str:
        return str(self.scenario["id"])

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Contract:
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise ContractError(f"missing environment variables: {', '.join(missing)}")
        agent_id = env["HAYMAKER_AGENT_ID"]
        try:
            validate_run_id(env["HAYMAKER_RUN_ID"])
            validate_agent_id(agent_id)
            deadline = parse_iso_utc(env["HAYMAKER_DEADLINE"])
        except ValueError as error:
            raise ContractError(str(error)) from None
        scenario = _json_object(env, "HAYMAKER_SCENARIO")
        if not scenario.get("id") or not all(isinstance(scenario.get(p), list) for p in PHASES):
            raise ContractError("HAYMAKER_SCENARIO needs an id and deploy/operate/cleanup lists")
        exit_file = env.get("HAYMAKER_EXIT_FILE")
        return cls(
            run_id=env["HAYMAKER_RUN_ID"],
            agent_id=agent_id,
            scenario=scenario,
            deadline=deadline,
            resource_group=env["HAYMAKER_RESOURCE_GROUP"],
            tags={str(k): str(v) for k, v in _json_object(env, "HAYMAKER_TAGS").items()},
            events_queue=env["HAYMAKER_EVENTS_QUEUE"],
            secret_ref=env["HAYMAKER_SECRET_REF"],
            state_dir=Path(env["HAYMAKER_STATE_DIR"]),
            storage=env["AzureWebJobsStorage"],
            location=env.get("HAYMAKER_LOCATION") or "eastus",
            time_scale=_positive(env, "HAYMAKER_AGENT_TIME_SCALE") or 1.0,
            max_wall_seconds=_positive(env, "HAYMAKER_AGENT_MAX_WALL_SECONDS"),
            fail_at=_fail_at(env.get("HAYMAKER_AGENT_FAIL_AT", ""), agent_id),
            silent=_silent(env.get("HAYMAKER_AGENT_SILENT", ""), agent_id),
            exit_file=Path(exit_file) if exit_file else None,
            clock_url=env.get("HAYMAKER_AGENT_CLOCK_URL") or None,
        )


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    try:
        value = json.loads(env[name])
    except ValueError:
        raise ContractError(f"{name} is not JSON") from None
    if not isinstance(value, dict):
        raise ContractError(f"{name} must be a JSON object")
    return value


def _positive(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ContractError(f"{name} must be a number, got {text!r}") from None
    if value <= 0:
        raise ContractError(f"{name} must be greater than 0, got {text!r}")
    return value


def _fail_at(text: str, agent_id: str) -> str | None:
    """`deploy` (every agent) or `a01:deploy,a02:cleanup` (per agent) -> this agent's phase."""
    for item in filter(None, (part.strip() for part in text.split(","))):
        target, _, phase = item.rpartition(":")
        if phase not in PHASES:
            raise ContractError(f"HAYMAKER_AGENT_FAIL_AT: {phase!r} is not one of {PHASES}")
        if target in ("", agent_id):
            return phase
    return None


def _silent(text: str, agent_id: str) -> bool:
    """`1`/`true` (every agent) or a comma list of agent ids."""
    items = {part.strip().lower() for part in text.split(",") if part.strip()}
    return bool(items & {"1", "true", "yes", agent_id})
