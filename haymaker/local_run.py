"""The main job on one machine: a full HayMaker run on devhost with embedded defaults.

Starts devhost on this app (Azurite too, if nothing listens) with the virtual clock,
starts a run, shows live progress, prints the report, and checks that nothing tagged for
the run is left. Exit 0 only if every agent was torn down and nothing is left.

Ctrl-C stops the host and leaves the run unfinished, its agents working on without it.
The task hub is the app folder's own (`local_hub`), so the next `./dev run` (or `haymaker
up`) on the folder resumes the run from storage: `./dev run` finishes it before starting
a new one, on the same port (`local_port`) so that the agents find it, and with `haymaker
up` it can be canceled.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from agent.contract import DEFAULT_HOST_PATIENCE_SECONDS
from devhost import azurite
from devhost.azurite_cli import stop_command
from devhost.keys import mask_key
from devhost.process import HostHandle, HostStartError, free_port, port_is_free, running_host
from haymaker.api_client import ApiClient
from haymaker.naming import parse_iso_utc
from haymaker.progress import ProgressView, render_report

APP_DIR = Path(__file__).resolve().parent.parent
# Functions that must not fire during a local run: the virtual clock would reach their
# schedules and start extra runs.
SCHEDULED_FUNCTIONS = (
    "window_americas",
    "window_asia",
    "window_middle_east",
    "window_europe",
    "hourly_sweep",
)
# Agents follow the host's virtual clock to the deadline as its participants (they wait
# on it between operate rounds). The scale only turns their think pauses inside a round
# (about 30 scenario seconds after each action) into real sleeps, during which the clock
# cannot jump: at 3000 a pause is 5-15 ms; at 300 they added 0.3-0.5 s to each of the 96
# rounds of an 8-hour run, about half of a 5-agent run's time. No wall-time cap: however
# slowly the virtual clock goes, it never goes slower than real time, and an agent whose
# host is gone gives up on its own (HAYMAKER_AGENT_HOST_PATIENCE).
AGENT_TIME_SCALE = 3000
# Real seconds allowed past the run's own duration for provisioning and teardown.
TEARDOWN_MARGIN = 1800.0
FINISHED = ("completed", "cut_short", "failed", "canceled")
# Real seconds the virtual clock waits with nothing runnable before it jumps. Agents are
# its participants and say when they idle (devhost/participants.py), so this only covers
# the host's own hand-offs (every one of a run's jumps waits this long first).
VIRTUAL_IDLE_SETTLE = 0.005
# Real seconds between two looks at the run while following it: each look is three storage
# reads and a function call on the host, which the run's own work waits behind.
FOLLOW_SECONDS = 1.0
# Run statuses an interrupted run may be left in.
UNFINISHED = ("pending", "running")
# Past this much data in the Azurite folder a local run says that it slows runs down.
AZURITE_DATA_NOTE_BYTES = 100 * 2**20


class Interrupted(Exception):
    """Ctrl-C while following a run: the run is unfinished (its id is the argument)."""


def local_hub(app_dir: Path) -> str:
    """The task hub of local hosts on `app_dir`: the same every time, so what a host left
    unfinished (Ctrl-C, a crash) resumes when the next one starts on the folder."""
    digest = hashlib.sha256(str(app_dir.resolve()).encode()).hexdigest()[:10]
    return f"HayMakerLocal{digest}"


def local_port(app_dir: Path) -> int:
    """The port of local hosts on `app_dir`: the last one's while it is free. Agents follow
    the host's clock at the address they were started with, so when a host stopped (Ctrl-C,
    a crash) the next one must come up there for the agents it left running to find it:
    on another port they would wait out their patience and miss the clock's jumps."""
    saved = app_dir / ".devhost" / "local-port"
    try:
        port = int(saved.read_text().strip())
    except (OSError, ValueError):
        port = 0
    if not 0 < port < 65536 or not port_is_free(port):
        port = free_port()
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(f"{port}\n")
    return port


def host_environment(state_dir: Path, port: int) -> dict[str, str]:
    env = {
        # Agents follow the host's (virtual) clock to their deadline.
        "HAYMAKER_AGENT_CLOCK_URL": f"http://127.0.0.1:{port}/admin/host/clock",
        "AzureWebJobsStorage": os.environ.get("AzureWebJobsStorage")  # noqa: SIM112
        or "UseDevelopmentStorage=true",
        "HAYMAKER_LOCAL_STATE_DIR": str(state_dir),
        "HAYMAKER_AGENT_TIME_SCALE": str(AGENT_TIME_SCALE),
    }
    env.update({f"AzureWebJobs.{name}.Disabled": "true" for name in SCHEDULED_FUNCTIONS})
    return env


