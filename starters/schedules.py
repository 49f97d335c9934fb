"""Timer starters: a regional window starts one run per occurrence; a sweep every hour."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from haymaker.run_request import RequestError, RunRequest
from haymaker.service import services
from starters.responses import ApiError
from starters.runs import launch_run

log = logging.getLogger(__name__)


def window_run_id(region: str, moment: datetime) -> str:
    """One id per region and scheduled occurrence: a repeated firing finds its run."""
    return f"run-{region.replace('_', '-')}-{moment.astimezone(UTC):%Y%m%d-%H%M}"


def fired_occurrence(timer: func.TimerRequest) -> datetime:
    """The occurrence this firing is for, as the Functions host says it.

    The host hands over the schedule status as it stood before the firing: `Next` is the
    occurrence being fired (after a restart that missed it, the missed one, with
    `past_due`), while `Last` is the previous firing, year 1 on the very first. Without a
    status (a schedule the host does not monitor), the current minute stands in.
    """
    status = getattr(timer, "schedule_status", None) or {}
    text = status.get("Next")
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            log.warning("Unreadable timer schedule status Next=%r: using the current minute", text)
        else:
            if moment.year > 1:
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC).replace(second=0, microsecond=0)


async def start_window_run(
    region: str, timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> str:
    run_id = window_run_id(region, fired_occurrence(timer))
    request = RunRequest.scheduled(services().settings, region, run_id)
    try:
        launch = await launch_run(client, request)
    except RequestError as error:
        # Over budget (HAYMAKER_MAX_RUN_COST_USD): this window starts nothing.
        log.warning("Skipping the %s window's run %s: %s", region, run_id, error.message)
        return run_id
    except ApiError as error:
        if error.status != 409:
            raise
        # The occurrence's run exists, started under other settings (changed between two
        # firings of one occurrence): that run stands, nothing more starts.
        log.warning("The %s window's run %s: %s", region, run_id, error.message)
        return run_id
    if launch.created:
        log.info("Started the %s window's run %s (past due: %s)", region, run_id, timer.past_due)
    else:
        log.info("The %s window's run %s exists already: not starting another", region, run_id)
    return run_id


async def start_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> str:
    instance_id: str = await client.start_new("sweep_orchestrator")
    return instance_id
