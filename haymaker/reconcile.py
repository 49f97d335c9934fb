"""What a run's resource rows say once teardown has verified: removed, or left.

Rows are written as things happen (an agent's `resource_created` event, a removal by
teardown), and some removals are never seen: the agent deleted a resource itself and its
event came too late, or the host died after teardown deleted something and before it
wrote the row (the retried step then finds nothing to delete). Verification is the truth:
a row still `created` becomes `left` when verification found the resource (or the
agent's resource group, which holds it) still there, and `removed` when it did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

GONE = "not found when teardown verified the agent's resources"
STILL_THERE = "still there when teardown verified the agent's resources"
IN_LEFT_GROUP = "its agent's resource group was left"


def _found(row: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """Whether a verification item is the row's resource. Providers name things their own
    way: the local provider as the rows do, Azure by full resource id (`.../sites/<name>`)."""
    name, found = str(row.get("name", "")).lower(), str(item.get("name", "")).lower()
    return found == name or found.endswith("/" + name)


def reconciled(
    rows: Iterable[Mapping[str, Any]], left: list[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], str, str]]:
    """(row, action, reason) for each row still `created`, given what verification left."""
    group_left = any(str(item.get("kind", "")).lower().endswith("resourcegroups") for item in left)
    decisions = []
    for row in rows:
        if row.get("action") != "created":
            continue
        if any(_found(row, item) for item in left):
            decisions.append((row, "left", STILL_THERE))
        elif group_left:
            decisions.append((row, "left", IN_LEFT_GROUP))
        else:
            decisions.append((row, "removed", GONE))
    return decisions
