"""The orphan sweep: remove what HayMaker left of runs that are no longer running."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from orchestrations.cloud_calls import call_cloud


def sweep_orchestrator(
    context: df.DurableOrchestrationContext,
) -> Generator[Any, Any, dict[str, Any]]:
    dry_run = bool((context.get_input() or {}).get("dry_run"))
    found = yield from call_cloud(context, "find_orphans", {})
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
    removal = yield from call_cloud(context, "remove_orphans", {"orphans": found["orphans"]})
    return {
        "found": len(found["orphans"]),
        "removed": len(removal["removed"]),
        "failed": removal["failed"],
    }