def leftovers(run_id: str) -> list[dict[str, Any]]:
    """What is still tagged for the run in the local cloud, asked of the provider itself."""
    from haymaker.service import services

    return [dict(r) for r in services().provider.list_tagged_resources(run_id)]


def azurite_data_note(folder: Path, limit: int = AZURITE_DATA_NOTE_BYTES) -> str | None:
    """What to say when the local Azurite's folder has grown past `limit` bytes.

    It keeps every local run's records and devhost's histories (about 4 MB a 5-agent run),
    loads them at start and saves all of its tables every 5 s: a large folder makes every
    run slower, and nothing prunes it."""
    if not folder.is_dir():
        return None
    size = 0
    for path in folder.rglob("*"):
        # Azurite saves by writing a temporary file and renaming it: one may vanish here.
        with contextlib.suppress(OSError):
            size += path.stat().st_size if path.is_file() else 0
    if size <= limit:
        return None
    return (
        f"Note: {folder} holds {size / 2**20:.0f} MB of earlier runs' records and histories; "
        "Azurite saves all of it every 5 s, so runs get slower as it grows. To start "
        f"afresh (`haymaker run list` then forgets those runs), delete {folder}/ while no "
        "host runs."
    )


def run_locally(
    request: dict[str, Any],
    clock: str = "virtual",
    idle_settle: float = VIRTUAL_IDLE_SETTLE,
    out: TextIO = sys.stdout,
) -> int:
    state_dir = APP_DIR / ".haymaker"
    port = local_port(APP_DIR)
    env = host_environment(state_dir, port)
    os.environ.update({k: v for k, v in env.items() if not k.startswith("AzureWebJobs.")})
    log_path = APP_DIR / ".devhost" / "host.log"
    print(f"Starting devhost on {APP_DIR} ({clock} clock; log: {log_path})", file=out, flush=True)
    # The Azurite devhost shares, with its data where devhost keeps it, so the hosts that
    # come after (`haymaker up`) find this run's records. devhost would leave an Azurite it
    # starts running for other hosts; a local run stops the one it started, so it leaves
    # nothing behind (unless the run is left unfinished: its agents still use it).
    ports = azurite.emulator_ports(env["AzureWebJobsStorage"])
    try:
        emulator = None if ports is None else azurite.ensure_shared(ports, search_from=APP_DIR)
    except RuntimeError as error:  # no Azurite installed, its ports half taken, ...
        print(f"Azurite did not start: {error}", file=out)
        return 2
    if emulator is not None and emulator.started and emulator.location is not None:
        note = azurite_data_note(emulator.location)
        if note:
            print(note, file=out, flush=True)
    try:
        with running_host(
            APP_DIR,
            clock=clock,
            hub=local_hub(APP_DIR),
            env=env,
            extra_args=["--idle-settle", str(idle_settle)],
            log_path=log_path,
            port=port,
        ) as host:
            return _run(host, request, out)
    except HostStartError as error:
        print(f"devhost did not start: {error}", file=out)
        return 2
    except Interrupted as stopped:
        _say_interrupted(str(stopped), emulator, out)
        emulator = None  # the unfinished run's agents still use it
        return 130
    except KeyboardInterrupt:  # before any run was started
        print("\nInterrupted.", file=out)
        return 130
    finally:
        if emulator is not None and emulator.started:
            azurite.stop_shared(emulator.ports)


def agents_go_on(whose: str) -> str:
    """What the agents of a run whose host stops do (its Ctrl-C here, `haymaker down`)."""
    minutes = round(DEFAULT_HOST_PATIENCE_SECONDS / 60)
    return (
        f"{whose} agents work on without the host for up to {minutes} minutes unless"
        " HAYMAKER_AGENT_HOST_PATIENCE says otherwise, then clean up and stop."
    )


