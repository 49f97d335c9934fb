"""The local provider: agents run as local processes, the storage account is the cloud.

State lives in a folder (`state_dir`) so that a host that crashes and restarts finds what
it had started:
  secrets.json                          client secrets by name (secret_store.py)
  identities/<run short>-<agent>.json   the agent's "app registration"
  roles/<run short>-<agent>.json        its role assignment
  agents/<run short>-<agent>.*          its process: pid file, log, exit code
                                        (local_process.py)
Resources are blob containers, tables and queues in the storage account, tagged like Azure
resources (see local_cloud.py). POSIX only: process groups and file locks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError

from agent.clock_participant import (
    CLOCK_URL_VARIABLE,
    ClockParticipant,
    NoParticipants,
    participant_name,
)
from haymaker.events import events_queue_exists
from haymaker.naming import (
    IDENTITY_NAME_PATTERN,
    SECRET_NAME_PATTERN,
    TAG_AGENT,
    TAG_RUN,
    identity_display_name,
    iso_utc,
    parse_iso_utc,
    resource_group_name,
    run_short,
    secret_name,
    validate_agent_id,
    validate_run_id,
)
from haymaker.providers.agent_launcher import AgentLauncher
from haymaker.providers.base import (
    AgentStatus,
    Identity,
    IdentityRemoval,
    Launch,
    Orphan,
    Removal,
    Resource,
    RoleGrant,
    StopResult,
    Verification,
    check_launch_request,
)
from haymaker.providers.local_cloud import LocalCloud
from haymaker.providers.local_process import AgentProcesses, read_record, write_record
from haymaker.secret_store import LocalSecretStore

ROLE = "Contributor"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_NAMESPACE = uuid.UUID("5b0f3c2e-7a53-4e4c-9a8e-2f0d3c1b6a77")
# The agent gets its contract and these, not the host's whole environment.
_ENV_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
_STORAGE_KINDS = ("blob_container", "table", "queue")
_RECORD_FOLDERS = {"identity": "identities", "role_assignment": "roles"}
_RECORD_KEY = re.compile(r"^[0-9a-f]{8}-a\d{2,}$")
_SWEEP_ORDER = ("agent_process", *_STORAGE_KINDS, "role_assignment", "identity", "secret")


_LAUNCHER: AgentLauncher | None = None


def _passed_through() -> dict[str, str]:
    """The host's settings an agent (and its launcher) keeps: paths, locale, time zone."""
    return {key: os.environ[key] for key in _ENV_PASSTHROUGH if key in os.environ}


def _launcher() -> AgentLauncher:
    """This process's agent launcher (one, whatever the providers made): started at the
    first launch, it forks each agent with that agent's environment."""
    global _LAUNCHER
    if _LAUNCHER is None:
        _LAUNCHER = AgentLauncher(
            PROJECT_ROOT, {**_passed_through(), "PYTHONPATH": str(PROJECT_ROOT)}
        )
    return _LAUNCHER


