"""`GET /api/metrics?since=P7D`: fleet figures over a window, from the run records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func

from haymaker.durations import parse_duration
from haymaker.metrics import compute_metrics
from haymaker.service import services
from starters.backends import blocking_call
from starters.responses import ApiError, json_response

DEFAULT_WINDOW = "P7D"
LONGEST_WINDOW = timedelta(days=366)
# The figures read every run of the window: more than one storage call's few seconds.
METRICS_DEADLINE_SECONDS = 30.0


def window(text: str) -> timedelta:
    try:
        since = parse_duration(text, "since")
    except ValueError as error:
        raise ApiError(400, "invalid_field", str(error), "since") from None
    if not timedelta(0) < since <= LONGEST_WINDOW:
        raise ApiError(400, "out_of_range", "since must be between PT1S and P366D", "since")
    return since


async def get_metrics(req: func.HttpRequest) -> func.HttpResponse:
    since = window(req.params.get("since") or DEFAULT_WINDOW)
    svc = services()
    until = datetime.now(UTC)
    figures = await blocking_call(
        compute_metrics,
        svc.records,
        svc.catalog,
        until - since,
        until,
        deadline=METRICS_DEADLINE_SECONDS,
    )
    return json_response(figures)