def _say_interrupted(run_id: str, emulator: azurite.SharedAzurite | None, out: TextIO) -> None:
    lines = [
        "",
        f"Interrupted: run {run_id} is unfinished, and devhost stops.",
        "  " + agents_go_on("Its"),
        "  `./dev run` resumes it on the same port, where they find it again, and finishes it",
        "  before starting a new run. To end it instead: `.venv/bin/haymaker up`, then",
        f"  `.venv/bin/haymaker run cancel {run_id}`.",
    ]
    if emulator is not None and emulator.started:
        lines.append(
            f"  Azurite keeps running for them (pid {emulator.pid}); stop it with"
            f" `{stop_command(emulator.ports)}` once the run is over."
        )
    print("\n".join(lines), file=out, flush=True)


def _wall_limit(run: dict[str, Any]) -> float:
    """Real seconds a run may take: its duration (the virtual clock never runs slower than
    real time) plus provisioning and teardown."""
    if run.get("started_at") and run.get("deadline"):
        duration = parse_iso_utc(run["deadline"]) - parse_iso_utc(run["started_at"])
        return duration.total_seconds() + TEARDOWN_MARGIN
    return TEARDOWN_MARGIN


def resumed_runs(api: ApiClient) -> list[dict[str, Any]]:
    """Runs an earlier host on this task hub left unfinished, which this host resumed: their
    records say pending or running, and this hub holds their orchestration, still running.
    (Runs of other hubs on the same storage say running too; they are not ours.)"""
    found = []
    for status in UNFINISHED:
        for listed in api.get("runs", status=status, limit=200)["runs"]:
            run = api.get(f"runs/{listed['run_id']}")
            if (run.get("orchestration") or {}).get("runtime_status") in ("Running", "Pending"):
                found.append(run)
    return found


def _run(host: HostHandle, request: dict[str, Any], out: TextIO) -> int:
    api = ApiClient(host.api, host.function_key)
    admin = ApiClient(host.base_url, host.master_key)
    resumed_ok = True
    for earlier in resumed_runs(api):
        run_id = earlier["run_id"]
        print(
            f"Resuming run {run_id}, left unfinished by an earlier host; it finishes first.",
            file=out,
        )
        ok = _finish(api, admin, run_id, out, resumed=True)
        if ok is None:
            return 1
        resumed_ok = resumed_ok and ok
    started = api.post("runs", request)
    run_id = started["run_id"]
    print(f"Run {run_id} started; status: {mask_key(started['statusQueryGetUri'])}", file=out)
    plan = started["plan"]
    print(
        f"{plan['agents']} agents; in Azure this run would cost about "
        f"${plan['estimated_cost_usd']:.2f} (the local provider costs nothing)",
        file=out,
    )
    return 0 if _finish(api, admin, run_id, out) and resumed_ok else 1


def _finish(
    api: ApiClient, admin: ApiClient, run_id: str, out: TextIO, resumed: bool = False
) -> bool | None:
    """Follow the run to its end and print its report: whether it completed with every
    agent torn down and nothing left (None: it did not finish in time)."""
    run, wall = _follow(api, admin, run_id, out)
    if run.get("status") not in FINISHED:
        return None
    report = api.get(f"runs/{run_id}/report")
    left = leftovers(run_id)
    print(render_report(report, left, wall, resumed=resumed), file=out)
    ok = (
        report["status"] == "completed"
        and report["torn_down"] == report["agents"]
        and report["left_behind"] == 0
        and not left
    )
    print("OK: every agent torn down, nothing left." if ok else "FAILED: see above.", file=out)
    return ok


def _follow(
    api: ApiClient, admin: ApiClient, run_id: str, out: TextIO
) -> tuple[dict[str, Any], float]:
    """Show the run's progress until it finishes: (its last state, wall seconds).

    Raises Interrupted on Ctrl-C.
    """
    view = ProgressView(out)
    began = time.monotonic()
    run: dict[str, Any] = {}
    try:
        while time.monotonic() - began < _wall_limit(run):
            run = api.get(f"runs/{run_id}")
            view.update(run, admin.get("admin/host/clock")["now"])
            if run.get("status") in FINISHED:
                break
            time.sleep(FOLLOW_SECONDS)
    except KeyboardInterrupt:
        view.finish()
        raise Interrupted(run_id) from None
    view.finish()
    if run.get("status") not in FINISHED:
        limit = _wall_limit(run)
        print(f"Run {run_id} did not finish within {limit:.0f}s of wall time.", file=out)
    return run, time.monotonic() - began
