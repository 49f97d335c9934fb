"""The main job on one machine: a full HayMaker run on devhost with embedded defaults.

Starts devhost on this app (Azurite too, if nothing listens) with the virtual clock,
starts a run, shows live progress, prints the report, and checks that nothing tagged for
the run is left. Exit 0 only if every agent was torn down and nothing is left.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from devhost import azurite
from devhost.keys import mask_key
from devhost.process import HostHandle, HostStartError, free_port, running_host
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
# on it between operate rounds); the scale shortens their think time between actions. No
# wall-time cap: however slowly the virtual clock goes, it never goes slower than real
# time, and an agent whose host is gone gives up on its own (HAYMAKER_AGENT_HOST_PATIENCE).
AGENT_TIME_SCALE = 300
# Real seconds allowed past the run's own duration for provisioning and teardown.
TEARDOWN_MARGIN = 1800.0
FINISHED = ("completed", "cut_short", "failed", "canceled")
# Real seconds the virtual clock waits with nothing runnable before it jumps: long enough
# for agents (real processes, following the host's clock) to act between polls.
VIRTUAL_IDLE_SETTLE = 0.02


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


def run_locally(
    request: dict[str, Any],
    clock: str = "virtual",
    idle_settle: float = VIRTUAL_IDLE_SETTLE,
    out: TextIO = sys.stdout,
) -> int:
    state_dir = APP_DIR / ".haymaker"
    port = free_port()
    env = host_environment(state_dir, port)
    os.environ.update({k: v for k, v in env.items() if not k.startswith("AzureWebJobs.")})
    log_path = APP_DIR / ".devhost" / "host.log"
    hub = "HayMakerLocal" + uuid.uuid4().hex[:6]
    print(f"Starting devhost on {APP_DIR} ({clock} clock; log: {log_path})", file=out, flush=True)
    # devhost would leave an Azurite it starts running for other hosts; a local run owns
    # the one it needs, so it leaves nothing behind.
    emulator = (
        azurite.ensure_running(APP_DIR / ".devhost" / "azurite", search_from=APP_DIR)
        if azurite.emulator_ports(env["AzureWebJobsStorage"]) == azurite.PORTS
        else None
    )
    try:
        with running_host(
            APP_DIR,
            clock=clock,
            hub=hub,
            env=env,
            extra_args=["--idle-settle", str(idle_settle)],
            log_path=log_path,
            port=port,
        ) as host:
            return _run(host, request, out)
    except HostStartError as error:
        print(f"devhost did not start: {error}", file=out)
        return 2
    finally:
        if emulator is not None:
            emulator.stop()


def _wall_limit(run: dict[str, Any]) -> float:
    """Real seconds a run may take: its duration (the virtual clock never runs slower than
    real time) plus provisioning and teardown."""
    if run.get("started_at") and run.get("deadline"):
        duration = parse_iso_utc(run["deadline"]) - parse_iso_utc(run["started_at"])
        return duration.total_seconds() + TEARDOWN_MARGIN
    return TEARDOWN_MARGIN


def _run(host: HostHandle, request: dict[str, Any], out: TextIO) -> int:
    api = ApiClient(host.api, host.function_key)
    admin = ApiClient(host.base_url, host.master_key)
    started = api.post("runs", request)
    run_id = started["run_id"]
    print(f"Run {run_id} started; status: {mask_key(started['statusQueryGetUri'])}", file=out)
    plan = started["plan"]
    print(
        f"{plan['agents']} agents; in Azure this run would cost about "
        f"${plan['estimated_cost_usd']:.2f} (the local provider costs nothing)",
        file=out,
    )
    view = ProgressView(out)
    began = time.monotonic()
    run: dict[str, Any] = {}
    while time.monotonic() - began < _wall_limit(run):
        run = api.get(f"runs/{run_id}")
        view.update(run, admin.get("admin/host/clock")["now"])
        if run.get("status") in FINISHED:
            break
        time.sleep(0.5)
    view.finish()
    if run.get("status") not in FINISHED:
        limit = _wall_limit(run)
        print(f"The run did not finish within {limit:.0f}s of wall time.", file=out)
        return 1
    report = api.get(f"runs/{run_id}/report")
    left = leftovers(run_id)
    print(render_report(report, left, time.monotonic() - began), file=out)
    ok = (
        report["status"] == "completed"
        and report["torn_down"] == report["agents"]
        and report["left_behind"] == 0
        and not left
    )
    print("OK: every agent torn down, nothing left." if ok else "FAILED: see above.", file=out)
    return 0 if ok else 1
