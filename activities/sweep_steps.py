"""The orphan sweep: find what runs that are no longer active left behind, remove it."""

from __future__ import annotations

from typing import Any

from activities.waits import waits_as_results
from haymaker.service import services

ACTIVE = ("pending", "running")


@waits_as_results
def find_orphans(payload: dict[str, Any]) -> dict[str, Any]:
    svc = services()
    active: set[str] = set()
    for status in ACTIVE:
        token = None
        while True:
            runs, token = svc.records.list_runs(status=status, limit=200, continuation=token)
            active.update(str(run["run_id"]) for run in runs)
            if not token:
                break
    return {"orphans": list(svc.provider.list_orphans(active)), "active_runs": len(active)}


@waits_as_results
def remove_orphans(payload: dict[str, Any]) -> dict[str, Any]:
    removal = services().provider.delete_orphans(payload["orphans"])
    return {
        "removed": removal["removed"],
        "failed": removal["failed"] + removal.get("blocked", []),
    }
