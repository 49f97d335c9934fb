"""Tell running agent orchestrations to stop monitoring and tear down now."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

log = logging.getLogger(__name__)


async def cancel_agents(payload: dict[str, Any], client: df.DurableOrchestrationClient) -> int:
    """Raise `cancel` on each instance; finished or missing ones are skipped."""
    told = 0
    for instance_id in payload["instance_ids"]:
        try:
            await client.raise_event(instance_id, "cancel", payload.get("reason", "canceled"))
            told += 1
        except Exception as error:  # the SDK raises plain Exception for 404/410
            log.info("Not cancelling %s: %s", instance_id, error)
    return told
