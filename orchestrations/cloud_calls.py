"""Cloud calls from orchestrations: retried on failure, and patient when asked to wait.

An activity that the cloud turned away for a while (throttling with a long Retry-After, a
new principal not visible yet) returns `{"retry_later": {"seconds", "reason"}}` instead
of sleeping. `call_cloud` waits on a durable timer, at least as long as asked and longer
each time, and calls again, until its patience runs out; then it raises, and the caller's
usual failure path (teardown for an agent) takes over. The timers cost a host nothing
while they wait, and in replay they are plain history.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from haymaker.providers.base import RETRY_LATER
from orchestrations.retries import CLOUD_CALL

# How long a step may keep being turned away before it counts as failed.
DEFAULT_PATIENCE = timedelta(minutes=30)
# A new service principal usually shows up within minutes; past this, roll back.
PRINCIPAL_PATIENCE = timedelta(minutes=10)
FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 300


class CloudStepGaveUp(RuntimeError):
    """A cloud step was still turned away when its patience ran out."""


def call_cloud(
    context: df.DurableOrchestrationContext,
    name: str,
    payload: dict[str, Any],
    patience: timedelta = DEFAULT_PATIENCE,
) -> Generator[Any, Any, Any]:
    """`yield from` this: the activity's result, after any waits it asked for."""
    give_up_at = context.current_utc_datetime + patience
    waits = 0
    while True:
        result = yield context.call_activity_with_retry(name, CLOUD_CALL, payload)
        later = result.get(RETRY_LATER) if isinstance(result, dict) else None
        if later is None:
            return result
        backoff = min(FIRST_WAIT_SECONDS * 2**waits, MAX_WAIT_SECONDS)
        wait = timedelta(seconds=max(float(later["seconds"]), backoff))
        now = context.current_utc_datetime
        if now + wait > give_up_at:
            raise CloudStepGaveUp(
                f"{name} still turned away after {waits} wait(s) over {patience}: {later['reason']}"
            )
        yield context.create_timer(now + wait)
        waits += 1
