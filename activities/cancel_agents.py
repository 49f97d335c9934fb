"""Tell running agent orchestrations to stop monitoring and tear down now."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

log = logging.getLogger(__name__)


async def cancel_agents(
    payload: dict[str, Any], client: df.DurableOrchestrationClient
) -> dict[str, Any]:
    """Raise `cancel` on each instance; finished ones are skipped.

    Returns how many were told and the ids of those that do not exist yet: a cancel can
    come while the run's orchestration is still creating them, and the run tells those
    again after a short wait.
    """
    told = 0
    missing: list[str] = []
    for instance_id in payload["instance_ids"]:
        try:
            await client.raise_event(instance_id, "cancel", payload.get("reason", "canceled"))
            told += 1
        except Exception as error:  # the SDK raises plain Exception for 404 and 410
            status = await client.get_status(instance_id)
            if status.runtime_status is None:
                missing.append(instance_id)
                log.info("Cancel for %s waits: its orchestration does not exist yet", instance_id)
            else:
                log.info("Not cancelling %s: %s", instance_id, error)
    return {"told": told, "missing": missing}
