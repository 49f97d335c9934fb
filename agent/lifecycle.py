"""One agent's life: started, deploy, operate until the deadline, cleanup, finished.

Under the local provider each step prints the Azure CLI command it stands for and acts it
out on the storage account: `creates` makes a tagged container/table/queue, `uses` writes
to it, `deletes` removes it. Every step is reported as a `command` event.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.contract import Contract
from haymaker.events import EventSender
from haymaker.naming import (
    LOCAL_KINDS,
    iso_utc,
    local_resource_name,
    name_prefix,
    parse_iso_utc,
)
from haymaker.providers.local_cloud import LocalCloud
from haymaker.secret_store import LocalSecretStore

# Scenario time, in seconds; divided by the time scale to get real seconds.
OPERATE_INTERVAL = 300.0
CLEANUP_RESERVE = 300.0


class AgentTestFailure(RuntimeError):
    """Raised on purpose by the HAYMAKER_AGENT_FAIL_AT test hook."""


class Lifecycle:
    """Runs the scenario of `contract`, reporting through `sender`, acting on `cloud`."""

    def __init__(self, contract: Contract, cloud: LocalCloud, sender: EventSender) -> None:
        self._contract = contract
        self._cloud = cloud
        self._sender = sender
        self._created: dict[tuple[str, str], dict[str, str]] = {}
        # Values that must never leave the process: the client secret once loaded, and the
        # storage account key (defense in depth: SDK errors are not expected to carry it).
        self._hidden = [_account_key(contract.storage)]
        self._started = time.monotonic()
        self._placeholders = {
            "resource_group": contract.resource_group,
            "prefix": name_prefix(contract.run_id, contract.agent_id),
            "location": contract.location,
            "tags": " ".join(f"{key}={value}" for key, value in contract.tags.items()),
            "run_id": contract.run_id,
            "agent_id": contract.agent_id,
        }

    def run(self) -> int:
        """0 when the scenario ran to the end; 1 after reporting `failed`."""
        phase = "start"
        try:
            self._load_credential()
            operate_until = self._operate_until()
            self._report("started", scenario_id=self._contract.scenario_id)
            for phase in ("deploy", "operate", "cleanup"):
                self._report("phase", phase=phase)
                if phase == "operate":
                    self._operate(operate_until)
                else:
                    self._run_steps(phase)
                    self._fail_if_asked(phase)
            self._remove_leftovers()
            self._report("finished")
            return 0
        except Exception as error:  # noqa: BLE001 - any failure is reported, then exit 1
            message = self._scrub(f"{type(error).__name__}: {error}")
            print(f"agent failed during {phase}: {message}", file=sys.stderr, flush=True)
            try:
                self._report("failed", error=message, phase=phase)
            except Exception as send_error:  # noqa: BLE001 - nothing more to tell anyone
                print(f"could not report the failure: {type(send_error).__name__}", file=sys.stderr)
            return 1

    def _load_credential(self) -> None:
        """Fetch the agent's own secret by reference: proves the identity hand-off works."""
        secret = LocalSecretStore(self._contract.state_dir).get(self._contract.secret_ref)
        if not secret:
            raise RuntimeError(f"no credential under secret reference {self._contract.secret_ref}")
        self._hidden.append(secret)
        print(f"loaded credential {self._contract.secret_ref}", flush=True)

    def _now(self) -> datetime:
        """The host's time when it publishes a clock (devhost's virtual clock), else ours."""
        if self._contract.clock_url is None:
            return datetime.now(UTC)
        with urllib.request.urlopen(self._contract.clock_url, timeout=10) as response:
            return parse_iso_utc(json.load(response)["now"])

    def _operate_until(self) -> float:
        """The monotonic time to stop operating, keeping time for cleanup before the deadline."""
        if self._contract.clock_url is not None:
            # The host's clock decides (see _operate); only the wall-time cap applies here.
            cap = self._contract.max_wall_seconds or float("inf")
            return self._started + cap
        scale = self._contract.time_scale
        budget = (self._contract.deadline - datetime.now(UTC)).total_seconds() / scale
        if self._contract.max_wall_seconds is not None:
            budget = min(budget, self._contract.max_wall_seconds)
        budget = max(0.0, budget)
        reserve = min(CLEANUP_RESERVE / scale, budget * 0.1)
        print(f"operating for up to {budget - reserve:.1f}s of real time", flush=True)
        return self._started + budget - reserve

    def _operate(self, until: float) -> None:
        """Operate rounds until `until` (at least one), a heartbeat after each round."""
        rounds = 0
        while True:
            self._run_steps("operate")
            rounds += 1
            self._report("heartbeat", rounds=rounds)
            self._fail_if_asked("operate")
            remaining = until - time.monotonic()
            if remaining <= 0 or self._host_deadline_near():
                return
            time.sleep(min(OPERATE_INTERVAL / self._contract.time_scale, remaining))
            if time.monotonic() >= until:
                return

    def _host_deadline_near(self) -> bool:
        """With a host clock: time to clean up once the deadline is within the reserve."""
        if self._contract.clock_url is None:
            return False
        reserve = timedelta(seconds=CLEANUP_RESERVE)
        return self._now() >= self._contract.deadline - reserve

    def _run_steps(self, phase: str) -> None:
        for index, step in enumerate(self._contract.scenario[phase]):
            self._run_step(phase, step)
            if index == 0:
                self._fail_if_asked(phase)

    def _fail_if_asked(self, phase: str) -> None:
        if self._contract.fail_at == phase:
            raise AgentTestFailure(f"HAYMAKER_AGENT_FAIL_AT={phase}: failing on purpose")

    def _run_step(self, phase: str, step: Mapping[str, Any]) -> None:
        command = self._fill(str(step["command"]))
        shlex.split(command)  # a command the CLI could not parse is a scenario bug: fail here
        print(f"$ {self._scrub(command)}", flush=True)
        started = time.monotonic()
        effect = self._act(phase, step)
        duration = round(time.monotonic() - started, 3)
        self._report(
            "command",
            phase=phase,
            step=str(step.get("name", "")),
            command=command,
            exit_code=0,
            duration_s=duration,
        )
        if effect is not None:
            event_type, resource = effect
            self._report(event_type, **resource)

    def _act(self, phase: str, step: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
        """Do the step's effect on the local cloud; the event to report about it, if any."""
        for effect in ("creates", "deletes", "uses"):
            ref = step.get(effect)
            if ref is None:
                continue
            resource = self._resolve(ref)
            kind, local_name = resource["local_kind"], resource["local_name"]
            if effect == "creates":
                self._cloud.create(kind, local_name, self._contract.tags)
                self._created[(kind, local_name)] = resource
                return "resource_created", resource
            if effect == "deletes":
                self._cloud.delete(kind, local_name)
                self._created.pop((kind, local_name), None)
                return "resource_deleted", resource
            activity = {
                "phase": phase,
                "step": str(step.get("name", "")),
                "at": iso_utc(datetime.now(UTC)),
            }
            self._cloud.act(kind, local_name, activity)
        return None

    def _resolve(self, ref: Mapping[str, Any]) -> dict[str, str]:
        """Kind and name in Azure terms and in the local cloud's."""
        local_kind = str(ref.get("local_kind") or ref["kind"])
        if local_kind not in LOCAL_KINDS:
            raise ValueError(f"resource {ref!r} has no local kind among {LOCAL_KINDS}")
        name = self._fill(str(ref["name"]))
        contract = self._contract
        return {
            "kind": str(ref["kind"]),
            "name": name,
            "local_kind": local_kind,
            "local_name": local_resource_name(local_kind, contract.run_id, contract.agent_id, name),
        }

    def _remove_leftovers(self) -> None:
        """Delete what cleanup steps did not, newest first: an agent leaves nothing behind."""
        for (kind, local_name), resource in reversed(list(self._created.items())):
            self._cloud.delete(kind, local_name)
            self._report("resource_deleted", **resource)
        self._created.clear()

    def _fill(self, template: str) -> str:
        """Fill placeholders the way the catalog documents: str.format, `{{` for a brace."""
        return template.format(**self._placeholders)

    def _scrub(self, text: str) -> str:
        for value in filter(None, self._hidden):
            text = text.replace(value, "***")
        return text

    def _report(self, event_type: str, /, **fields: Any) -> None:
        contract = self._contract
        event = {key: self._scrub(v) if isinstance(v, str) else v for key, v in fields.items()}
        event.update(
            type=event_type,
            run_id=contract.run_id,
            agent_id=contract.agent_id,
            scenario_id=contract.scenario_id,
        )
        self._sender.send(event)


def _account_key(connection_string: str) -> str:
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountkey":
            return value
    return ""
