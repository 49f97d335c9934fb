"""The agent's contract, read from the environment and checked before anything runs.

Two modes (`HAYMAKER_AGENT_MODE`): `local` (default; the local provider's process, acting
scenarios out on a storage account) and `live` (a Container Apps Job running the Azure CLI
against Azure). See agent/__init__.py for every variable.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from haymaker.naming import parse_iso_utc, validate_agent_id, validate_run_id

PHASES = ("deploy", "operate", "cleanup")
MODES = ("local", "live")
MODE_VARIABLE = "HAYMAKER_AGENT_MODE"
COMMON_REQUIRED = (
    "HAYMAKER_RUN_ID",
    "HAYMAKER_AGENT_ID",
    "HAYMAKER_SCENARIO",
    "HAYMAKER_DEADLINE",
    "HAYMAKER_RESOURCE_GROUP",
    "HAYMAKER_TAGS",
    "HAYMAKER_EVENTS_QUEUE",
    "HAYMAKER_SECRET_REF",
)
LOCAL_REQUIRED = ("HAYMAKER_STATE_DIR", "AzureWebJobsStorage")
LIVE_REQUIRED = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_SUBSCRIPTION_ID",
)
# Local mode's full list (kept under its old name).
REQUIRED = COMMON_REQUIRED + LOCAL_REQUIRED
EVENTS_ACCOUNT_URL = "HAYMAKER_EVENTS_ACCOUNT_URL"
EVENTS_IDENTITY = "HAYMAKER_EVENTS_IDENTITY_CLIENT_ID"


class ContractError(ValueError):
    """The environment does not hold a usable contract; the message names the variable."""


# Real seconds an agent works on after its host stopped answering, unless
# HAYMAKER_AGENT_HOST_PATIENCE says otherwise (what the CLI tells a user who stops a host).
DEFAULT_HOST_PATIENCE_SECONDS = 900.0


@dataclass(frozen=True)
class ServicePrincipal:
    """The agent's own identity in live mode (its app registration and client secret)."""

    tenant_id: str
    client_id: str
    subscription_id: str
    # Injected by Container Apps from Key Vault; never in a repr, event or log line.
    client_secret: str = field(repr=False)


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
    # Local mode only: where the local secret store lives.
    state_dir: Path | None
    # A connection string holds the account key: keep it out of any repr or log line.
    # Required in local mode; in live mode, one of two ways to reach the events queue.
    storage: str | None = field(repr=False)
    location: str = "eastus"
    time_scale: float = 1.0
    max_wall_seconds: float | None = None
    fail_at: str | None = None
    silent: bool = False
    exit_file: Path | None = None
    # The host's clock (devhost's /admin/host/clock): under its virtual clock, the
    # deadline is in the host's time, not the machine's.
    clock_url: str | None = None
    # Real seconds the host's clock may stay silent before the agent gives up on it.
    host_patience: float = DEFAULT_HOST_PATIENCE_SECONDS
    # On the host's clock: seconds of its time between report moments (the multiples of
    # this since the epoch, where the host's monitors poll); operate events are held
    # until the wait that passes one. None: they go out after each round.
    report_every: float | None = None
    mode: str = "local"
    # Live mode only.
    principal: ServicePrincipal | None = None
    # Live mode's other way to the events queue: the queue service URL and the managed
    # identity (client id) that may send to it.
    events_account_url: str | None = None
    events_identity_client_id: str | None = None

    @property
    def scenario_id(self) -> str:
        return str(self.scenario["id"])

    @property
    def identity(self) -> dict[str, str]:
        """The fields every event of this agent carries."""
        return {"run_id": self.run_id, "agent_id": self.agent_id, "scenario_id": self.scenario_id}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Contract:
        mode = _mode(env)
        live = mode == "live"
        required = COMMON_REQUIRED + (LIVE_REQUIRED if live else LOCAL_REQUIRED)
        missing = [name for name in required if not env.get(name)]
        if live:
            missing += _missing_events_target(env)
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
        state_dir = env.get("HAYMAKER_STATE_DIR")
        account_url = env.get(EVENTS_ACCOUNT_URL) if live else None
        return cls(
            run_id=env["HAYMAKER_RUN_ID"],
            agent_id=agent_id,
            scenario=scenario,
            deadline=deadline,
            resource_group=env["HAYMAKER_RESOURCE_GROUP"],
            tags={str(k): str(v) for k, v in _json_object(env, "HAYMAKER_TAGS").items()},
            events_queue=env["HAYMAKER_EVENTS_QUEUE"],
            secret_ref=env["HAYMAKER_SECRET_REF"],
            state_dir=Path(state_dir) if state_dir else None,
            storage=env.get("AzureWebJobsStorage") or None,
            location=env.get("HAYMAKER_LOCATION") or "eastus",
            time_scale=_positive(env, "HAYMAKER_AGENT_TIME_SCALE") or 1.0,
            max_wall_seconds=_positive(env, "HAYMAKER_AGENT_MAX_WALL_SECONDS"),
            fail_at=_fail_at(env.get("HAYMAKER_AGENT_FAIL_AT", ""), agent_id),
            silent=_silent(env.get("HAYMAKER_AGENT_SILENT", ""), agent_id),
            exit_file=Path(exit_file) if exit_file else None,
            clock_url=env.get("HAYMAKER_AGENT_CLOCK_URL") or None,
            host_patience=_positive(env, "HAYMAKER_AGENT_HOST_PATIENCE")
            or DEFAULT_HOST_PATIENCE_SECONDS,
            report_every=_positive(env, "HAYMAKER_AGENT_REPORT_EVERY"),
            mode=mode,
            principal=_principal(env) if live else None,
            events_account_url=_account_url(account_url) if account_url else None,
            events_identity_client_id=env.get(EVENTS_IDENTITY) if account_url else None,
        )


def _mode(env: Mapping[str, str]) -> str:
    text = env.get(MODE_VARIABLE, "")
    mode = text.strip().lower() or "local"
    if mode not in MODES:
        raise ContractError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, got {text!r}")
    return mode


def _missing_events_target(env: Mapping[str, str]) -> list[str]:
    """Live mode reports through a connection string or through a managed identity.

    With both, the managed identity wins: it is the narrower grant (send to one account's
    queues, no account key).
    """
    if env.get(EVENTS_ACCOUNT_URL):
        return [] if env.get(EVENTS_IDENTITY) else [EVENTS_IDENTITY]
    if env.get("AzureWebJobsStorage"):
        return []
    return [f"AzureWebJobsStorage (or {EVENTS_ACCOUNT_URL} with {EVENTS_IDENTITY})"]


def _principal(env: Mapping[str, str]) -> ServicePrincipal:
    return ServicePrincipal(
        tenant_id=env["AZURE_TENANT_ID"],
        client_id=env["AZURE_CLIENT_ID"],
        subscription_id=env["AZURE_SUBSCRIPTION_ID"],
        client_secret=env["AZURE_CLIENT_SECRET"],
    )


def _account_url(text: str) -> str:
    url = urllib.parse.urlsplit(text.strip())
    if url.scheme not in ("https", "http") or not url.netloc:
        raise ContractError(
            f"{EVENTS_ACCOUNT_URL} must be a queue service URL like "
            f"https://<account>.queue.core.windows.net, got {text!r}"
        )
    return text.strip().rstrip("/")


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
