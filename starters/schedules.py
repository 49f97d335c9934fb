"""Timer starters: a regional window starts one run per occurrence; a sweep every hour."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from haymaker.run_request import RunRequest
from haymaker.service import services
from starters.runs import launch_run

log = logging.getLogger(__name__)


def window_run_id(region: str, moment: datetime) -> str:
    """One id per region and scheduled occurrence: a repeated firing finds its run."""
    return f"run-{region.replace('_', '-')}-{moment.astimezone(UTC):%Y%m%d-%H%M}"


def _occurrence(timer: func.TimerRequest) -> datetime:
    """The occurrence being fired: the host's schedule status, else this minute."""
    last = (getattr(timer, "schedule_status", None) or {}).get("Last")
    if last:
        return datetime.fromisoformat(str(last).replace("Z", "+00:00"))
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def start_window_run(
    region: str, timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> str:
    run_id = window_run_id(region, _occurrence(timer))
    request = RunRequest.scheduled(services().settings, region, run_id)
    if await launch_run(client, request):
        log.info("Started the %s window's run %s (past due: %s)", region, run_id, timer.past_due)
    else:
        log.info("The %s window's run %s exists already: not starting another", region, run_id)
    return run_id


async def start_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> str:
    instance_id: str = await client.start_new("sweep_orchestrator")
    return instance_id
