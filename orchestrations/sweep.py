"""The orphan sweep: remove what HayMaker left of runs that are no longer running."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrations.retries import CLOUD_CALL


def sweep_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    dry_run = bool((context.get_input() or {}).get("dry_run"))
    found = yield context.call_activity_with_retry("find_orphans", CLOUD_CALL, {})
    if dry_run:
        return {
            "found": len(found["orphans"]),
            "removed": 0,
            "failed": [],
            "dry_run": True,
            "orphans": found["orphans"],
        }
    if not found["orphans"]:
        return {"found": 0, "removed": 0, "failed": []}
    removal = yield context.call_activity_with_retry(
        "remove_orphans", CLOUD_CALL, {"orphans": found["orphans"]}
    )
    return {
        "found": len(found["orphans"]),
        "removed": len(removal["removed"]),
        "failed": removal["failed"],
    }