class LocalProvider:
    """Agents as local processes; identities, roles and secrets as files under `state_dir`."""

    name = "local"

    def __init__(
        self,
        connection_string: str,
        state_dir: str | os.PathLike[str],
        location: str = "eastus",
        agent_settings: Mapping[str, str] | None = None,
        fail_launch: Iterable[str] = (),
        crash_in_teardown: Iterable[str] = (),
    ) -> None:
        self._connection_string = connection_string
        # Test hook (HAYMAKER_LOCAL_FAIL_LAUNCH): launching these agent ids fails.
        self._fail_launch = frozenset(fail_launch)
        # Test hook (HAYMAKER_LOCAL_CRASH_IN_TEARDOWN): see _crash_once.
        self._crash_in_teardown = frozenset(crash_in_teardown)
        self._state = Path(state_dir)
        self._location = location
        self._agent_settings = dict(agent_settings or {})
        self._cloud = LocalCloud(connection_string)
        self._secrets = LocalSecretStore(self._state)
        self._processes = AgentProcesses(self._state / "agents", launcher=_launcher())

    def _file(self, folder: str, run_id: str, agent_id: str) -> Path:
        directory = self._state / folder
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return directory / f"{_key(run_id, agent_id)}.json"

    # --- identity ---------------------------------------------------------------------

    def create_identity(
        self, run_id: str, agent_id: str, scenario_id: str, expires_at: str
    ) -> Identity:
        """A deterministic principal id and a generated secret kept in the secret store."""
        path = self._file("identities", run_id, agent_id)
        record = read_record(path) or {
            "principal_id": str(uuid.uuid5(_NAMESPACE, f"{run_id}/{agent_id}")),
            "display_name": identity_display_name(scenario_id, run_id, agent_id),
            "run_id": run_id,
            "agent_id": agent_id,
            "scenario_id": scenario_id,
            "expires_at": iso_utc(parse_iso_utc(expires_at)),
            "secret_ref": secret_name(run_id, agent_id),
        }
        if self._secrets.get(record["secret_ref"]) is None:
            self._secrets.put(record["secret_ref"], secrets.token_urlsafe(32))
        write_record(path, record)
        return {
            "principal_id": record["principal_id"],
            "display_name": record["display_name"],
            "secret_ref": record["secret_ref"],
        }

    def grant_roles(self, run_id: str, agent_id: str, scope: str) -> RoleGrant:
        """Record a Contributor assignment on the agent's own resource group, refusing any other."""
        identity = read_record(self._file("identities", run_id, agent_id))
        if identity is None:
            raise LookupError(f"no identity for run {run_id!r} agent {agent_id}: create it first")
        expected = resource_group_name(run_id, agent_id, identity["scenario_id"])
        if _resource_group_of(scope) != expected:
            raise ValueError(
                f"role scope {scope!r} is not the agent's resource group {expected!r}: "
                "roles are granted on that resource group only"
            )
        principal = identity["principal_id"]
        grant: RoleGrant = {
            "principal_id": principal,
            "scope": scope,
            "role": ROLE,
            "assignment_id": str(uuid.uuid5(_NAMESPACE, f"{principal}/{scope}/{ROLE}")),
        }
        write_record(self._file("roles", run_id, agent_id), {**grant, "run_id": run_id})
        return grant

    def delete_identity(self, run_id: str, agent_id: str) -> IdentityRemoval:
        """Remove the role assignment, the identity and its secret; missing ones are fine."""
        roles = _unlink(self._file("roles", run_id, agent_id))
        identity = _unlink(self._file("identities", run_id, agent_id))
        return {
            "roles_removed": int(roles),
            "secret_deleted": self._secrets.delete(secret_name(run_id, agent_id)),
            "identity_deleted": identity,
        }

    # --- agent process ----------------------------------------------------------------

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
        """Start the agent (as `python -m agent`, forked from the launcher) with the contract in
        its environment, unless it was started.

        A re-run activity (the host crashed after launching) finds the launch recorded and
        gets its pid back with `already_launched`, whether the agent still runs or has
        ended meanwhile: one agent never runs twice.
        """
        check_launch_request(run_id, agent_id, scenario, tags)
        if agent_id in self._fail_launch:
            raise RuntimeError(
                f"HAYMAKER_LOCAL_FAIL_LAUNCH: launching agent {agent_id} fails on purpose"
            )
        if not events_queue_exists(self._connection_string, events_queue):
            raise LookupError(
                f"events queue {events_queue!r} does not exist: create it first "
                "(haymaker.events.create_events_queue), or the agent could not report"
            )
        key = _key(run_id, agent_id)
        contract = {
            "HAYMAKER_RUN_ID": run_id,
            "HAYMAKER_AGENT_ID": agent_id,
            "HAYMAKER_SCENARIO": json.dumps(dict(scenario)),
            "HAYMAKER_DEADLINE": iso_utc(parse_iso_utc(deadline_iso)),
            "HAYMAKER_RESOURCE_GROUP": resource_group_name(run_id, agent_id, scenario["id"]),
            "HAYMAKER_TAGS": json.dumps(dict(tags)),
            "HAYMAKER_EVENTS_QUEUE": events_queue,
            "HAYMAKER_SECRET_REF": secret_ref,
            "HAYMAKER_STATE_DIR": str(self._state.resolve()),
            "HAYMAKER_LOCATION": self._location,
            "AzureWebJobsStorage": self._connection_string,
        }
        if report_every:
            # On the host's clock, its events go out before the monitors' polls, not after
            # every step and round: a 5-agent run's 601 queue messages were 180.
            contract["HAYMAKER_AGENT_REPORT_EVERY"] = str(report_every)
        env = {**self._base_env(), **contract}
        clock = self._host_clock(env, run_id, agent_id)
        if clock is not None:
            # Joined before it starts: the host's clock does not jump while it starts up.
            _best_effort(clock.join)
        try:
            pid, already_launched = self._processes.launch(key, PROJECT_ROOT, env, run_id)
        except BaseException:
            if clock is not None:
                _best_effort(clock.leave)
            raise
        # An agent leaves the clock when it ends; one that ended before this join cannot.
        # (Asked after the join: an agent that ends later leaves by itself.)
        if clock is not None and already_launched and not self._processes.running(key):
            _best_effort(clock.leave)
        return {
            "handle": key,
            "pid": pid,
            "already_launched": already_launched,
            "log": str(self._processes.log_path(key)),
        }

    @staticmethod
    def _host_clock(env: Mapping[str, str], run_id: str, agent_id: str) -> ClockParticipant | None:
        """The host clock the agent follows, when it follows one (devhost's virtual clock)."""
        url = env.get(CLOCK_URL_VARIABLE)
        return ClockParticipant(url, participant_name(run_id, agent_id), timeout=5) if url else None

    def _base_env(self) -> dict[str, str]:
        env = _passed_through()
        env.update(
            {k: v for k, v in self._agent_settings.items() if k.startswith("HAYMAKER_AGENT_")}
        )
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def agent_status(self, run_id: str, agent_id: str) -> AgentStatus:
        return self._processes.status(_key(run_id, agent_id))

    def stop_agent(self, run_id: str, agent_id: str) -> StopResult:
        was_running = self._processes.stop(_key(run_id, agent_id))
        clock = self._host_clock(self._base_env(), run_id, agent_id)
        if clock is not None:
            _best_effort(clock.leave)  # a stopped agent no longer holds the clock
        return {"was_running": was_running, "state": self.agent_status(run_id, agent_id)["state"]}

    # --- resources --------------------------------------------------------------------

    def list_tagged_resources(self, run_id: str, agent_id: str | None = None) -> list[Resource]:
        wanted = {TAG_RUN: validate_run_id(run_id)}
        if agent_id is not None:
            wanted[TAG_AGENT] = validate_agent_id(agent_id)
        return [
            {"kind": item["kind"], "name": item["name"], "tags": item["tags"]}
            for item in self._cloud.list_tagged(wanted)
        ]

    def delete_tagged_resources(self, run_id: str, agent_id: str) -> Removal:
        result: Removal = {"removed": [], "failed": []}
        for resource in self.list_tagged_resources(run_id, agent_id):
            item = {"kind": resource["kind"], "name": resource["name"]}
            try:
                self._cloud.delete(resource["kind"], resource["name"])
            except AzureError as error:
                result["failed"].append({**item, "error": _describe(error)})
            else:
                result["removed"].append(item)
        if agent_id in self._crash_in_teardown:
            self._crash_once(run_id, agent_id)
        return result

    def _crash_once(self, run_id: str, agent_id: str) -> None:
        """The HAYMAKER_LOCAL_CRASH_IN_TEARDOWN test hook: the host dies (SIGKILL to its
        whole process group) after deleting the agent's resources and before the step
        returned what it removed. Once per agent, so the step retried after a restart
        gets through (and finds nothing left to delete)."""
        marker = self._file("crashed", run_id, agent_id)
        if marker.exists():
            return
        write_record(marker, {"run_id": run_id, "agent_id": agent_id})
        os.killpg(os.getpgrp(), signal.SIGKILL)

    def verify_clean(self, run_id: str, agent_id: str) -> Verification:
        left = [
            {"kind": item["kind"], "name": item["name"]}
            for item in self.list_tagged_resources(run_id, agent_id)
        ]
        for folder, kind in (("identities", "identity"), ("roles", "role_assignment")):
            path = self._file(folder, run_id, agent_id)
            if path.exists():
                left.append({"kind": kind, "name": path.stem})
        secret = secret_name(run_id, agent_id)
        if self._secrets.get(secret) is not None:
            left.append({"kind": "secret", "name": secret})
        if self._processes.running(_key(run_id, agent_id)):
            left.append({"kind": "agent_process", "name": _key(run_id, agent_id)})
        return {"clean": not left, "left": left}

    # --- sweep ------------------------------------------------------------------------

    def list_orphans(self, active_run_ids: set[str]) -> list[Orphan]:
        orphans: list[Orphan] = []
        for item in self._cloud.list_tagged({}):
            run = item["tags"].get(TAG_RUN, "")
            if run not in active_run_ids:
                orphans.append({"kind": item["kind"], "name": item["name"], "run": run})
        for kind, folder in (("identity", "identities"), ("role_assignment", "roles")):
            for path, record in self._records(folder):
                if record.get("run_id") not in active_run_ids:
                    orphans.append({"kind": kind, "name": path.stem, "run": record["run_id"]})
        for key, run_id in self._processes.live():
            if run_id not in active_run_ids:
                orphans.append({"kind": "agent_process", "name": key, "run": run_id})
        active_shorts = {run_short(run_id) for run_id in active_run_ids}
        for name in self._secrets.list():
            match = SECRET_NAME_PATTERN.match(name)
            if match and match["run_short"] not in active_shorts:
                orphans.append({"kind": "secret", "name": name, "run": match["run_short"]})
        return orphans

    def _records(self, folder: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        directory = self._state / folder
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            record = read_record(path)
            if record is not None:
                yield path, record

    def delete_orphans(self, orphans: list[Orphan]) -> Removal:
        """Remove leftovers, re-checking each is HayMaker's (a name alone is never trusted)."""
        result: Removal = {"removed": [], "failed": []}
        tagged = {(item["kind"], item["name"]) for item in self._cloud.list_tagged({})}
        for orphan in sorted(orphans, key=_sweep_rank):
            item = {"kind": orphan["kind"], "name": orphan["name"]}
            try:
                self._delete_orphan(orphan["kind"], orphan["name"], tagged)
            except (AzureError, OSError, ValueError) as error:
                result["failed"].append({**item, "error": _describe(error)})
            else:
                result["removed"].append(item)
        return result

    def _delete_orphan(self, kind: str, name: str, tagged: set[tuple[str, str]]) -> None:
        if kind in _STORAGE_KINDS:
            if (kind, name) not in tagged:
                raise ValueError("not a HayMaker-tagged resource")
            self._cloud.delete(kind, name)
            return
        if kind == "secret":
            if not SECRET_NAME_PATTERN.match(name):
                raise ValueError("not a HayMaker secret name")
            self._secrets.delete(name)
            return
        if kind not in (*_RECORD_FOLDERS, "agent_process"):
            raise ValueError(f"unknown orphan kind {kind!r}")
        if not _RECORD_KEY.match(name):
            raise ValueError("not a HayMaker record name")
        if kind == "agent_process":
            self._processes.stop(name)
            return
        path = self._state / _RECORD_FOLDERS[kind] / f"{name}.json"
        record = read_record(path)
        if record is None:
            return
        if kind == "identity" and not IDENTITY_NAME_PATTERN.match(record.get("display_name", "")):
            raise ValueError("not a HayMaker identity")
        path.unlink(missing_ok=True)

    # --- health -----------------------------------------------------------------------

    def check(self, deep: bool) -> dict[str, Any]:
        """State folder writable, agent program present; with `deep`, storage reachable."""
        checks = [
            _probe("state_dir", lambda: _probe_writable(self._state)),
            _probe("agent_program", _check_agent_program),
        ]
        if deep:
            checks.append(_probe("storage", self._cloud.ping))
        return {"provider": self.name, "ok": all(c["ok"] for c in checks), "checks": checks}


# --- helpers ----------------------------------------------------------------------------


def _sweep_rank(orphan: Orphan) -> int:
    """Processes first (they could recreate things), secrets last; unknown kinds at the end."""
    kind = orphan["kind"]
    return _SWEEP_ORDER.index(kind) if kind in _SWEEP_ORDER else len(_SWEEP_ORDER)


def _resource_group_of(scope: str) -> str:
    """The resource group a scope names: `<rg>` or `/subscriptions/<id>/resourceGroups/<rg>`."""
    if not scope.startswith("/"):
        return scope
    parts = scope.strip("/").split("/")
    if (
        len(parts) == 4
        and parts[0].lower() == "subscriptions"
        and parts[2].lower() == "resourcegroups"
    ):
        return parts[3]
    raise ValueError(f"role scope {scope!r} is not a resource group: wider scopes are refused")


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _key(run_id: str, agent_id: str) -> str:
    """The per-agent file key, `<run short>-<agent>` (also the launch handle)."""
    return f"{run_short(run_id)}-{validate_agent_id(agent_id)}"


def _describe(error: BaseException) -> str:
    """A short error text for records: the type and first line, never a request dump."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}"[:300]


def _probe(name: str, action: Any) -> dict[str, Any]:
    try:
        action()
    except Exception as error:  # noqa: BLE001 - health reports any failure, never raises
        return {"name": name, "ok": False, "detail": _describe(error)}
    return {"name": name, "ok": True}


def _probe_writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.NamedTemporaryFile(dir=directory):
        pass


def _check_agent_program() -> None:
    if not (PROJECT_ROOT / "agent" / "__main__.py").is_file():
        raise FileNotFoundError(f"agent/__main__.py is missing under {PROJECT_ROOT}")


def _best_effort(call: Any) -> None:
    """Tell the host clock something; a host that cannot hear it only runs slower."""
    with contextlib.suppress(OSError, ValueError, NoParticipants):
        call()
